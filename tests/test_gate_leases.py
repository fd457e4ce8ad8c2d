"""The lease table's rules, process identities, remote keys and push prediction, directly."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import git

from gitfleet.gate import pushargs
from gitfleet.queue import procs
from gitfleet.queue.client import normalize_remote
from gitfleet.queue.leases import Table
from gitfleet.queue.procs import Proc

R = "/srv/remote"
MAIN = (R, "refs/heads/main")
FEAT = (R, "refs/heads/feature")


class World:
    """Processes that live until killed, and a clock that moves when told."""

    def __init__(self) -> None:
        self.dead: set[Proc] = set()
        self.now = 1000.0

    def alive(self, proc: Proc) -> bool:
        return proc not in self.dead

    def table(self) -> Table:
        return Table(alive=self.alive, clock=lambda: self.now)


def P(n: int) -> Proc:
    return Proc(n, n * 10)


def req(table: Table, keys, holder: Proc, lineage=None, push=None, timeout=600.0):  # type: ignore[no-untyped-def]
    return table.request(keys, holder, lineage or [holder], push, timeout, f"p{holder.pid}")


def test_fifo_per_ref_and_tokens_increase() -> None:
    t = World().table()
    a, _ = req(t, [MAIN], P(1))
    b, _ = req(t, [MAIN], P(2))
    c, _ = req(t, [MAIN], P(3))
    assert (a.state, b.state, c.state) == ("granted", "waiting", "waiting")
    assert t.ahead_of(c) == 2
    assert t.release(a.token or 0, P(1))
    assert (b.state, c.state) == ("granted", "waiting")
    t.release(b.token or 0, P(2))
    assert c.state == "granted"
    assert (a.token or 0) < (b.token or 0) < (c.token or 0)


def test_tips_pass_from_one_holder_to_the_next_and_are_forgotten_on_doubt() -> None:
    """What a holder saw on the remote as it let go is the next holder's hint; a lease
    that ends without saying (released bare, holder dead, timed out) forgets it."""
    w = World()
    t = w.table()
    a, _ = req(t, [MAIN], P(1))
    b, _ = req(t, [MAIN], P(2))
    t.release(a.token or 0, P(1), {"refs/heads/main": "abc"})
    assert b.state == "granted" and t.tips_for(b) == {"refs/heads/main": "abc"}
    c, _ = req(t, [MAIN], P(3))
    t.release(b.token or 0, P(2))  # said nothing: it may have pushed
    assert c.state == "granted" and t.tips_for(c) == {}
    d, _ = req(t, [MAIN, FEAT], P(4))
    t.release(c.token or 0, P(3), {"refs/heads/main": "def", "refs/heads/other": "x"})
    assert t.tips_for(d) == {"refs/heads/main": "def"}
    e, _ = req(t, [MAIN], P(5))
    w.dead.add(P(4))
    t.reap()
    assert e.state == "granted" and t.tips_for(e) == {}, "a dead holder may have pushed"


def test_different_refs_do_not_wait() -> None:
    t = World().table()
    a, _ = req(t, [MAIN], P(1))
    b, _ = req(t, [FEAT], P(2))
    assert a.state == b.state == "granted"


def test_several_refs_taken_in_sorted_order_never_deadlock() -> None:
    t = World().table()
    x, _ = req(t, [MAIN, FEAT], P(1))
    y, _ = req(t, [FEAT, MAIN], P(2))  # the opposite spelling of the same set
    z, _ = req(t, [MAIN], P(3))
    assert x.state == "granted" and y.state == "waiting"
    assert x.keys == y.keys == tuple(sorted([MAIN, FEAT]))
    t.release(x.token or 0, P(1))
    assert y.state == "granted" and z.state == "waiting"
    t.release(y.token or 0, P(2))
    assert z.state == "granted"


def test_lease_ends_when_its_holder_dies_and_dead_waiters_are_dropped() -> None:
    w = World()
    t = w.table()
    a, _ = req(t, [MAIN], P(1))
    b, _ = req(t, [MAIN], P(2))
    c, _ = req(t, [MAIN], P(3))
    w.dead |= {P(1), P(2)}
    ended = t.reap()
    assert {lease.seq for lease in ended} == {a.seq, b.seq}
    assert c.state == "granted"


def test_a_reused_pid_is_not_the_holder() -> None:
    w = World()
    t = w.table()
    a, _ = req(t, [MAIN], Proc(42, 100))
    w.dead.add(Proc(42, 100))  # the holder exited; pid 42 now names another process
    req(t, [MAIN], Proc(42, 999))
    t.reap()
    assert a.state == "ended"


def test_lease_times_out() -> None:
    w = World()
    t = w.table()
    a, _ = req(t, [MAIN], P(1), timeout=5)
    b, _ = req(t, [MAIN], P(2))
    w.now += 4
    t.reap()
    assert a.state == "granted"
    w.now += 2
    t.reap()
    assert a.state == "ended" and "timed out" in a.ended_why and b.state == "granted"


def test_reentrant_for_the_same_push() -> None:
    """The helper holds main for its git push; the hook of that push joins, others queue."""
    t = World().table()
    push, helper, hook, stranger = P(10), P(11), P(12), P(13)
    a, joined = req(t, [MAIN], helper, [helper, P(99), push], push)
    assert not joined
    b, joined = req(t, [MAIN], hook, [hook, P(98), push], None)
    assert joined and b is a
    c, joined = req(t, [MAIN], stranger)
    assert not joined and c.state == "waiting"
    t.release(a.token or 0, hook)  # the hook is done: the helper still holds it
    assert a.state == "granted"
    t.release(a.token or 0, helper)
    assert c.state == "granted"


def test_same_process_joins_counted() -> None:
    t = World().table()
    a, _ = req(t, [MAIN], P(1))
    b, joined = req(t, [MAIN], P(1))
    assert joined and b is a
    assert not t.release(a.token or 0, P(1))  # one of two grants released
    assert t.release(a.token or 0, P(1))


def test_persisted_grants_survive_a_new_table() -> None:
    w = World()
    t = w.table()
    a, _ = req(t, [MAIN], P(1))
    req(t, [FEAT], P(2))
    t.record(MAIN, {"status": "pushed"})
    w.dead.add(P(2))  # died while no daemon watched
    fresh = w.table()
    fresh.load(t.to_json())
    assert fresh.owner[MAIN].token == a.token and FEAT not in fresh.owner
    assert fresh.results[MAIN][0]["status"] == "pushed"
    c, _ = req(fresh, [FEAT], P(3))
    assert (c.token or 0) > (a.token or 0) + 1, "tokens never go back"
    # the holder, whose grant the dead daemon never delivered, queues again: it joins,
    # and its one release ends the lease
    again, joined = req(fresh, [MAIN], P(1))
    assert joined and again.token == a.token
    assert fresh.release(a.token or 0, P(1))


def test_process_identity_sees_start_time() -> None:
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        me = procs.identify(child.pid)
        assert me is not None and procs.alive(me)
        assert not procs.alive(Proc(child.pid, me.start + 1)), "same pid, other process"
    finally:
        child.kill()
        child.wait()
    assert not procs.alive(me)
    chain = procs.lineage()
    assert chain[0].pid == os.getpid() and chain[1].pid == os.getppid()


@pytest.mark.parametrize(
    ("url", "key"),
    [
        ("git@github.com:org/repo.git", "ssh://git@github.com/org/repo"),
        ("ssh://git@GitHub.com/org/repo", "ssh://git@github.com/org/repo"),
        ("gitfleet::https://example.com/org/repo.git/", "https://example.com/org/repo"),
    ],
)
def test_normalize_remote(url: str, key: str) -> None:
    assert normalize_remote(url) == key


def test_normalize_local_paths(tmp_path: Path) -> None:
    bare = tmp_path / "remote.git"
    bare.mkdir()
    keys = {
        normalize_remote(str(bare)),
        normalize_remote(f"{bare}/"),
        normalize_remote(f"file://{bare}"),
        normalize_remote(f"gitfleet::{bare}"),
    }
    assert len(keys) == 1


def test_predict_refs_from_push_arguments(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(repo)
    git(repo, "tag", "v1")
    p = pushargs.predict(["origin", "HEAD:main"], "origin")
    assert p.refs == {"refs/heads/main": "HEAD"} and not p.forced
    p = pushargs.predict(["-q", "-o", "ci.skip", "origin", "+HEAD:refs/heads/x", "v1"], "origin")
    assert p.refs == {"refs/heads/x": "HEAD", "refs/tags/v1": "v1"} and p.forced
    assert pushargs.predict(["--force-with-lease", "origin", "main"], "origin").forced
    assert pushargs.predict(["--all", "origin"], "origin").broad
    p = pushargs.predict(["origin", "HEAD"], "origin")
    assert p.refs == {"refs/heads/main": "HEAD"}
    assert pushargs.predict([], "origin").refs == {"refs/heads/main": "refs/heads/main"}
