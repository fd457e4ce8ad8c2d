"""The push gate end to end: real worktrees, real `git push`, the real helper and daemon.

Nine agents push at the same moment with a plain ``git push origin HEAD:main``: with the
gate every push lands and exits 0; without it, the story's evening (one lands).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
from pathlib import Path

import pytest
from conftest import commit_file, git, gitfleet
from gate_fixtures import (
    Fleet,
    hold_lease,
    install_prepush,
    make_fleet,
    race,
    route,
    stop_daemon,
    wait_for,
)

from gitfleet.git.repo import discover
from gitfleet.queue import client
from gitfleet.queue.files import daemon_files

PUSH = ["git", "push", "origin", "HEAD:main"]


@pytest.fixture
def gated(tmp_path: Path) -> object:
    """Factory: a fleet of N agents with routing and the pre-push hook installed."""
    made: list[Fleet] = []

    def make(agents: int, config: str = "") -> Fleet:
        fleet = make_fleet(tmp_path, agents, config=config)
        route(fleet.root)
        install_prepush(fleet.root)
        made.append(fleet)
        return fleet

    yield make
    for fleet in made:
        stop_daemon(fleet.root)


def _assert_all_landed(fleet: Fleet, outcomes: list) -> None:  # type: ignore[type-arg]
    for i, out in enumerate(outcomes):
        assert out.returncode == 0, f"agent {i}: {out.stderr}"
    files = fleet.remote_files()
    assert [f"agent-{i}.txt" for i in range(len(fleet.trees))] == sorted(
        f for f in files if f.startswith("agent-")
    )
    # one new commit per agent on a straight line: no merges, nothing lost
    assert len(fleet.remote_log()) == 1 + len(fleet.trees)
    merges = git(fleet.remote, "rev-list", "--merges", "main").stdout.split()
    assert merges == []


def test_nine_racing_pushes_all_land(gated, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    fleet = gated(9)
    outcomes = race(fleet.trees, PUSH, tmp_path / "go")
    _assert_all_landed(fleet, outcomes)
    rebased = [o for o in outcomes if "rebased 1 commit onto" in o.stderr]
    assert len(rebased) >= 1, "later pushes were landed by rebasing onto the fresh tip"
    # after the push ended, origin/main was corrected to what really landed
    tracking = lambda: git(fleet.root, "rev-parse", "origin/main").stdout.strip()  # noqa: E731
    wait_for(lambda: tracking() == fleet.tip(), what="origin/main to follow the real tip")
    # `gitfleet queue` reports every push's outcome, from the daemon's records
    shown = json.loads(gitfleet(fleet.root, "queue", "--json").stdout)
    main = next(q for q in shown["queues"] if q["ref"] == "refs/heads/main")
    statuses = sorted(r["status"] for r in main["recent"])
    assert len(statuses) == 9 and set(statuses) <= {"pushed", "landed"} and "landed" in statuses
    assert main["holder"] is None and main["waiting"] == []


def test_tracking_ref_never_left_at_an_unrebased_commit(gated, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Racing pushes from linked worktrees share ``refs/remotes/origin/main``: git writes
    each push's own (unrebased) commit there, blindly, and the helper corrects it. Once
    every push has exited, it must name what landed or an ancestor of it, never a commit
    the remote does not have (once, a correction lost the ref's lock and left one)."""
    fleet = gated(8)
    for round_ in range(2):  # the second round pushes on top of unrebased first commits
        if round_:
            for i, tree in enumerate(fleet.trees):
                commit_file(tree, f"more-{i}.txt", f"more work of agent {i}\n")
        outcomes = race(fleet.trees, PUSH, tmp_path / f"go-{round_}")
        for i, out in enumerate(outcomes):
            assert out.returncode == 0, f"agent {i}: {out.stderr}"
        tip = fleet.tip()
        landed = set(fleet.remote_log())
        # No waiting: the correction happens before each `git push` exits.
        for tree in [fleet.root, *fleet.trees]:
            seen = git(tree, "rev-parse", "origin/main").stdout.strip()
            assert seen in landed, f"origin/main in {tree.name} is {seen}, never on the remote"
            on_line = git(fleet.remote, "merge-base", "--is-ancestor", seen, tip, check=False)
            assert on_line.returncode == 0, f"{seen} is not an ancestor of the tip {tip}"
    assert len(fleet.remote_log()) == 1 + 2 * len(fleet.trees)


