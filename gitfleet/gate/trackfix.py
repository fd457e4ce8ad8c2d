"""Correct a remote-tracking ref after a rebased landing, before ``git push`` exits.

When the helper lands a push by rebasing it, git still believes it pushed the agent's own
commit, and sets ``refs/remotes/<remote>/<branch>`` to that commit: a blind write (no
expected old value), after the helper answered the push but *before* it tells the helper
to finish (transport.c updates tracking refs in ``transport_push``; the helper's stdin
gets its final blank line and EOF only in ``transport_disconnect``, afterwards). So the
helper reads stdin to its end and then moves the ref from what git wrote to what really
landed, while ``git push`` waits for it to exit: no process is left behind, and when the
push exits its tracking ref is already right.

The move is a compare-and-swap: a fetch (or another push) that wrote the ref meanwhile
wins. Linked worktrees share ``refs/remotes``, so racing pushes take the same ref's lock;
git's ``update-ref`` gives up after ``core.filesRefLockTimeout`` (100 ms) on a busy
machine, and a fix that gave up left an unrebased commit as ``origin/main``. So a failed
swap is retried for as long as the ref still holds what git wrote.
"""

from __future__ import annotations

import time

from gitfleet.git.repo import Repo

TRIES = 50  # a lock held that long is not a racing push's: leave the ref to the next fetch
PAUSE = 0.02


def fix(repo: Repo, ref: str, git_wrote: str, landed: str) -> bool:
    """Move ``ref`` from ``git_wrote`` to ``landed``; False when it holds something else."""
    for attempt in range(TRIES):
        proc = repo.git(
            "update-ref", "-m", "gitfleet: what the push really landed", ref, landed, git_wrote,
            check=False,
        )  # fmt: skip
        if proc.returncode == 0:
            return True
        if _value(repo, ref) != git_wrote:
            return False  # someone else wrote it (a fetch, another push): theirs is newer
        time.sleep(PAUSE * (1 + attempt % 5))  # the lock was busy: try again
    return False


def _value(repo: Repo, ref: str) -> str:
    proc = repo.git("rev-parse", "-q", "--verify", ref, check=False)
    return proc.stdout.strip()
