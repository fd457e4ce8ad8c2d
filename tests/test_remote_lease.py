"""The optional cross-machine lease: two clones ("machines") against one bare remote over
file://, holder + expiry + fencing token + a first-come-first-served line of waiters."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import commit_file, git

from gitfleet.git import discover
from gitfleet.remote_lease import LEASE_PREFIX, LeaseLost, RemoteLease


@pytest.fixture
def machines(tmp_path: Path, repo: Path, remote: Path) -> tuple[Path, Path, Path]:
    git(repo, "push", "-q", str(remote), "main")
    a, b = tmp_path / "a", tmp_path / "b"
    for path in (a, b):
        git(tmp_path, "clone", "-q", remote.as_uri(), str(path))
    return remote, a, b


def _lease(clone: Path, ttl: float = 600.0) -> RemoteLease:
    return RemoteLease(discover(clone), "origin", "landing", ttl=ttl)


def test_a_released_lease_goes_to_the_first_waiter_not_the_next_asker(
    machines: tuple[Path, Path, Path],
) -> None:
    remote, a, b = machines
    held = _lease(a).try_acquire("a")
    assert held is not None and held.token == 1
    assert _lease(b).try_acquire("b") is None  # taken: B joins the line
    assert [w[0] for w in _lease(a).read().waiters] == ["b"]
    _lease(a).release(held)
    # A asks again first, but B has been waiting: A queues behind B instead of starving it.
    assert _lease(a).try_acquire("a") is None
    got = _lease(b).try_acquire("b")
    assert got is not None and got.token == 2
    state = _lease(a).read()
    assert (state.holder, [w[0] for w in state.waiters]) == ("b", ["a"])
    assert git(remote, "rev-parse", "--verify", LEASE_PREFIX + "landing").returncode == 0


def test_an_expired_holder_is_fenced_out(machines: tuple[Path, Path, Path]) -> None:
    remote, a, b = machines
    stale = _lease(a, ttl=0.0).try_acquire("a")  # expires at once: a holder that stalled
    assert stale is not None
    taken = _lease(b).try_acquire("b")
    assert taken is not None and taken.token == stale.token + 1
    # The stalled holder wakes up and tries to land: refused as a whole, target untouched.
    before = git(remote, "rev-parse", "main").stdout
    new = commit_file(a, "late.txt", "late\n")
    with pytest.raises(LeaseLost):
        _lease(a).fenced_push(
            stale, [f"{new}:refs/heads/main"], [f"refs/heads/main:{before.strip()}"]
        )
    assert git(remote, "rev-parse", "main").stdout == before
    with pytest.raises(LeaseLost):
        _lease(a).renew(stale)
    # The real holder lands through the same fence, and the lease is renewed with it.
    git(b, "pull", "-q", "--ff-only")
    mine = commit_file(b, "landed.txt", "landed\n")
    renewed = _lease(b).fenced_push(
        taken, [f"{mine}:refs/heads/main"], [f"refs/heads/main:{before.strip()}"]
    )
    assert git(remote, "rev-parse", "main").stdout.strip() == mine
    assert renewed.token == taken.token and renewed.expires >= taken.expires
    _lease(b).release(renewed)
    assert _lease(a).read().holder is None


def test_acquire_times_out_naming_the_holder(machines: tuple[Path, Path, Path]) -> None:
    _remote, a, b = machines
    assert _lease(a).try_acquire("machine-a") is not None
    with pytest.raises(Exception, match="held by machine-a"):
        _lease(b).acquire("machine-b", timeout=0)
