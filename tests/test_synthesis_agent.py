"""The agent rung under ``gitfleet spawn``: a true conflict goes back to the agent whose
work is landing, in its own worktree stopped mid-rebase; an agent that resolves it lands,
one that exits 0 with the rebase unfinished is reported, its worktree left as git left it."""

from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path

from conftest import git, gitfleet

AGENT = r"""
import os, subprocess, sys
ident = os.environ["GITFLEET_ID"]
def git(*args):
    subprocess.run(["git", *args], check=True, env={**os.environ, "GIT_EDITOR": "true"})
if os.environ.get("GITFLEET_RESOLVE") == "1":
    brief = open(os.environ["GITFLEET_BRIEF"]).read()
    assert "`notes.txt`" in brief and "git rebase --continue" in brief, brief
    if sys.argv[1] == "give-up" and not os.path.exists(sys.argv[2]):
        sys.exit(0)  # exits 0, markers left, the rebase unfinished
    text = open("notes.txt").read().splitlines(keepends=True)
    if sys.argv[1] == "drop":  # keep only its own side: what landed first is lost
        start = next(i for i, l in enumerate(text) if l.startswith("<<<<<<<"))
        middle = next(i for i, l in enumerate(text) if l.startswith("======="))
        text = text[:start] + text[middle + 1 :]
    kept = [l for l in text if not l.startswith(("<<<<<<<", "=======", ">>>>>>>"))]
    open("notes.txt", "w").write("".join(kept))
    git("add", "notes.txt")
    git("rebase", "--continue")
    sys.exit(0)
os.makedirs("articles", exist_ok=True)
open(f"articles/{ident}.md", "w").write(f"---\nticketId: {ident}\ntitle: {ident}\n---\n")
open("notes.txt", "w").write(f"one\ntwo by {ident}\nthree\n")
git("add", "-A")
git("commit", "-q", "-m", f"Add article {ident}")
"""


def _spawn(repo: Path, tmp_path: Path, mode: str, land: str = "") -> dict:  # type: ignore[type-arg]
    (repo / "notes.txt").write_text("one\ntwo\nthree\n")
    gitfleet(repo, "init", "--series", "SP")
    if land:
        with (repo / "gitfleet.toml").open("a") as fh:
            fh.write(f"\n[land]\n{land}\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "notes; gitfleet init")
    git(repo, "push", "-q", "origin", "main")
    script = tmp_path / "agent.py"
    script.write_text(AGENT)
    proc = gitfleet(
        repo, "spawn", "2", "--series", "SP", "--task", "Write article {id}",
        "--agent-cmd", shlex.join([sys.executable, str(script), mode, str(tmp_path / "now")]),
        "--json",
        check=False, timeout=300,
    )  # fmt: skip
    return json.loads(proc.stdout)  # type: ignore[no-any-return]


def test_an_agent_that_resolves_its_conflict_lands(
    story_repo: Path, remote: Path, tmp_path: Path
) -> None:
    report = _spawn(story_repo, tmp_path, "resolve")
    assert [a["outcome"] for a in report["agents"]] == ["landed", "landed"], report
    notes = git(remote, "show", "main:notes.txt").stdout
    assert "two by SP-152\n" in notes and "two by SP-153\n" in notes and "<<<<" not in notes
    text = json.dumps(report)
    assert "conflict resolved by the agent (attempt 1" in text


def test_an_agent_that_leaves_markers_is_reported_not_landed(
    story_repo: Path, remote: Path, tmp_path: Path
) -> None:
    report = _spawn(story_repo, tmp_path, "give-up")
    outcomes = sorted(a["outcome"] for a in report["agents"])
    assert outcomes == ["conflict", "landed"], report
    (stuck,) = [a for a in report["agents"] if a["outcome"] == "conflict"]
    text = json.dumps(stuck)
    assert "the rebase is still in progress" in text
    run = json.loads(
        (story_repo / ".git" / "gitfleet" / "runs" / report["run"] / "run.json").read_text()
    )
    tree = next(Path(a["worktree"]) for a in run["agents"] if a["name"] == stuck["name"])
    assert str(tree) in text
    assert "notes.txt" in git(tree, "diff", "--name-only", "--diff-filter=U").stdout
    assert "<<<<" not in git(remote, "show", "main:notes.txt").stdout

    # by hand: once the agent can resolve, `gitfleet resolve AGENT` hands it back again
    (tmp_path / "now").write_text("resolve now\n")
    proc = gitfleet(story_repo, "resolve", stuck["name"], "--json")
    assert json.loads(proc.stdout)["status"] == "landed"
    notes = git(remote, "show", "main:notes.txt").stdout
    assert "two by SP-152\n" in notes and "two by SP-153\n" in notes
    shown = json.loads(gitfleet(story_repo, "status", "--json").stdout)
    assert {a["landing"] for a in shown["agents"]} == {"landed"}


def test_an_agent_resolution_that_drops_what_landed_is_refused(
    story_repo: Path, remote: Path, tmp_path: Path
) -> None:
    report = _spawn(story_repo, tmp_path, "drop")
    outcomes = sorted(a["outcome"] for a in report["agents"])
    assert outcomes == ["gate-refused", "landed"], report
    (refused,) = [a for a in report["agents"] if a["outcome"] == "gate-refused"]
    assert "drops what landed" in refused["land_message"]
    assert "a line one side added is missing" in refused["land_message"]
    (landed,) = [a for a in report["agents"] if a["outcome"] == "landed"]
    assert f"two by {landed['id']}" in git(remote, "show", "main:notes.txt").stdout


def test_without_the_agent_rung_the_conflict_names_the_worktree(
    story_repo: Path, remote: Path, tmp_path: Path
) -> None:
    report = _spawn(story_repo, tmp_path, "resolve", land='resolve = ["structured", "lines"]')
    outcomes = sorted(a["outcome"] for a in report["agents"])
    assert outcomes == ["conflict", "landed"], report
    (stuck,) = [a for a in report["agents"] if a["outcome"] == "conflict"]
    run = json.loads(
        (story_repo / ".git" / "gitfleet" / "runs" / report["run"] / "run.json").read_text()
    )
    tree = next(a["worktree"] for a in run["agents"] if a["name"] == stuck["name"])
    assert f"Its work is in {tree} ({stuck['branch']})." in stuck["land_message"]
    assert "notes.txt: lines: both sides changed base lines" in stuck["land_message"]
