"""``gitfleet land``: serial landing onto a real bare remote, checks in scratch worktrees."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from conftest import article, git, gitfleet
from landing_fixtures import (
    branch_with,
    checked_trees,
    clone,
    make_remote,
    push_change,
    recording_check,
    remote_history,
    remote_tip,
    scratch_leftovers,
    tree_of,
)

from gitfleet import config
from gitfleet.errors import UsageError
from gitfleet.git.repo import discover
from gitfleet.ids import verbs
from gitfleet.land import landing
from gitfleet.land.result import LandResult


@pytest.fixture
def origin(tmp_path: Path) -> Path:
    return make_remote(tmp_path / "origin.git")


@pytest.fixture
def work(tmp_path: Path, origin: Path) -> Path:
    """The clone gitfleet lands from."""
    return clone(str(origin), tmp_path / "work")


@pytest.fixture
def other(tmp_path: Path, origin: Path) -> Path:
    """Another clone that pushes to the remote behind our back."""
    return clone(str(origin), tmp_path / "other")


def land(work: Path, *branches: str, **kw: object) -> list[LandResult]:
    repo = discover(work)
    return landing.land(repo, config.load(repo.toplevel), branches, **kw)  # type: ignore[arg-type]


def refs(repo: Path) -> str:
    return git(repo, "for-each-ref", "--format=%(refname) %(objectname)", "refs/heads").stdout


def test_lands_several_branches_serially_only_checked_trees(
    work: Path, origin: Path, other: Path, tmp_path: Path
) -> None:
    push_change(other, "from-other.txt", "x\n")  # the target moved since work cloned
    tips = {
        b: branch_with(work, b, {f"{b}.txt": f"{b}\n", f"{b}-2.txt": "two\n"})
        for b in ("a1", "a2", "a3")
    }
    log = tmp_path / "checked.log"

    results = land(work, "a1", "a2", "a3", check=recording_check(log))

    assert [r.status for r in results] == ["landed"] * 3, [r.message for r in results]
    assert [r.branch for r in results] == ["a1", "a2", "a3"]
    # each landed on the one before it
    assert results[1].old_tip == results[0].new_tip
    assert results[2].old_tip == results[1].new_tip
    assert remote_tip(origin) == results[2].new_tip
    assert all(len(r.applied) == 2 for r in results)
    files = git(origin, "ls-tree", "--name-only", "main").stdout.split()
    assert {"a1.txt", "a2-2.txt", "a3.txt", "from-other.txt"} <= set(files)
    # linear history, no merges
    assert git(origin, "rev-list", "--merges", "main").stdout == ""
    # bors' rule: main only ever took values whose tree a check passed (after the seed pushes)
    landed_values = remote_history(origin)[2:]
    assert len(landed_values) == 3
    assert {tree_of(origin, v) for v in landed_values} <= checked_trees(log)
    # branches untouched, tracking ref followed, no scratch worktree left
    assert {b: git(work, "rev-parse", b).stdout.strip() for b in tips} == tips
    assert git(work, "rev-parse", "origin/main").stdout.strip() == remote_tip(origin)
    assert scratch_leftovers(work) == []


def test_conflict_refused_naming_the_file_remote_and_branch_unchanged(
    work: Path, origin: Path, other: Path
) -> None:
    branch_with(work, "clash", {"shared.txt": "one\nTWO from clash\nthree\n"})
    branch_with(work, "fine", {"fine.txt": "fine\n"})
    push_change(other, "shared.txt", "one\ntwo edited on main\nthree\n")
    before_remote, before_refs = remote_tip(origin), refs(work)

    clash, fine = land(work, "clash", "fine")

    assert clash.status == "conflict"
    assert clash.paths == ["shared.txt"]
    assert "shared.txt" in clash.message and "nothing was pushed" in clash.message
    assert clash.new_tip == clash.old_tip == before_remote
    assert refs(work) == before_refs  # the local branches did not move
    # the queue moved on: the next branch landed right after
    assert fine.status == "landed"
    assert git(origin, "rev-parse", "main~1").stdout.strip() == before_remote
    assert git(origin, "show", "main:shared.txt").stdout == "one\ntwo edited on main\nthree\n"
    assert scratch_leftovers(work) == []


def test_failing_check_lands_nothing_and_reports_output(
    work: Path, origin: Path, tmp_path: Path
) -> None:
    branch_with(work, "broken", {"BROKEN": "x\n", "ok.txt": "ok\n"})
    before = remote_tip(origin)
    log = tmp_path / "checked.log"

    (result,) = land(work, "broken", check=recording_check(log, fail_if="BROKEN"))

    assert result.status == "check-failed"
    assert "check found BROKEN: FAILING" in result.check_output
    assert "exit 7" in result.message
    assert remote_tip(origin) == before
    assert result.new_tip == before
    assert len(checked_trees(log)) == 1  # it did run, on the rebased tree
    assert scratch_leftovers(work) == []


def test_check_from_config_and_empty_check_disables_it(
    work: Path, origin: Path, tmp_path: Path
) -> None:
    marker = tmp_path / "ran"
    (work / "gitfleet.toml").write_text(f'[land]\ncheck = "touch {marker}; exit 3"\n')
    branch_with(work, "b", {"b.txt": "b\n"})
    (failed,) = land(work, "b")
    assert failed.status == "check-failed" and marker.exists()
    (landed,) = land(work, "b", check="")
    assert landed.status == "landed"
    assert remote_tip(origin) == landed.new_tip


def test_already_up_to_date(work: Path, origin: Path, other: Path) -> None:
    # a branch whose commits are all on main, and one whose patch was applied another way
    git(work, "branch", "old", "HEAD")
    git(other, "switch", "-q", "-c", "feature")
    (other / "feature.txt").write_text("f\n")
    git(other, "add", "feature.txt")
    git(other, "commit", "-q", "-m", "feature")
    feature = git(other, "rev-parse", "HEAD").stdout.strip()
    git(other, "switch", "-q", "main")
    (other / "first.txt").write_text("main moves first\n")
    git(other, "add", "first.txt")
    git(other, "commit", "-q", "-m", "main moves")
    git(other, "cherry-pick", feature)
    git(other, "push", "-q", "origin", "main")
    git(work, "fetch", "-q", str(other), "feature:feature")
    before = remote_tip(origin)

    old, picked = land(work, "old", "feature")

    assert old.status == "up-to-date" and old.ok
    assert picked.status == "up-to-date" and picked.skipped == [feature]
    assert remote_tip(origin) == before


def test_lost_race_is_retried_and_reported(
    work: Path, origin: Path, other: Path, tmp_path: Path
) -> None:
    """Another clone pushes between our fetch and our push (from inside our check)."""
    branch_with(work, "mine", {"mine.txt": "mine\n"})
    log = tmp_path / "checked.log"
    once = tmp_path / "raced"
    race = (
        f'if [ ! -e "{once}" ]; then touch "{once}" && cd "{other}" && '
        "echo theirs > theirs.txt && git add theirs.txt && git commit -qm theirs && "
        "git push -q origin main; fi"
    )
    events: list[str] = []

    (result,) = land(
        work, "mine", check=f"{recording_check(log)} && {race}", on_event=events.append
    )

    assert result.status == "landed", result.message
    assert result.retries == 1
    assert len(result.events) == 1 and "another landing won" in result.events[0]
    assert events == [f"mine: {result.events[0]}"]
    assert "after 1 retry" in result.message
    theirs = git(other, "rev-parse", "HEAD").stdout.strip()
    assert git(origin, "rev-parse", "main~1").stdout.strip() == theirs
    assert set(git(origin, "ls-tree", "--name-only", "main").stdout.split()) >= {
        "mine.txt",
        "theirs.txt",
    }
    # main moved to our landing only with the tree checked on the second attempt
    assert tree_of(origin, "main") in checked_trees(log)
    assert len(checked_trees(log)) == 2


def test_lost_race_gives_up_after_the_bound(work: Path, origin: Path, other: Path) -> None:
    branch_with(work, "mine", {"mine.txt": "mine\n"})
    count = work.parent / "count"
    race = (
        f'echo x >> "{count}"; cd "{other}" && echo $RANDOM$$ > theirs.txt && '
        "git add theirs.txt && git commit -qm theirs && git push -q origin main"
    )
    (result,) = land(work, "mine", check=race, max_retries=2)
    assert result.status == "lost-race" and not result.ok
    assert result.retries == 2 and len(result.events) == 2
    assert "after 2 retries" in result.message
    assert len(count.read_text().split()) == 3  # first try + two retries, each checked
    assert "mine.txt" not in git(origin, "ls-tree", "--name-only", "main").stdout


def test_onto_a_branch_the_remote_lacks_is_refused(work: Path, origin: Path) -> None:
    branch_with(work, "b", {"b.txt": "b\n"})
    with pytest.raises(UsageError, match="no branch relase"):
        land(work, "b", onto="relase")  # a typo must not create a branch
    assert not git(origin, "for-each-ref", "refs/heads/relase").stdout.strip()
    git(work, "push", "-q", "origin", "main:refs/heads/release")
    (result,) = land(work, "b", onto="release")
    assert result.status == "landed"
    assert remote_tip(origin, "refs/heads/release") == git(work, "rev-parse", "b").stdout.strip()


def test_unknown_branch_refused_before_anything_lands(work: Path, origin: Path) -> None:
    branch_with(work, "b", {"b.txt": "b\n"})
    before = remote_tip(origin)
    with pytest.raises(UsageError, match="nope"):
        land(work, "b", "nope")
    assert remote_tip(origin) == before


def test_landed_ids_become_landed_in_the_ledger(story_repo: Path, remote: Path) -> None:
    repo = discover(story_repo)
    cfg = config.load(story_repo)
    (ident,) = verbs.allocate(repo, cfg, "SP", 1, owner="agent-1")
    assert ident == "SP-152"
    git(story_repo, "switch", "-q", "-c", "agent-1")
    (story_repo / "articles" / "new-article.md").write_text(article(152))
    git(story_repo, "add", "-A")
    git(story_repo, "commit", "-q", "-m", "SP-152")
    git(story_repo, "switch", "-q", "main")

    (result,) = landing.land(repo, cfg, ["agent-1"])

    assert result.status == "landed", result.message
    assert result.landed_ids == ["SP-152"]
    assert "SP-152 landed" in result.message
    assert verbs.show(repo, cfg, "SP-152").status == "landed"


def test_unallocated_id_is_refused_at_landing(story_repo: Path, remote: Path) -> None:
    repo = discover(story_repo)
    cfg = config.load(story_repo)
    git(story_repo, "switch", "-q", "-c", "rogue")
    (story_repo / "articles" / "SP-999.md").write_text(article(999))
    git(story_repo, "add", "-A")
    git(story_repo, "commit", "-q", "--no-verify", "-m", "SP-999")
    before = git(remote, "rev-parse", "main").stdout
    (result,) = landing.land(repo, cfg, ["rogue"])
    assert result.status == "error" and "SP-999" in result.message
    assert git(remote, "rev-parse", "main").stdout == before


# --- the CLI ----------------------------------------------------------------------------


def test_cli_land_json_and_exit_code(work: Path, origin: Path, other: Path) -> None:
    branch_with(work, "good", {"good.txt": "g\n"})
    branch_with(work, "clash", {"shared.txt": "mine\n"})
    push_change(other, "shared.txt", "theirs\n")
    proc = gitfleet(work, "land", "good", "clash", "--json", check=False)
    assert proc.returncode == 1, proc.stderr
    data = json.loads(proc.stdout)
    assert [d["status"] for d in data] == ["landed", "conflict"]
    assert data[1]["paths"] == ["shared.txt"]
    assert data[0]["new_tip"] == remote_tip(origin)

    text = gitfleet(work, "land", "good", check=True)
    assert "up-to-date" in text.stdout


def test_cli_land_human_output_names_files_and_check_output(work: Path, other: Path) -> None:
    branch_with(work, "clash", {"shared.txt": "mine\n"})
    branch_with(work, "bad", {"bad.txt": "bad\n"})
    push_change(other, "shared.txt", "theirs\n")
    proc = gitfleet(
        work, "land", "clash", "bad", "--check", "echo CHECK-SAID-NO; false", check=False
    )
    assert proc.returncode == 1
    assert "conflict" in proc.stdout and "shared.txt" in proc.stdout
    assert "check-failed" in proc.stdout and "CHECK-SAID-NO" in proc.stdout


def test_cli_usage_errors(work: Path) -> None:
    proc = gitfleet(work, "land", check=False)
    assert proc.returncode == 2
    proc = gitfleet(work, "land", "no-such-branch", check=False)
    assert proc.returncode == 2 and "no-such-branch" in proc.stderr


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM])
def test_stopping_land_during_check_removes_the_scratch_worktree(
    work: Path, origin: Path, stop: signal.Signals
) -> None:
    """Ctrl-C, and the SIGTERM of `timeout`, `kill` or a cancelled CI job, alike."""
    branch_with(work, "slow", {"slow.txt": "s\n"})
    started = work.parent / "check-started"
    pid_file = work.parent / "check-pid"
    before = remote_tip(origin)
    proc = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "gitfleet"),
            "land",
            "slow",
            "--check",
            f'echo $$ > "{pid_file}"; touch "{started}"; sleep 300',
        ],
        cwd=work,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 120
        while not started.exists():
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "the check never started"
            time.sleep(0.05)
        assert scratch_leftovers(work) != []  # the check runs in one
        os.kill(proc.pid, stop)
        _out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, err
    assert scratch_leftovers(work) == []
    assert remote_tip(origin) == before
    check_shell = int(pid_file.read_text())
    _wait_for(lambda: not _alive(check_shell), "the check to be stopped")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _wait_for(predicate: Callable[[], object], what: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def test_queue_shows_holder_waiting_and_results(work: Path, origin: Path) -> None:
    branch_with(work, "first", {"first.txt": "1\n"})
    branch_with(work, "second", {"second.txt": "2\n"})
    gate = work.parent / "open-gate"
    started = work.parent / "first-checking"
    check = f'touch "{started}"; while [ ! -e "{gate}" ]; do sleep 0.05; done'
    script = str(Path(sys.executable).parent / "gitfleet")
    first = subprocess.Popen([script, "land", "first", "--check", check], cwd=work)
    second = None
    try:
        _wait_for(started.exists, "the first landing's check")
        second = subprocess.Popen([script, "land", "second", "--check", "true"], cwd=work)

        def main_entry() -> dict[str, Any]:
            data = json.loads(gitfleet(work, "queue", "--json").stdout)
            entries = [q for q in data["queues"] if q["ref"] == "refs/heads/main"]
            return entries[0] if entries else {}

        _wait_for(lambda: main_entry().get("waiting"), "the second landing to queue")
        entry = main_entry()
        assert entry["holder"]["label"] == "gitfleet land first"
        assert entry["waiting"][0]["label"] == "gitfleet land second"
        text = gitfleet(work, "queue").stdout
        assert "holder:  gitfleet land first" in text and "waiting: gitfleet land second" in text
        gate.touch()
        assert first.wait(timeout=120) == 0
        assert second.wait(timeout=120) == 0
    finally:
        gate.touch()
        for proc in (first, second):
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.wait()
    recent = main_entry()["recent"]
    assert [(r["branch"], r["status"]) for r in recent][-2:] == [
        ("first", "landed"),
        ("second", "landed"),
    ]
    assert "landed first" in gitfleet(work, "queue").stdout


def test_the_agents_worktree_is_not_touched(work: Path, origin: Path, other: Path) -> None:
    """Landing a branch checked out (dirty) in an agent's worktree changes nothing there."""
    agent = work.parent / "agent-wt"
    git(work, "worktree", "add", "-q", "-b", "agent", str(agent))
    (agent / "done.txt").write_text("done\n")
    git(agent, "add", "done.txt")
    git(agent, "commit", "-q", "-m", "agent work")
    (agent / "done.txt").write_text("still editing\n")
    (agent / "scratch-notes.txt").write_text("untracked\n")
    push_change(other, "from-other.txt", "x\n")

    def state() -> tuple[str, ...]:
        return (
            git(agent, "status", "--porcelain").stdout,
            git(agent, "rev-parse", "HEAD").stdout,
            git(agent, "symbolic-ref", "HEAD").stdout,
            (agent / "done.txt").read_text(),
            refs(work),
        )

    before = state()
    (result,) = land(agent, "agent", check="test -f done.txt && test ! -e scratch-notes.txt")
    assert result.status == "landed", result.message
    assert state() == before
    assert git(origin, "show", "main:done.txt").stdout == "done\n"


