"""Landing from several machines: two clones with their own common dirs (and so their own
queue daemons) land racing branches onto one bare remote, over file:// and over a real
``git daemon`` on 127.0.0.1. Their queues cannot see each other; only the compare-and-swap
push keeps them honest, and the loser re-fetches, re-rebases, re-checks and retries.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import git
from landing_fixtures import (
    branch_with,
    checked_trees,
    clone,
    git_daemon,
    make_remote,
    remote_history,
    remote_tip,
    scratch_leftovers,
    tree_of,
)

MACHINES = ("A", "B")


@pytest.fixture(params=["file", "git-daemon"])
def served(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Path, str]]:
    """(bare remote path, the URL both machines use for it)."""
    base = tmp_path / "served"
    base.mkdir()
    remote = make_remote(base / "origin.git")
    if request.param == "file":
        yield remote, f"file://{remote}"
    else:
        with git_daemon(base, tmp_path / "git-daemon.log") as url:
            yield remote, f"{url}/origin.git"


def barrier_check(tmp_path: Path, machine: str) -> str:
    """Record the checked tree; the first check of each machine waits for the other's,
    so both first landings rebase onto the same tip and race for the same push."""
    log = tmp_path / f"checked-{machine}.log"
    me, others = tmp_path / f"ready-{machine}", [tmp_path / f"ready-{m}" for m in MACHINES]
    wait = " || ".join(f'[ ! -e "{p}" ]' for p in others)
    return (
        f'git rev-parse "HEAD^{{tree}}" >> "{log}" && touch "{me}" && n=0 && '
        f"while {wait}; do n=$((n+1)); [ $n -gt 2400 ] && exit 9; sleep 0.05; done; exit 0"
    )


def test_two_machines_race_and_all_land(served: tuple[Path, str], tmp_path: Path) -> None:
    remote, url = served
    branches: dict[str, list[str]] = {}
    for machine in MACHINES:
        work = clone(url, tmp_path / f"machine-{machine}")
        assert git(work, "rev-parse", "--git-common-dir").stdout.strip() == ".git"
        names = [f"{machine.lower()}{i}" for i in range(1, 4)]
        for name in names:
            branch_with(work, name, {f"{name}.txt": f"{name}\n"})
        branches[machine] = names

    script = str(Path(sys.executable).parent / "gitfleet")
    procs = {
        m: subprocess.Popen(
            [script, "land", *branches[m], "--json", "--check", barrier_check(tmp_path, m)],
            cwd=tmp_path / f"machine-{m}",
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for m in MACHINES
    }
    outputs = {}
    try:
        for machine, proc in procs.items():
            out, err = proc.communicate(timeout=600)
            outputs[machine] = (proc.returncode, out, err)
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                proc.kill()
                proc.wait()

    results = []
    for machine, (code, out, err) in outputs.items():
        assert code == 0, f"machine {machine}: {out}\n{err}"
        results += json.loads(out)
    assert sorted(r["branch"] for r in results) == sorted(branches["A"] + branches["B"])
    assert {r["status"] for r in results} == {"landed"}

    # none lost: every landing's commit is on main, every file is there, history is linear
    main = remote_tip(remote)
    for r in results:
        assert git(remote, "merge-base", "--is-ancestor", r["new_tip"], main).returncode == 0
    files = set(git(remote, "ls-tree", "--name-only", main).stdout.split())
    assert {f"{b}.txt" for b in branches["A"] + branches["B"]} <= files
    assert git(remote, "rev-list", "--merges", main).stdout == ""
    assert git(remote, "rev-list", "--count", main).stdout.strip() == "7"

    # the race happened (the barrier forced it) and was retried and reported
    assert sum(r["retries"] for r in results) >= 1
    retried = [r for r in results if r["retries"]]
    assert all(len(r["events"]) == r["retries"] for r in retried)
    assert all("another landing won" in e for r in retried for e in r["events"])
    assert any("another landing won" in err for _, _, err in outputs.values())

    # bors' rule across machines: main only ever moved to a tree some check passed
    checked = set().union(*(checked_trees(tmp_path / f"checked-{m}.log") for m in MACHINES))
    moves = remote_history(remote)[1:]  # after the seed push
    assert len(moves) == 6
    assert {tree_of(remote, v) for v in moves} <= checked
    for machine in MACHINES:
        assert scratch_leftovers(tmp_path / f"machine-{machine}") == []
