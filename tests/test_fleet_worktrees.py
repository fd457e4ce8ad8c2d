"""Worktrees: serialised registration across processes, bootstrap, ports, removal."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import git

from gitfleet.config import Config
from gitfleet.errors import GitfleetError
from gitfleet.fleet import worktrees
from gitfleet.git.repo import discover

REGISTER = """
import sys, time
from pathlib import Path
from gitfleet.fleet import worktrees
from gitfleet.git.repo import discover
repo = discover(sys.argv[1])
go = Path(sys.argv[2]).parent.parent / "go"
while not go.exists():  # a barrier: every process registers at the same moment
    time.sleep(0.005)
worktrees.register(repo, Path(sys.argv[2]), sys.argv[3], "HEAD")
worktrees.checkout(Path(sys.argv[2]))
"""


def test_parallel_creation_from_many_processes_is_serialised(repo: Path, tmp_path: Path) -> None:
    # Eight processes create worktrees at the same moment; unserialised, `git worktree add`
    # races on the shared admin files and some fail ("failed to read .git/worktrees/x/
    # commondir", or config.lock: claude-code#47266).
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", REGISTER, str(repo), str(tmp_path / "wt" / f"a{i}"),
             f"fleet/a{i}"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        for i in range(8)
    ]  # fmt: skip
    time.sleep(1.0)  # let them all reach the barrier
    (tmp_path / "go").touch()
    for proc in procs:
        _out, err = proc.communicate(timeout=240)
        assert proc.returncode == 0, err
    listing = git(repo, "worktree", "list", "--porcelain").stdout
    for i in range(8):
        assert f"worktree {tmp_path / 'wt' / f'a{i}'}" in listing
        assert (tmp_path / "wt" / f"a{i}" / "README.md").read_text() == "hello\n"
        assert worktrees.dirty(tmp_path / "wt" / f"a{i}") == []


def test_branch_does_not_track_the_target(repo: Path, tmp_path: Path) -> None:
    r = discover(repo)
    worktrees.register(r, tmp_path / "w", "fleet/x", "main")
    assert git(repo, "config", "--get", "branch.fleet/x.merge", check=False).returncode != 0


def test_default_root_is_outside_the_checkout(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GITFLEET_WORKTREES", raising=False)
    r = discover(repo)
    assert worktrees.worktree_root(r, Config(path=None)) == repo.parent / "repo.gitfleet"
    assert (
        worktrees.worktree_root(r, Config(path=None, worktree_root="../trees")) == repo / "../trees"
    )
    monkeypatch.setenv("GITFLEET_WORKTREES", "/somewhere")
    assert worktrees.worktree_root(r, Config(path=None)) == Path("/somewhere")


def test_root_is_the_main_checkout_from_a_linked_worktree(repo: Path, tmp_path: Path) -> None:
    git(repo, "worktree", "add", "-q", str(tmp_path / "linked"))
    assert worktrees.main_checkout(discover(tmp_path / "linked")) == repo


def test_copy_untracked_and_setup(repo: Path, tmp_path: Path) -> None:
    (repo / ".env").write_text("SECRET=1\n")
    (repo / "conf").mkdir()
    (repo / "conf" / "local.json").write_text("{}")
    dest = tmp_path / "dest"
    dest.mkdir()
    copied = worktrees.copy_untracked(repo, dest, [".env", "conf/*.json", "missing.txt"])
    assert copied == [".env", "conf/local.json"]
    assert (dest / ".env").read_text() == "SECRET=1\n"
    log = tmp_path / "setup.log"
    env = {**os.environ, "GITFLEET_ID": "SP-9"}
    worktrees.run_setup('echo "setup for $GITFLEET_ID" > made.txt', dest, env, log)
    assert (dest / "made.txt").read_text() == "setup for SP-9\n"
    with pytest.raises(GitfleetError, match="setup command 'exit 7' failed"):
        worktrees.run_setup("exit 7", dest, env, log)


def test_dirty_and_remove(repo: Path, tmp_path: Path) -> None:
    r = discover(repo)
    path = tmp_path / "w"
    worktrees.register(r, path, "fleet/w", "HEAD")
    worktrees.checkout(path)
    (path / "new.txt").write_text("x")
    assert worktrees.dirty(path) == ["?? new.txt"]
    with pytest.raises(GitfleetError):
        worktrees.remove(r, path, force=False)
    worktrees.remove(r, path, force=True)
    assert not path.exists()
    # A worktree folder deleted by hand is pruned, not an error.
    worktrees.register(r, tmp_path / "gone", "fleet/gone", "HEAD")
    import shutil

    shutil.rmtree(tmp_path / "gone")
    worktrees.remove(r, tmp_path / "gone", force=False)
    assert str(tmp_path / "gone") not in git(repo, "worktree", "list").stdout


def test_ports_are_free_distinct_and_skip_taken(repo: Path, tmp_path: Path) -> None:
    import socket

    r = discover(repo)
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", worktrees.PORT_FIRST))
        busy.listen()
        recorded: list[int] = []
        ports = worktrees.reserve_ports(r, 3, lambda: {worktrees.PORT_FIRST + 1}, recorded.extend)
    assert ports == recorded
    assert len(set(ports)) == 3
    assert worktrees.PORT_FIRST not in ports and worktrees.PORT_FIRST + 1 not in ports
    json.dumps(ports)