def _hook_that_waits(fleet: Fleet, tmp_path: Path) -> tuple[Path, Path]:
    """Chain a pre-push hook after gitfleet's that holds agent-0's push until told."""
    inside, go_on = tmp_path / "in-hook", tmp_path / "go-on"
    hooks = Path(git(fleet.root, "rev-parse", "--git-common-dir").stdout.strip())
    hooks = (fleet.root / hooks if not hooks.is_absolute() else hooks) / "hooks"
    chained = hooks / "pre-push.gitfleet-orig"
    chained.write_text(
        "#!/bin/sh\ncat >/dev/null\n"
        f'case "$PWD" in */agent-0) touch "{inside}"; '
        f'while [ ! -e "{go_on}" ]; do sleep 0.02; done;; esac\n'
    )
    chained.chmod(0o755)
    return inside, go_on


class _HeldInHook:
    """agent-0's `git push`, held inside its pre-push hook for the block's duration.

    On leaving, the hook is let go and the push finishes; ``err`` is its stderr.
    """

    def __init__(self, fleet: Fleet, tmp_path: Path) -> None:
        self.inside, self.go_on = _hook_that_waits(fleet, tmp_path)
        self.cwd = fleet.trees[0]
        self.err = ""
        self.returncode: int | None = None

    def __enter__(self) -> _HeldInHook:
        self.proc = subprocess.Popen(
            PUSH, cwd=self.cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        try:
            wait_for(self.inside.exists, what="agent-0's push to reach its pre-push hook")
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.go_on.write_text("")
        _, self.err = self.proc.communicate(timeout=120)
        self.returncode = self.proc.returncode


def test_target_push_frees_the_lease_while_its_hook_runs(gated, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """A push to the target that will be landed whatever it finds lets go of the lease
    while git runs its pre-push hook: another push lands meanwhile, and the first one,
    re-reading the remote under the lease again, lands on top of it."""
    fleet = gated(2)
    with _HeldInHook(fleet, tmp_path) as a:
        main = [q for q in client.snapshot(discover(fleet.root))["queues"] if q["holder"]]
        assert main == [], "no lease is held while the hook runs"
        git(fleet.trees[1], *PUSH[1:])  # lands now, not after agent-0
        assert fleet.remote_files().count("agent-1.txt") == 1
        assert "agent-0.txt" not in fleet.remote_files()
    assert a.returncode == 0, a.err
    assert "rebased 1 commit" in a.err
    _assert_all_landed(fleet, [])


def test_a_push_outside_the_queue_while_the_hook_runs_is_landed_on(gated, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """The lease's previous holder left word of the tip it listed; a push that bypassed the
    queue moved main meanwhile. The compare-and-swap catches the stale word: the push is
    fetched, rebased and landed again, never refused."""
    fleet = gated(2)
    with _HeldInHook(fleet, tmp_path) as a:
        git(fleet.trees[1], "push", "--no-verify", str(fleet.remote), "HEAD:main")
    assert a.returncode == 0, a.err
    assert f"onto {fleet.remote_log()[1][:10]}" in a.err, "rebased onto the bypassing push"
    _assert_all_landed(fleet, [])


def test_other_pushes_keep_the_lease_through_the_hook(gated, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """With rebasing off a moved remote would mean a refusal, so the lease is held from
    the listing to the push: the other push waits for it."""
    fleet = gated(2, config='[fleet]\ntarget = "main"\n\n[push]\nrebase = false\n')
    with _HeldInHook(fleet, tmp_path) as a:
        main = [q for q in client.snapshot(discover(fleet.root))["queues"] if q["holder"]]
        assert len(main) == 1 and main[0]["ref"] == "refs/heads/main"
    assert a.returncode == 0, a.err


def test_without_gitfleet_one_lands(tmp_path: Path) -> None:
    fleet = make_fleet(tmp_path, 9)
    outcomes = race(fleet.trees, PUSH, tmp_path / "go")
    landed = [o for o in outcomes if o.returncode == 0]
    assert len(landed) == 1, [o.stderr for o in outcomes]
    assert len(fleet.remote_log()) == 2
    assert any("rejected" in o.stderr or "cannot lock ref" in o.stderr for o in outcomes)


def test_daemon_killed_mid_race_all_still_land(gated, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    fleet = gated(9)
    repo = discover(fleet.root)
    # A test lease on main holds the race back, so the daemon dies with pushes queued.
    holder = hold_lease(fleet.root, "refs/heads/main")
    pidfile = daemon_files(repo.state_dir).pidfile

    def kill_daemon() -> None:
        wait_for(lambda: _waiting(repo) >= 3, what="pushes queued behind the test lease")
        os.kill(int(pidfile.read_text()), signal.SIGKILL)
        holder.kill()  # and the lease holder, so the survivors can go
        holder.wait()

    outcomes = race(fleet.trees, PUSH, tmp_path / "go", while_running=kill_daemon)
    _assert_all_landed(fleet, outcomes)


def test_lease_holder_killed_next_push_proceeds(gated, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    fleet = gated(1)
    repo = discover(fleet.root)
    holder = hold_lease(fleet.root, "refs/heads/main")
    push = subprocess.Popen(
        PUSH, cwd=fleet.trees[0], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    wait_for(lambda: _waiting(repo) == 1, what="the push to queue behind the holder")
    assert push.poll() is None
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    _, err = push.communicate(timeout=120)
    assert push.returncode == 0, err
    assert "agent-0.txt" in fleet.remote_files()


def test_stuck_holder_loses_the_lease_after_the_timeout(gated) -> None:  # type: ignore[no-untyped-def]
    fleet = gated(1, config='[fleet]\ntarget = "main"\n\n[daemon]\nlease_timeout = 1\n')
    repo = discover(fleet.root)
    holder = hold_lease(fleet.root, "refs/heads/main")  # alive, never releases
    try:
        git(fleet.trees[0], "push", "origin", "HEAD:main")
        assert "agent-0.txt" in fleet.remote_files()
        recent = client.snapshot(repo)["queues"]
        assert holder.poll() is None and recent, "the holder still runs; its lease expired"
    finally:
        holder.kill()
        holder.wait()


def test_pushes_to_two_branches_do_not_wait_for_each_other(gated) -> None:  # type: ignore[no-untyped-def]
    fleet = gated(2)
    repo = discover(fleet.root)
    holder = hold_lease(fleet.root, "refs/heads/main")
    try:
        # main's lease is held (as if a push to main were in progress) ...
        other = git(fleet.trees[1], "push", "origin", "HEAD:refs/heads/feature")
        assert other.returncode == 0  # ... and the push to feature went through at once
        assert "agent-1.txt" in fleet.remote_files("feature")
        snap = client.snapshot(repo)
        main = next(q for q in snap["queues"] if q["ref"] == "refs/heads/main")
        assert main["holder"] is not None and main["waiting"] == []
    finally:
        holder.kill()
        holder.wait()


def test_conflicting_push_refused_naming_the_file(gated) -> None:  # type: ignore[no-untyped-def]
    fleet = gated(2)
    commit_file(fleet.trees[0], "shared.txt", "one\nTWO by agent 0\nthree\n")
    commit_file(fleet.trees[1], "shared.txt", "one\nTWO by agent 1\nthree\n")
    git(fleet.trees[0], "push", "origin", "HEAD:main")
    before_remote = fleet.tip()
    before_local = git(fleet.trees[1], "rev-parse", "HEAD").stdout.strip()
    proc = git(fleet.trees[1], "push", "origin", "HEAD:main", check=False)
    assert proc.returncode != 0
    assert "shared.txt" in proc.stderr and "conflict" in proc.stderr
    assert fleet.tip() == before_remote, "nothing was pushed"
    assert git(fleet.trees[1], "rev-parse", "HEAD").stdout.strip() == before_local
    assert git(fleet.trees[1], "status", "--porcelain").stdout == ""


def test_rebase_off_gives_gits_usual_refusal(gated) -> None:  # type: ignore[no-untyped-def]
    fleet = gated(2, config='[fleet]\ntarget = "main"\n\n[push]\nrebase = false\n')
    git(fleet.trees[0], "push", "origin", "HEAD:main")
    proc = git(fleet.trees[1], "push", "origin", "HEAD:main", check=False)
    assert proc.returncode != 0
    assert "rejected" in proc.stderr and "cannot lock ref" not in proc.stderr
    assert len(fleet.remote_log()) == 2
    # a fast-forward is never refused, whatever git last fetched
    git(fleet.trees[1], "pull", "-q", "--rebase", "origin", "main")
    assert git(fleet.trees[1], "push", "origin", "HEAD:main").returncode == 0


def _waiting(repo) -> int:  # type: ignore[no-untyped-def]
    snap = client.snapshot(repo)
    return sum(len(q["waiting"]) for q in snap["queues"])
