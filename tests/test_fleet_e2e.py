"""The story's evening, end to end: init, nine agents, the push gate, landing.

Everything is real: ``gitfleet init`` installs the hooks and routes pushes through
``git-remote-gitfleet``; nine scripted agents run as processes, each in its own worktree,
commit with the pre-commit id check live, and push with a plain ``git push origin
HEAD:main``; spawn lands what they did not push.
"""

from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path

import pytest
from conftest import git, gitfleet
from fleet_fixtures import agent_cmd, write_agent

from gitfleet import config
from gitfleet.fleet import worktrees
from gitfleet.git.repo import discover
from gitfleet.ids import claims


@pytest.fixture
def evening(story_repo: Path) -> Path:
    """The story repo with `gitfleet init --series SP` run and its config committed and pushed."""
    gitfleet(story_repo, "init", "--series", "SP")
    git(story_repo, "add", "gitfleet.toml")
    if git(story_repo, "diff", "--cached", "--quiet", check=False).returncode != 0:
        git(story_repo, "commit", "-q", "-m", "gitfleet init --series SP")
    git(story_repo, "push", "-q", "origin", "main")
    return story_repo


def _remote_claims(repo: Path, remote: Path) -> dict[str, list[str]]:
    r = discover(repo)
    git(repo, "fetch", "-q", "origin")
    return claims.claims_in_tree(r, config.load(repo), "refs/remotes/origin/main")


def _new_articles(remote: Path) -> list[str]:
    names = git(remote, "ls-tree", "--name-only", "main", "articles/").stdout.split()
    return sorted(n.split("/")[-1][:-3] for n in names if n > "articles/SP-151.md")


def _spawn(repo: Path, *args: str, ok: bool = True) -> dict:  # type: ignore[type-arg]
    proc = gitfleet(repo, "spawn", *args, "--json", check=False, timeout=600)
    if ok:
        assert proc.returncode == 0, proc.stdout + proc.stderr
    else:
        assert proc.returncode == 1, proc.stdout + proc.stderr
    return json.loads(proc.stdout)  # type: ignore[no-any-return]


def _assert_each_claims_its_own(repo: Path, remote: Path, idents: list[str]) -> None:
    found = _remote_claims(repo, remote)
    for ident in idents:
        assert found[ident] == [f"articles/{ident}.md"], (ident, found.get(ident))
    assert all(len(paths) == 1 for paths in found.values()), "no id claimed twice"


def _assert_clean_worktrees(repo: Path, report: dict) -> None:  # type: ignore[type-arg]
    run = json.loads((repo / ".git" / "gitfleet" / "runs" / report["run"] / "run.json").read_text())
    for agent in run["agents"]:
        tree = Path(agent["worktree"])
        assert tree.is_dir() and worktrees.dirty(tree) == [], agent["name"]


def test_nine_agents_push_themselves(evening: Path, remote: Path, tmp_path: Path) -> None:
    script = write_agent(tmp_path)
    report = _spawn(
        evening, "9", "--series", "SP", "--task", "Write article {id}",
        "--agent-cmd", agent_cmd(script, "push"),
    )  # fmt: skip
    idents = [f"SP-{n}" for n in range(152, 161)]
    assert _new_articles(remote) == idents
    _assert_each_claims_its_own(evening, remote, idents)
    assert [a["exit_code"] for a in report["agents"]] == [0] * 9, "every agent's push exited 0"
    assert [a["outcome"] for a in report["agents"]] == ["landed"] * 9
    assert report["ids_claimed"] == idents
    _assert_clean_worktrees(evening, report)
    listing = json.loads(gitfleet(evening, "ids", "list", "--json").stdout)
    assert {s["id"]: s["status"] for s in listing if s["id"] in idents} == dict.fromkeys(
        idents, "landed"
    )


def test_agents_that_only_commit_are_landed_by_spawn(
    evening: Path, remote: Path, tmp_path: Path
) -> None:
    script = write_agent(tmp_path)
    report = _spawn(
        evening, "4", "--task", "Write article {id}", "--agent-cmd", agent_cmd(script, "commit")
    )
    idents = [f"SP-{n}" for n in range(152, 156)]
    assert _new_articles(remote) == idents
    _assert_each_claims_its_own(evening, remote, idents)
    assert {a["landing"] for a in report["agents"]} <= {"landed", "up-to-date"}
    log = git(remote, "log", "--format=%s", "main").stdout
    assert log.count("Add article SP-1") == 4
    # The ledger follows: each id is landed.
    listing = json.loads(gitfleet(evening, "ids", "list", "--json").stdout)
    states = {s["id"]: s["status"] for s in listing}
    assert all(states[i] == "landed" for i in idents), states


def _mixed(evening: Path, tmp_path: Path, modes: list[str], *extra: str) -> dict:  # type: ignore[type-arg]
    script = write_agent(tmp_path)
    tasks = tmp_path / "tasks.txt"
    tasks.write_text("\n".join(modes) + "\n")
    cmd = shlex.join([sys.executable, str(script)]) + " {task}"
    return _spawn(
        evening, str(len(modes)), "--tasks", str(tasks), "--agent-cmd", cmd, *extra, ok=False
    )


def test_a_crashing_agent_fails_alone(evening: Path, remote: Path, tmp_path: Path) -> None:
    report = _mixed(evening, tmp_path, ["push", "crash", "commit"])
    outcomes = {a["id"]: a["outcome"] for a in report["agents"]}
    assert outcomes == {"SP-152": "landed", "SP-153": "failed", "SP-154": "landed"}
    assert _new_articles(remote) == ["SP-152", "SP-154"]


def test_a_hanging_agent_is_stopped_at_the_timeout(
    evening: Path, remote: Path, tmp_path: Path
) -> None:
    report = _mixed(evening, tmp_path, ["commit", "hang"], "--timeout", "20")
    outcomes = {a["id"]: a["outcome"] for a in report["agents"]}
    assert outcomes == {"SP-152": "landed", "SP-153": "timed out"}
    assert _new_articles(remote) == ["SP-152"]


def test_a_conflicting_change_is_reported_with_its_files(
    evening: Path, remote: Path, tmp_path: Path
) -> None:
    report = _mixed(evening, tmp_path, ["conflict", "conflict", "commit"])
    outcomes = sorted(a["outcome"] for a in report["agents"])
    assert outcomes == ["conflict", "landed", "landed"]
    loser = next(a for a in report["agents"] if a["outcome"] == "conflict")
    assert loser["conflicts"] == ["articles/SP-001.md"]
    # Nothing half-applied: the remote has the winner's edit and not the loser's article.
    assert loser["id"] not in _new_articles(remote)
    assert len(_new_articles(remote)) == 2


def test_a_failing_land_check_keeps_the_work_off_the_target(
    evening: Path, remote: Path, tmp_path: Path
) -> None:
    cfg = evening / "gitfleet.toml"
    cfg.write_text(cfg.read_text() + '\n[land]\ncheck = "! grep -rq BADWORD articles"\n')
    git(evening, "commit", "-qam", "land check")
    git(evening, "push", "-q", "origin", "main")
    report = _mixed(evening, tmp_path, ["commit", "bad"])
    outcomes = {a["id"]: a["outcome"] for a in report["agents"]}
    assert outcomes == {"SP-152": "landed", "SP-153": "check-failed"}
    assert _new_articles(remote) == ["SP-152"]
