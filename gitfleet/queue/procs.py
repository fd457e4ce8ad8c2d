"""Which process is which: identities that survive pid reuse, and the ``git push`` we serve.

A lease belongs to a process. A pid alone is not an identity (pids are reused), so a
process is named by its pid *and* its start time (field 22 of ``/proc/<pid>/stat``, in
clock ticks since boot): a new process reusing the pid has a later start time.

One ``git push`` runs two of our programs: ``git-remote-gitfleet`` (child of a ``git
remote-gitfleet`` wrapper, child of the ``git push``) and the pre-push hook (child of a
``sh`` shim, child of the ``git push``). Both find that ``git push`` by walking their
ancestors, and the daemon treats requests from its descendants as the same push
(reentrancy). Without /proc (not Linux) a process knows only itself: start time 0 and no
ancestors, so reentrancy is limited to the same process. Standard library only: the
pre-push hook imports this.
"""

from __future__ import annotations

import os
from typing import NamedTuple

_MAX_DEPTH = 32  # a process tree deeper than this is not one we will find a push in


class Proc(NamedTuple):
    pid: int
    start: int  # start time in clock ticks since boot; 0 when unknown

    def to_json(self) -> list[int]:
        return [self.pid, self.start]

    @staticmethod
    def from_json(data: object) -> Proc:
        if (
            not isinstance(data, list)
            or len(data) != 2
            or not all(isinstance(x, int) and not isinstance(x, bool) for x in data)
        ):
            raise ValueError(f"not a process identity: {data!r}")
        return Proc(data[0], data[1])


def _stat(pid: int) -> tuple[int, int] | None:
    """(parent pid, start time) of ``pid`` from /proc, or None when unreadable/gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            raw = handle.read()
    except OSError:
        return None
    # The command name (field 2) is in parentheses and may hold spaces or ')': split after
    # the last ')'. Then field 3 is the state, 4 the parent pid, 22 the start time.
    rest = raw[raw.rfind(b")") + 2 :].split()
    if rest[:1] in ([b"Z"], [b"X"]):
        return None  # a zombie has exited; only its parent has yet to notice
    try:
        return int(rest[1]), int(rest[19])
    except (IndexError, ValueError):
        return None


def identify(pid: int) -> Proc | None:
    """The identity of a live ``pid``, or None when it does not exist."""
    st = _stat(pid)
    if st is not None:
        return Proc(pid, st[1])
    if os.path.isdir("/proc/self"):
        return None  # /proc works, so the process is gone
    return Proc(pid, 0) if _exists(pid) else None


def _exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def alive(proc: Proc) -> bool:
    """Whether ``proc`` still runs (not merely its pid, reused by another process)."""
    st = _stat(proc.pid)
    if st is not None:
        return proc.start in (0, st[1])
    if os.path.isdir("/proc/self"):
        return False
    return _exists(proc.pid)


def lineage(pid: int | None = None) -> list[Proc]:
    """``pid`` (default: this process) and its ancestors, nearest first."""
    chain: list[Proc] = []
    current = os.getpid() if pid is None else pid
    for _ in range(_MAX_DEPTH):
        st = _stat(current)
        if st is None:
            if not chain:
                me = identify(current)
                chain = [me] if me else []
            break
        chain.append(Proc(current, st[1]))
        if st[0] <= 1:
            break
        current = st[0]
    return chain


def cmdline(pid: int) -> list[str]:
    """The argv of ``pid`` (empty when unreadable)."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            raw = handle.read()
    except OSError:
        return []
    return [a.decode("utf-8", "surrogateescape") for a in raw.split(b"\0")[:-1]]


# git's global options that take their value as the next argument (git.c handle_options).
_GIT_OPTS_WITH_VALUE = frozenset(
    {"-C", "-c", "--git-dir", "--work-tree", "--namespace", "--exec-path", "--config-env"}
)


def git_subcommand(argv: list[str]) -> tuple[str, list[str]] | None:
    """(subcommand, its arguments) when ``argv`` runs git, else None."""
    if not argv or os.path.basename(argv[0]) not in ("git", "git.exe"):
        return None
    i = 1
    while i < len(argv) and argv[i].startswith("-"):
        i += 2 if argv[i] in _GIT_OPTS_WITH_VALUE else 1
    return (argv[i], argv[i + 1 :]) if i < len(argv) else None


def find_push(chain: list[Proc] | None = None) -> tuple[Proc, list[str]] | None:
    """The nearest ancestor that is a ``git push``, with its arguments after ``push``."""
    for proc in lineage() if chain is None else chain:
        sub = git_subcommand(cmdline(proc.pid))
        if sub is not None and sub[0] == "push":
            return proc, sub[1]
    return None
