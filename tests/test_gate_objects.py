"""Object questions asked of the queue daemon (gitfleet.queue.objects): a real daemon
process, real repositories, answers compared with the in-process ones; an older daemon
that does not know the ops, and a lost daemon, make the client answer itself."""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import ROOT, commit_file, git

from gitfleet.git import rebase
from gitfleet.git.repo import discover
from gitfleet.land import landing
from gitfleet.queue import client
from gitfleet.queue.objects import Missing, Objects
from gitfleet.queue.protocol import LineSocket


def rev(repo: Path, name: str) -> str:
    return git(repo, "rev-parse", name).stdout.strip()


@pytest.fixture
def diverged(repo: Path) -> Iterator[Path]:
    """main gets main.txt; topic (from the first commit) gets topic.txt and a clash."""
    git(repo, "switch", "-q", "-c", "topic")
    commit_file(repo, "topic.txt", "topic\n")
    git(repo, "switch", "-q", "main")
    commit_file(repo, "main.txt", "main\n")
    yield repo
    client.stop_daemon(discover(repo))


def _started_like_the_hook(repo: Path) -> None:
    """Start the daemon from a ``python -S`` process, as the pre-push hook does: no
    site-packages on its path, yet the daemon it starts must be able to load pygit2."""
    code = (
        "import sys; sys.path.insert(0, sys.argv[1])\n"
        "from gitfleet.queue import client\n"
        "from gitfleet.git.repo import discover\n"
        "client.ensure_daemon(discover(sys.argv[2]))\n"
    )
    subprocess.run([sys.executable, "-S", "-c", code, str(ROOT), str(repo)], check=True)


def test_the_daemon_answers_as_this_process_would(diverged: Path) -> None:
    repo = diverged
    _started_like_the_hook(repo)
    r = discover(repo)
    with client.lease(r, "/srv/remote", ["main"]) as grant:
        assert grant.conn is not None
        # Asked raw: an answer from the daemon itself, not the client's local fallback.
        grant.conn.send({"op": "merge_base", "repo": str(repo), "one": "main", "two": "topic"})
        answer = grant.conn.recv()
        assert answer is not None and answer["ok"], answer
        assert answer["base"] == rev(repo, "main~1")
        remote = Objects(repo, grant.conn)
        ident = rebase.committer_ident(repo)
        asked = remote.rebase_range("main~1", "topic", "main", ident)
        assert grant.conn is not None, "the connection still serves the lease"
    local = rebase.rebase_range(repo, "main~1", "topic", "main", ident)
    assert isinstance(asked, rebase.Rebased) and asked == local, "same objects, same commit"
    assert git(repo, "rev-parse", f"{asked.new_tip}~1").stdout.strip() == rev(repo, "main")


def test_conflicts_and_missing_objects_come_back_as_such(diverged: Path) -> None:
    repo = diverged
    git(repo, "switch", "-q", "topic")
    commit_file(repo, "main.txt", "topic's own main\n")
    r = discover(repo)
    with client.lease(r, "/srv/remote", ["main"]) as grant:
        remote = Objects(repo, grant.conn)
        clash = remote.rebase_range("main~1", "topic", "main")
        assert isinstance(clash, rebase.Conflict) and clash.paths == ["main.txt"]
        with pytest.raises(Missing):
            remote.merge_base("0123456789" * 4, "main")
        assert remote.is_ancestor("main~1", "topic")
        assert not remote.is_ancestor("topic", "main")


def _old_daemon() -> tuple[LineSocket, threading.Thread]:
    """The client's end of a socket whose daemon knows no object ops (an older gitfleet)."""
    ours, theirs = socket.socketpair()
    peer = LineSocket(theirs)

    def serve() -> None:
        while (msg := peer.recv()) is not None:
            peer.send({"ok": False, "error": f"unknown op {msg.get('op')!r}"})
        peer.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    return LineSocket(ours), thread


def test_an_older_daemon_or_none_means_answering_here(diverged: Path) -> None:
    repo = diverged
    conn, server = _old_daemon()
    older = Objects(repo, conn)
    assert older.merge_base("main", "topic") == rev(repo, "main~1")
    assert older.conn is conn, "an older daemon still serves its leases"
    conn.close()
    server.join(timeout=30)
    gone = Objects(repo, conn)  # closed: as if the daemon died mid-push
    assert gone.merge_base("main", "topic") == rev(repo, "main~1")
    assert gone.conn is None
    assert isinstance(Objects(repo).rebase_range("main~1", "topic", "main"), rebase.Rebased)


def test_a_committer_learnt_earlier_gets_the_time_of_the_landing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    learnt = "Agent Seven <seven@fleet.example> 1000000000 +0530"
    fresh = landing.refresh_ident(learnt)
    name, _, rest = fresh.partition("> ")
    assert name == "Agent Seven <seven@fleet.example"
    stamp, zone = rest.split()
    assert int(stamp) > 1000000000 and zone == "+0530"
    monkeypatch.setenv("GIT_COMMITTER_DATE", "2001-09-09T01:46:40+0530")
    assert landing.refresh_ident(learnt) == learnt, "a date set on purpose is kept"
