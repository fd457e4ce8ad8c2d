"""Correct a remote-tracking ref after ``git push`` exits.

When the helper lands a push by rebasing it, git still believes it pushed the agent's own
commit, and after the helper exits it sets ``refs/remotes/<remote>/<branch>`` to that
commit. Git has no post-push hook, so the helper leaves this small process behind: it
waits for the ``git push`` to end, then moves the ref to what really landed, by
compare-and-swap (only if it still holds what git wrote: a fetch in between wins).

``python -m gitfleet.gate.trackfix WORKTREE REF GIT_WROTE LANDED PUSH_PID PUSH_START``
"""

from __future__ import annotations

import sys
import time

from gitfleet.gate import procs
from gitfleet.gate.procs import Proc
from gitfleet.git import no_git_env, run

WAIT = 120.0  # a push that outlives this after its helper exited is not one we can fix


def fix_after(worktree: str, ref: str, git_wrote: str, landed: str, push: Proc | None) -> bool:
    """Wait for ``push`` to exit, then move ``ref`` from ``git_wrote`` to ``landed``."""
    deadline = time.monotonic() + WAIT
    while push is not None and procs.alive(push) and time.monotonic() < deadline:
        time.sleep(0.02)
    if push is None:  # no /proc: wait (briefly) for git to write the ref instead
        deadline = time.monotonic() + 10.0
        while time.monotonic() < deadline and _value(worktree, ref) != git_wrote:
            time.sleep(0.05)
    proc = run(
        ["update-ref", "-m", "gitfleet: what the push really landed", ref, landed, git_wrote],
        worktree,
        env=no_git_env(),
        check=False,
    )
    return proc.returncode == 0


def _value(worktree: str, ref: str) -> str:
    proc = run(["rev-parse", "-q", "--verify", ref], worktree, env=no_git_env(), check=False)
    return proc.stdout.strip()


def spawn(worktree: str, ref: str, git_wrote: str, landed: str, push: Proc | None) -> None:
    """Leave a detached fixer behind (the helper exits before git writes the ref)."""
    import os
    import subprocess
    from pathlib import Path

    root = str(Path(__file__).resolve().parents[2])
    env = no_git_env()
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
    who = [str(push.pid), str(push.start)] if push else ["0", "0"]
    # -S: no site processing; everything it imports is gitfleet's (on PYTHONPATH) or the
    # standard library, and startup is part of every push's cost.
    argv = [sys.executable, "-S", "-m", "gitfleet.gate.trackfix", worktree, ref, git_wrote, landed]
    subprocess.Popen(
        [*argv, *who],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
        start_new_session=True,
    )


def main(argv: list[str]) -> int:
    worktree, ref, git_wrote, landed, pid, start = argv
    push = Proc(int(pid), int(start)) if int(pid) else None
    return 0 if fix_after(worktree, ref, git_wrote, landed, push) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
