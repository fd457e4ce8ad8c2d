"""Fixtures for the push gate: a bare remote, a repository with N linked worktrees each one
commit ahead with its own file, routing through ``gitfleet::``, the pre-push shim, and a
race launcher that starts N real ``git push`` processes at the same moment.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from conftest import commit_file, git

from gitfleet import install
from gitfleet.git.repo import discover
from gitfleet.queue import client

# Waits for a go-file, then execs the rest of argv: N processes released together.
_LAUNCHER = (
    "import os, sys, time\n"
    "go = sys.argv[1]\n"
    "while not os.path.exists(go): time.sleep(0.002)\n"
    "os.execvp(sys.argv[2], sys.argv[2:])\n"
)


@dataclass
class Fleet:
    root: Path  # the main worktree
    remote: Path  # the bare remote
    trees: list[Path]  # linked worktrees, one per agent
    base: str  # the commit every agent started from

    def remote_log(self, ref: str = "main") -> list[str]:
        return git(self.remote, "rev-list", ref).stdout.split()

    def remote_files(self, ref: str = "main") -> list[str]:
        return git(self.remote, "ls-tree", "-r", "--name-only", ref).stdout.split()

    def tip(self, ref: str = "main") -> str:
        return git(self.remote, "rev-parse", ref).stdout.strip()


def make_fleet(tmp: Path, agents: int, *, config: str = "") -> Fleet:
    """A remote with main, its clone with ``gitfleet.toml``, ``agents`` linked worktrees,
    each on its own branch one commit ahead with its own file."""
    remote = tmp / "remote.git"
    git(tmp, "init", "-q", "--bare", "-b", "main", str(remote))
    git(remote, "config", "core.logAllRefUpdates", "always")
    root = tmp / "repo"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    (root / "shared.txt").write_text("one\ntwo\nthree\n")
    (root / "gitfleet.toml").write_text(config or '[fleet]\ntarget = "main"\n')
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "init")
    git(root, "remote", "add", "origin", str(remote))
    git(root, "push", "-q", "-u", "origin", "main")
    base = git(root, "rev-parse", "HEAD").stdout.strip()
    trees = []
    for i in range(agents):
        tree = tmp / f"agent-{i}"
        git(root, "worktree", "add", "-q", "-b", f"agent-{i}", str(tree), "main")
        commit_file(tree, f"agent-{i}.txt", f"work of agent {i}\n")
        trees.append(tree)
    return Fleet(root, remote, trees, base)


def route(repo: Path, remote: str = "origin") -> None:
    """What `gitfleet init` does for pushes: send them through git-remote-gitfleet."""
    url = git(repo, "config", "remote." + remote + ".url").stdout.strip()
    git(repo, "config", f"remote.{remote}.pushurl", f"gitfleet::{url}")


def install_prepush(repo: Path) -> None:
    """The pre-push shim in the common dir's hooks, as `gitfleet init` installs it."""
    folder = install.hooks_dir(discover(repo))
    folder.mkdir(parents=True, exist_ok=True)
    install.install_hook(folder, "pre-push")


@dataclass
class Outcome:
    returncode: int
    stdout: str
    stderr: str


def race(
    trees: list[Path],
    argv: list[str],
    go: Path,
    *,
    timeout: float = 240,
    while_running: Callable[[], None] | None = None,
) -> list[Outcome]:
    """Run ``argv`` in every tree, all released at the same moment; wait for all."""
    env = {**os.environ}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _LAUNCHER, str(go), *argv],
            cwd=tree,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for tree in trees
    ]
    time.sleep(0.2)  # every launcher is up and polling
    go.write_text("go\n")
    if while_running is not None:
        while_running()
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=timeout)
        results.append(Outcome(proc.returncode, out, err))
    return results


def stop_daemon(repo: Path) -> None:
    client.stop_daemon(discover(repo))


def wait_for(condition: Callable[[], bool], timeout: float = 60.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.02)
    raise AssertionError(f"timed out after {timeout:g}s waiting for {what or condition}")


def hold_lease(root: Path, ref: str, remote: str = "origin") -> subprocess.Popen[str]:
    """A separate process holding the lease on ``ref`` of ``remote`` until killed.

    Separate on purpose: a push started by the lease holder itself would share its lease.
    """
    code = (
        "import sys, time\n"
        "from gitfleet.git.repo import discover\n"
        "from gitfleet.queue import client\n"
        "repo = discover(sys.argv[1])\n"
        "url = repo.git_out('config', f'remote.{sys.argv[3]}.url')\n"
        "with client.lease(repo, url, [sys.argv[2]]):\n"
        "    print('held', flush=True)\n"
        "    time.sleep(600)\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code, str(root), ref, remote], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "held"
    return proc
