"""Run the landing check on exactly one commit, in a throwaway linked worktree.

The tree that is checked must be the tree that is pushed, and no agent's worktree may be
disturbed, so every check gets its own detached worktree under the state dir. It is
removed afterwards whatever happens: a failing check, an exception, Ctrl-C.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from gitfleet.git import no_git_env, run
from gitfleet.git.repo import Repo

OUTPUT_LIMIT = 20_000  # characters of check output kept in a result (the tail: errors end it)


@dataclass(frozen=True)
class CheckRun:
    command: str
    returncode: int
    output: str  # stdout and stderr interleaved, the last OUTPUT_LIMIT characters

    @property
    def passed(self) -> bool:
        return self.returncode == 0


@contextlib.contextmanager
def scratch_worktree(repo: Repo, commit: str) -> Iterator[Path]:
    """A detached worktree of ``commit`` under ``state_dir/scratch``, removed on exit."""
    base = repo.state_dir / "scratch"
    base.mkdir(parents=True, exist_ok=True)
    path = base / f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
    env = no_git_env()
    try:
        run(["worktree", "add", "-q", "--detach", str(path), commit], repo.toplevel, env=env)
        yield path
    finally:
        _remove(repo, path, env)


def _remove(repo: Repo, path: Path, env: dict[str, str]) -> None:
    # `worktree remove --force` also drops the admin folder in the common dir; if it fails
    # (half-created worktree, files the check made read-only...) delete and prune instead.
    proc = run(["worktree", "remove", "--force", str(path)], repo.toplevel, env=env, check=False)
    if proc.returncode != 0 or path.exists():
        shutil.rmtree(path, ignore_errors=True)
        run(["worktree", "prune"], repo.toplevel, env=env, check=False)


def run_check(command: str, cwd: Path, extra_env: dict[str, str] | None = None) -> CheckRun:
    """Run the user's configured check command in ``cwd``.

    ``shell=True`` on purpose and only here: the command is the user's own, from
    ``[land] check`` in gitfleet.toml or ``gitfleet land --check``, written as a shell
    line (``make test && ruff check .``). Task text or agent output never reaches it.
    The check runs in its own session so that Ctrl-C or an error here kills its whole
    process tree, not just the shell.
    """
    env = {**no_git_env(), **(extra_env or {})}
    # Output goes to a file, not a pipe: a server the check leaves running in the
    # background would hold a pipe open and hang us; it is killed with the session below.
    with tempfile.TemporaryFile() as sink:
        proc = subprocess.Popen(
            command,
            shell=True,
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            proc.wait()
        finally:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        sink.seek(0)
        text = _tail(sink.read())
    return CheckRun(command, proc.returncode, text)


def _tail(raw: bytes) -> str:
    text = raw.decode("utf-8", errors="replace")
    if len(text) > OUTPUT_LIMIT:
        text = "[... earlier output cut ...]\n" + text[-OUTPUT_LIMIT:]
    return text


def check_commit(
    repo: Repo, commit: str, command: str, extra_env: dict[str, str] | None = None
) -> CheckRun:
    """Check out ``commit`` in a scratch worktree, run ``command`` there, clean up."""
    with scratch_worktree(repo, commit) as path:
        return run_check(command, path, extra_env)