# --- through the push gate: `git push` to a target that moved is landed for the agent ----


def _route(clone_path: Path, origin: Path) -> None:
    git(clone_path, "config", "remote.origin.pushurl", f"gitfleet::{origin}")


def test_routed_push_that_is_not_a_fast_forward_is_landed(
    work: Path, origin: Path, other: Path, tmp_path: Path
) -> None:
    _route(work, origin)
    log = tmp_path / "checked.log"
    (work / "gitfleet.toml").write_text(f"[land]\ncheck = '{recording_check(log)}'\n")
    (work / "mine.txt").write_text("mine\n")
    git(work, "add", "-A")
    git(work, "commit", "-q", "-m", "mine")
    mine = git(work, "rev-parse", "HEAD").stdout.strip()
    theirs = push_change(other, "theirs.txt", "theirs\n")

    proc = git(work, "push", "origin", "HEAD:main", check=False)

    assert proc.returncode == 0, proc.stderr
    tip = remote_tip(origin)
    assert git(origin, "rev-parse", "main~1").stdout.strip() == theirs
    assert git(origin, "show", "main:mine.txt").stdout == "mine\n"
    assert tree_of(origin, tip) in checked_trees(log)
    assert git(work, "rev-parse", "HEAD").stdout.strip() == mine  # the branch itself stays


