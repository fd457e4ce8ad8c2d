"""A real ``git daemon`` on 127.0.0.1 serving bare repositories, push enabled.

Started on a free port, waited for until it accepts connections, stopped (with every
per-connection child: it runs in its own process group) when the test ends. ``--verbose``
logs one line per connection, which the benchmark counts as round trips.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class GitDaemon:
    """One ``git daemon`` process; ``url(name)`` is the git:// URL of ``<base>/<name>``."""

    def __init__(self, base: Path, log: Path, port: int | None = None) -> None:
        self.base = base
        self.log = log
        self.port = port or _free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    def url(self, name: str) -> str:
        return f"git://127.0.0.1:{self.port}/{name}"

    def start(self, timeout: float = 60.0) -> None:
        """Start and wait until the port accepts (a loaded machine may take seconds)."""
        argv = [
            "git",
            "daemon",
            "--reuseaddr",
            f"--base-path={self.base}",
            "--export-all",
            "--enable=receive-pack",
            "--informative-errors",
            "--verbose",
            "--listen=127.0.0.1",
            f"--port={self.port}",
            str(self.base),
        ]
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                argv, stdout=log, stderr=log, start_new_session=True, stdin=subprocess.DEVNULL
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"git daemon exited {self.proc.returncode}: {self.log.read_text()}"
                )
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"git daemon did not accept on port {self.port} within {timeout}s")

    def stop(self) -> None:
        """Kill the daemon and any connection it is serving; wait until the port refuses."""
        if self.proc is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()
        self.proc = None

    def connections(self) -> dict[str, int]:
        """How many upload-pack (fetch) and receive-pack (push) requests it served."""
        text = self.log.read_text(errors="replace")
        return {
            "fetch": text.count("Request upload-pack"),
            "push": text.count("Request receive-pack"),
        }


def start_daemon(base: Path, log: Path, attempts: int = 5) -> GitDaemon:
    """A started daemon; retries another port if a parallel test grabbed the free one."""
    for _ in range(attempts):
        daemon = GitDaemon(base, log)
        try:
            daemon.start()
            return daemon
        except RuntimeError:
            if attempts == 1:
                raise
    daemon = GitDaemon(base, log)
    daemon.start()
    return daemon


@contextlib.contextmanager
def serving(tmp_path: Path) -> Iterator[GitDaemon]:
    """A git daemon serving ``tmp_path/served`` (put bare repos there), stopped afterwards."""
    base = tmp_path / "served"
    base.mkdir(exist_ok=True)
    daemon = start_daemon(base, tmp_path / "git-daemon.log")
    try:
        yield daemon
    finally:
        daemon.stop()


@pytest.fixture
def git_daemon(tmp_path: Path) -> Iterator[GitDaemon]:
    """:func:`serving` as a fixture (import it into a test module to use it)."""
    with serving(tmp_path) as daemon:
        yield daemon
