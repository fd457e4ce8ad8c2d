"""Correcting the remote-tracking ref after a rebased landing (gitfleet.gate.trackfix), on
a real repository with real ``git update-ref`` and real ref locks."""

from __future__ import annotations

import threading
from pathlib import Path

from conftest import commit_file, git

from gitfleet.gate import trackfix
from gitfleet.git.repo import discover

REF = "refs/remotes/origin/main"


def _two_commits(repo: Path) -> tuple[str, str]:
    pushed = commit_file(repo, "mine.txt", "mine\n")  # what git believes it pushed
    git(repo, "checkout", "-q", "--detach", "HEAD~1")
    landed = commit_file(repo, "rebased.txt", "rebased\n")  # what really landed
    git(repo, "update-ref", REF, pushed)
    return pushed, landed


def test_moves_the_ref_from_what_git_wrote_to_what_landed(repo: Path) -> None:
    pushed, landed = _two_commits(repo)
    assert trackfix.fix(discover(repo), REF, pushed, landed)
    assert git(repo, "rev-parse", REF).stdout.strip() == landed


def test_waits_out_a_busy_lock_instead_of_leaving_the_unrebased_commit(repo: Path) -> None:
    """Racing pushes from linked worktrees take this ref's lock too. git's update-ref gives
    up after core.filesRefLockTimeout (100 ms); a fix that gave up once left origin/main at
    an unrebased commit. Held for longer than that, the lock must not win."""
    pushed, landed = _two_commits(repo)
    lock = Path(git(repo, "rev-parse", "--git-path", f"{REF}.lock").stdout.strip())
    if not lock.is_absolute():
        lock = repo / lock
    lock.parent.mkdir(parents=True, exist_ok=True)
    lock.write_text("")  # another process holds the ref
    single = git(repo, "update-ref", REF, landed, pushed, check=False)
    assert single.returncode != 0, "one plain attempt fails while the lock is held"
    release = threading.Timer(0.4, lock.unlink)
    release.start()
    try:
        assert trackfix.fix(discover(repo), REF, pushed, landed)
    finally:
        release.join()
    assert git(repo, "rev-parse", REF).stdout.strip() == landed


def test_leaves_a_ref_someone_else_wrote(repo: Path) -> None:
    pushed, landed = _two_commits(repo)
    fetched = git(repo, "rev-parse", "HEAD~1").stdout.strip()
    git(repo, "update-ref", REF, fetched)  # a fetch (or a later push) got there first
    assert not trackfix.fix(discover(repo), REF, pushed, landed)
    assert git(repo, "rev-parse", REF).stdout.strip() == fetched