def test_routed_push_that_conflicts_is_refused_naming_the_file(
    work: Path, origin: Path, other: Path
) -> None:
    _route(work, origin)
    (work / "shared.txt").write_text("one\nmine\nthree\n")
    git(work, "commit", "-qam", "mine")
    mine = git(work, "rev-parse", "HEAD").stdout.strip()
    push_change(other, "shared.txt", "one\ntheirs\nthree\n")
    before = remote_tip(origin)

    proc = git(work, "push", "origin", "HEAD:main", check=False)

    assert proc.returncode != 0
    assert "shared.txt" in proc.stderr
    assert remote_tip(origin) == before
    assert git(work, "rev-parse", "HEAD").stdout.strip() == mine
    assert git(work, "status", "--porcelain").stdout == ""


def test_push_refused_by_the_remote_is_an_error_not_a_retry(work: Path, origin: Path) -> None:
    hook = origin / "hooks" / "pre-receive"
    hook.write_text(
        "#!/bin/sh\nwhile read old new ref; do\n"
        '  if git cat-file -e "$new:REJECT" 2>/dev/null; then\n'
        '    echo "server policy: no REJECT files" >&2; exit 1\n  fi\ndone\n'
    )
    hook.chmod(0o755)
    branch_with(work, "refused", {"REJECT": "x\n"})
    branch_with(work, "fine", {"fine.txt": "ok\n"})
    before = remote_tip(origin)

    refused, fine = land(work, "refused", "fine")

    assert refused.status == "error" and refused.retries == 0
    assert "server policy: no REJECT files" in refused.message
    assert fine.status == "landed"
    assert git(origin, "rev-parse", "main~1").stdout.strip() == before
