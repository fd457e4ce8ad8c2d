"""The queue daemon as a real process on a real socket: on demand, one per repository,
stop/status, idle exit, restart after SIGKILL, the peer-uid check, the socket path."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import stat
import threading
import time
from pathlib import Path

import pytest
from conftest import gitfleet
from gate_fixtures import hold_lease, wait_for

from gitfleet.errors import GitfleetError
from gitfleet.git.repo import discover
from gitfleet.queue import client, daemon, files
from gitfleet.queue.protocol import VERSION, LineSocket


@pytest.fixture
def repo_(repo: Path):  # type: ignore[no-untyped-def]
    yield repo
    client.stop_daemon(discover(repo))


def _pid(repo: Path) -> int:
    return int(files.daemon_files(discover(repo).state_dir).pidfile.read_text())


def test_start_twice_is_a_no_op_and_stop_stops(repo_: Path) -> None:
    first = json.loads(gitfleet(repo_, "daemon", "start", "--json").stdout)
    second = json.loads(gitfleet(repo_, "daemon", "start", "--json").stdout)
    assert first["pid"] == second["pid"] == _pid(repo_)
    status = json.loads(gitfleet(repo_, "daemon", "status", "--json").stdout)
    assert status["running"] and status["pid"] == first["pid"]
    assert "stopped queue daemon" in gitfleet(repo_, "daemon", "stop").stdout
    assert json.loads(gitfleet(repo_, "daemon", "status", "--json").stdout) == {"running": False}


def test_concurrent_starts_make_one_daemon(repo_: Path) -> None:
    r = discover(repo_)
    pids: list[int] = []
    threads = [
        threading.Thread(target=lambda: pids.append(client.ensure_daemon(r)["pid"]))
        for _ in range(5)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(pids)) == 1


def test_linked_worktrees_share_one_daemon(repo_: Path, tmp_path: Path) -> None:
    from conftest import git

    git(repo_, "worktree", "add", "-q", "-b", "other", str(tmp_path / "wt"))
    a = client.ensure_daemon(discover(repo_))
    b = client.ensure_daemon(discover(tmp_path / "wt"))
    assert a["pid"] == b["pid"]


def test_idle_daemon_exits(repo_: Path) -> None:
    (repo_ / "gitfleet.toml").write_text("[daemon]\nidle_exit = 0.5\n")
    pid = client.ensure_daemon(discover(repo_))["pid"]
    wait_for(lambda: not _running(pid), what="the idle daemon to exit")
    assert client.status(discover(repo_)) is None


def test_daemon_killed_while_holding_and_waiting(repo_: Path) -> None:
    """SIGKILL the daemon: the grant survives (persisted, holder alive), and the waiting
    client starts a new daemon and queues again, granted once the holder goes."""
    from conftest import git

    git(repo_, "remote", "add", "origin", str(repo_.parent / "nowhere.git"))
    r = discover(repo_)
    holder = hold_lease(repo_, "refs/heads/main")
    got: list[client.Grant] = []
    waiter = threading.Thread(
        target=lambda: got.append(client.acquire(r, str(repo_.parent / "nowhere.git"), ["main"]))
    )
    waiter.start()
    wait_for(lambda: _waiting(r) == 1, what="the waiter to queue")
    old = _pid(repo_)
    os.kill(old, signal.SIGKILL)
    wait_for(lambda: _running_daemon(r, old), what="a new daemon")
    snap = client.snapshot(r)
    held = [q for q in snap["queues"] if q["holder"]]
    assert held and held[0]["holder"]["pids"] == [holder.pid], "the grant survived"
    assert not got
    holder.kill()
    holder.wait()
    waiter.join(timeout=120)
    assert got and got[0].token > held[0]["holder"]["token"]
    client.release(r, got[0])


def test_another_users_process_is_refused(tmp_path: Path) -> None:
    assert daemon.peer_allowed(os.getuid(), os.getuid())
    assert not daemon.peer_allowed(os.getuid() + 1, os.getuid())
    assert not daemon.peer_allowed(None, os.getuid())
    # A daemon that belongs to another uid: our connection is refused with the reason.
    state = tmp_path / "state"
    state.mkdir()
    d = daemon.Daemon(files.daemon_files(state), idle=30, allowed_uid=os.getuid() + 1)
    d.bind()
    server = threading.Thread(target=d.serve_forever, daemon=True)
    server.start()
    try:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.connect(str(d.files.socket))
        line = LineSocket(sock)
        line.send({"op": "hello"})
        answer = line.recv()
        assert answer is not None and not answer["ok"]
        assert f"uid {os.getuid()} may not use this queue" in answer["error"]
        with contextlib.suppress(ConnectionResetError):  # closed with our request unread
            assert line.recv() is None, "and the connection is closed"
        line.close()
        mode = stat.S_IMODE(os.stat(d.files.socket).st_mode)
        assert mode & 0o077 == 0, "the socket itself is private"
    finally:
        d.stop()
        server.join(timeout=10)


def test_long_paths_fall_back_to_a_private_folder(tmp_path: Path) -> None:
    deep = tmp_path / ("d" * 60) / ("e" * 60)
    where = files.socket_path(deep)
    assert len(os.fsencode(where)) < files.SUN_PATH_MAX
    folder = where.parent
    assert stat.S_IMODE(os.stat(folder).st_mode) == 0o700
    assert files.socket_path(deep) == where, "every client computes the same path"
    folder.chmod(0o755)
    with pytest.raises(GitfleetError, match="not a private folder"):
        files.socket_path(deep)
    folder.chmod(0o700)


def test_daemon_serves_over_the_fallback_socket(repo_: Path, tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    deep = tmp_path / ("s" * 70) / ("t" * 70)
    monkeypatch.setenv("GITFLEET_STATE_DIR", str(deep))
    r = discover(repo_)
    with client.lease(r, "/srv/x", ["main"]) as grant:
        assert grant.token >= 1
    st = client.status(r)
    assert st is not None and not st["socket"].startswith(str(deep))
    client.stop_daemon(r)


def test_version_mismatch_is_named(repo_: Path) -> None:
    r = discover(repo_)
    client.ensure_daemon(r)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.connect(str(files.daemon_files(r.state_dir).socket))
    sock.sendall(b'{"v": 99, "op": "hello"}\n')
    answer = json.loads(sock.makefile().readline())
    sock.close()
    assert answer["v"] == VERSION and not answer["ok"] and "version 99" in answer["error"]


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie (our own unreaped child) has exited too
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0] != "Z"
    except OSError:
        return False


def _running_daemon(r, old: int) -> bool:  # type: ignore[no-untyped-def]
    st = client.status(r)
    return st is not None and st["pid"] != old


def _waiting(r) -> int:  # type: ignore[no-untyped-def]
    return sum(len(q["waiting"]) for q in client.snapshot(r)["queues"])


del time
