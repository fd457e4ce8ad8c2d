"""Run agent processes side by side: a concurrency limit, a timeout each, logs to files.

Every agent starts in a new session, so it leads its own process group: a timeout or a
Ctrl-C signals the whole group (the agent and whatever it started: test servers, shells,
sub-agents), first SIGTERM, then SIGKILL after a grace period. When an agent exits, what it
left running in its group is killed too; nothing outlives its agent.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

GRACE = 5.0  # seconds between SIGTERM and SIGKILL
POLL = 0.05


@dataclass
class Job:
    name: str
    argv: Sequence[str]
    cwd: Path
    env: Mapping[str, str]
    log: Path
    timeout: float | None = None


@dataclass
class Event:
    """``started`` (pid), ``exited`` (code), ``timed-out`` (code), ``killed`` (code or None),
    ``not-started`` (error)."""

    kind: str
    name: str
    pid: int | None = None
    code: int | None = None
    error: str | None = None


@dataclass
class _Running:
    job: Job
    proc: subprocess.Popen[bytes]
    deadline: float | None
    stop_reason: str | None = None  # "timed-out" or "killed" once we signalled it
    kill_at: float | None = None
    extra: dict[str, float] = field(default_factory=dict)


def signal_group(pid: int, sig: int) -> None:
    """Signal a process group; a group already gone is not an error."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)


class Supervisor:
    """Starts jobs up to ``max_parallel`` at a time and reports each change to ``on_event``."""

    def __init__(
        self,
        jobs: Sequence[Job],
        max_parallel: int,
        on_event: Callable[[Event], None],
        grace: float = GRACE,
    ) -> None:
        self.pending = deque(jobs)
        self.max_parallel = max(1, max_parallel)
        self.on_event = on_event
        self.grace = grace
        self.running: dict[str, _Running] = {}

    def run(self, idle: Callable[[], None] | None = None) -> None:
        """Block until every job has ended. On KeyboardInterrupt stop them all, then re-raise."""
        try:
            while self.pending or self.running:
                while self.pending and len(self.running) < self.max_parallel:
                    self._start(self.pending.popleft())
                self._poll()
                if idle is not None:
                    idle()
                if self.running:
                    time.sleep(POLL)
        except BaseException:
            self.stop_all()
            raise

    def _start(self, job: Job) -> None:
        try:
            log = open(job.log, "ab")  # noqa: SIM115 - closed when the job ends
        except OSError as exc:
            self.on_event(Event("not-started", job.name, error=f"cannot open log {job.log}: {exc}"))
            return
        try:
            proc = subprocess.Popen(
                list(job.argv),
                cwd=job.cwd,
                env=dict(job.env),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        except OSError as exc:
            log.close()
            where = f"in {job.cwd}" if "/" in job.argv[0] else "on PATH"
            what = (
                f"command {job.argv[0]!r} not found {where}"
                if isinstance(exc, FileNotFoundError)
                else str(exc)
            )
            self.on_event(Event("not-started", job.name, error=what))
            return
        log.close()  # the child has its own copy of the descriptor
        deadline = time.monotonic() + job.timeout if job.timeout else None
        self.running[job.name] = _Running(job, proc, deadline)
        self.on_event(Event("started", job.name, pid=proc.pid))

    def _poll(self) -> None:
        now = time.monotonic()
        for name, item in list(self.running.items()):
            code = item.proc.poll()
            if code is not None:
                # The leader is gone; end whatever it left behind in its group.
                signal_group(item.proc.pid, signal.SIGKILL)
                del self.running[name]
                kind = item.stop_reason or "exited"
                self.on_event(Event(kind, name, pid=item.proc.pid, code=code))
                continue
            if item.stop_reason is None and item.deadline is not None and now >= item.deadline:
                self._terminate(item, "timed-out", now)
            elif item.kill_at is not None and now >= item.kill_at:
                signal_group(item.proc.pid, signal.SIGKILL)
                item.kill_at = None

    def _terminate(self, item: _Running, reason: str, now: float) -> None:
        item.stop_reason = reason
        item.kill_at = now + self.grace
        signal_group(item.proc.pid, signal.SIGTERM)

    def stop_all(self) -> None:
        """Stop every running job (SIGTERM, then SIGKILL after the grace) and wait for them."""
        now = time.monotonic()
        for item in self.running.values():
            if item.stop_reason is None:
                self._terminate(item, "killed", now)
        end = now + self.grace
        while self.running and time.monotonic() < end:
            self._poll_stopping()
            time.sleep(POLL)
        for item in self.running.values():
            signal_group(item.proc.pid, signal.SIGKILL)
        while self.running:
            self._poll_stopping()
            time.sleep(POLL)
        for job in self.pending:
            self.on_event(Event("not-started", job.name, error="interrupted before it started"))
        self.pending.clear()

    def _poll_stopping(self) -> None:
        for name, item in list(self.running.items()):
            code = item.proc.poll()
            if code is not None:
                signal_group(item.proc.pid, signal.SIGKILL)
                del self.running[name]
                self.on_event(
                    Event(item.stop_reason or "killed", name, pid=item.proc.pid, code=code)
                )
