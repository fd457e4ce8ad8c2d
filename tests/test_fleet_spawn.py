"""``spawn`` in-process with real git and real agent processes (landing off or local)."""

from __future__ import annotations

import json
import os
import shlex
import sys
from pathlib import Path

import pytest
from conftest import git
from fleet_fixtures import agent_cmd, write_agent, write_probe

from gitfleet import config
from gitfleet.errors import ConfigError, UsageError
from gitfleet.fleet import runstate
from gitfleet.fleet.display import PlainDisplay
from gitfleet.fleet.report import build, render_text
from gitfleet.fleet.spawn import SpawnOptions, read_tasks, spawn
from gitfleet.git.repo import discover
from gitfleet.ids.local import LocalBackend


def _spawn(root: Path, **kw: object) -> runstate.RunState:
    repo = discover(root)
    opts = SpawnOptions(**kw)  # type: ignore[arg-type]
    with open(os.devnull, "w") as sink:
        return spawn(repo, config.load(repo.toplevel), opts, PlainDisplay(sink))


def _probe_cmd(script: Path, out: Path, *extra: str) -> str:
    return shlex.join([sys.executable, str(script), str(out)]) + " " + " ".join(extra)


def test_ids_allocated_in_one_transaction_before_any_agent(
    story_repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    monkeypatch.setenv("LEDGER_DIR", str(story_repo / ".git" / "gitfleet"))
    state = _spawn(
        story_repo, count=5, task="Write article {id}",
        agent_cmd=_probe_cmd(write_probe(tmp_path), out), land=False, max_parallel=1,
    )  # fmt: skip
    idents = [a.id for a in state.agents]
    assert idents == ["SP-152", "SP-153", "SP-154", "SP-155", "SP-156"]
    records = LocalBackend(story_repo / ".git" / "gitfleet").read()
    allocated = [r for r in records if r.op == "allocated"]
    assert [r.id for r in allocated] == idents
    assert len({r.ts for r in allocated}) == 1, "one transaction"
    assert [r.owner for r in allocated] == [f"fleet/{i}" for i in idents]
    # Even the first agent (of a one-at-a-time run) saw every id of the run allocated.
    first = json.loads((out / "SP-152.json").read_text())
    assert all(f'"id":"{i}"' in first["ledger"] for i in idents)


def test_agent_gets_worktree_branch_env_and_brief_outside_the_tree(
    story_repo: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (story_repo / "gitfleet.toml").write_text(
        (story_repo / "gitfleet.toml").read_text()
        + '\n[spawn]\ncopy = [".env"]\nsetup = "echo ready > .setup-done"\n'
        + 'ports = ["PORT", "API_PORT"]\n'
    )
    git(story_repo, "commit", "-qam", "spawn config")
    (story_repo / ".env").write_text("TOKEN=local\n")
    cmd = _probe_cmd(
        write_probe(tmp_path), out, "{id}", "{branch}", "{worktree}", "{brief}", "{prompt}"
    )
    state = _spawn(
        story_repo, count=2, task="Write article {id} on {branch}", agent_cmd=cmd, land=False
    )
    ports = set()
    for agent in state.agents:
        seen = json.loads((out / f"{agent.id}.json").read_text())
        tree = Path(agent.worktree)
        assert seen["cwd"] == str(tree)
        assert not tree.is_relative_to(story_repo), "worktrees live outside the checkout"
        assert seen["head"] == agent.branch == f"fleet/{agent.id}"
        env = seen["env"]
        assert env["GITFLEET_ID"] == agent.id
        assert env["GITFLEET_BRANCH"] == agent.branch
        assert env["GITFLEET_WORKTREE"] == str(tree)
        assert env["GITFLEET_RUN"] == state.run
        brief = Path(env["GITFLEET_BRIEF"])
        assert not brief.is_relative_to(tree)
        text = brief.read_text()
        assert f"Write article {agent.id} on fleet/{agent.id}" in text
        assert "scripts/article-counter.json" in text and "Commit your work" in text
        assert seen["argv"][:4] == [agent.id, agent.branch, str(tree), str(brief)]
        assert seen["argv"][4] == text, "{prompt} is the whole brief, as one argument"
        assert ".env" in seen["files"] and ".setup-done" in seen["files"]
        ports |= {int(env["PORT"]), int(env["API_PORT"])}
        assert agent.ports == {"PORT": int(env["PORT"]), "API_PORT": int(env["API_PORT"])}
    assert len(ports) == 4, "no two agents share a port"


def test_brief_and_bootstrap_files_never_reach_a_commit(story_repo: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    cmd = _probe_cmd(write_probe(tmp_path), out, "--commit-all")
    state = _spawn(story_repo, count=1, task="anything", agent_cmd=cmd, land=False)
    agent = state.agents[0]
    files = git(story_repo, "show", "--name-only", "--format=", agent.branch).stdout.split()
    assert files == ["work.txt"]
    assert agent.outcome == "committed" and agent.commits == 1


def test_crash_timeout_and_success_side_by_side(story_repo: Path, tmp_path: Path) -> None:
    script = write_agent(tmp_path)
    tasks = tmp_path / "tasks.txt"
    cmd = shlex.join([sys.executable, str(script)]) + " {task}"
    # The scripted agent's mode is its first argument: here the task's first word.
    tasks.write_text("commit\ncrash\nhang\n")
    state = _spawn(story_repo, count=3, tasks_file=tasks, agent_cmd=cmd, land=False, timeout=20)
    by = {a.task: a for a in state.agents}
    assert by["commit"].outcome == "committed"
    assert by["crash"].outcome == "failed" and by["crash"].exit_code == 3
    assert by["hang"].outcome == "timed out" and by["hang"].phase == runstate.TIMED_OUT
    child = int((Path(by["hang"].worktree) / "child.pid").read_text())
    from test_fleet_supervise import _wait_gone

    assert _wait_gone(child)
    saved = runstate.load(discover(story_repo), state.run)
    assert [a.outcome for a in saved.agents] == [a.outcome for a in state.agents]
    assert saved.status == "finished"
    report = build(discover(story_repo), config.load(story_repo), saved)
    assert not report.succeeded
    text = render_text(report)
    assert "timed out" in text and "failed" in text
    assert f"SP-153: its log: {os.path.relpath(by['crash'].log, story_repo)}" in text


def test_read_tasks_formats(tmp_path: Path) -> None:
    path = tmp_path / "t"
    path.write_text("# comment\none\n\ntwo {id}\n")
    assert read_tasks(path) == ["one", "two {id}"]
    path.write_text("line 1\nline 2\n---\nsecond task\n---\n")
    assert read_tasks(path) == ["line 1\nline 2", "second task"]


@pytest.mark.parametrize(
    ("kw", "error", "match"),
    [
        (
            {"task": "x", "tasks_file": Path("t"), "agent_cmd": "y"},
            UsageError,
            "exactly one of --task",
        ),
        ({"task": "x", "agent": "claude", "agent_cmd": "y"}, UsageError, "exactly one of --agent"),
        ({"task": "x", "agent_cmd": "y", "series": "XX"}, ConfigError, "unknown series 'XX'"),
        ({"task": "x", "agent_cmd": "y", "timeout": -1.0}, UsageError, "--timeout"),
        (
            {"task": "x", "agent_cmd": "true", "base": "no-such-ref"},
            UsageError,
            "--base 'no-such-ref'",
        ),
    ],
)
def test_bad_input_is_refused_before_anything_is_written(
    story_repo: Path, kw: dict[str, object], error: type[Exception], match: str
) -> None:
    with pytest.raises(error, match=match):
        _spawn(story_repo, count=2, **kw)
    assert runstate.list_runs(discover(story_repo)) == []
    assert not (story_repo.parent / "story.gitfleet").exists()


def test_task_file_count_mismatch(story_repo: Path, tmp_path: Path) -> None:
    tasks = tmp_path / "tasks"
    tasks.write_text("a\nb\n")
    with pytest.raises(UsageError, match="holds 2 tasks but 3 agents"):
        _spawn(story_repo, count=3, tasks_file=tasks, agent_cmd="x")


def test_an_agent_that_cannot_start_fails_alone(story_repo: Path) -> None:
    # A command relative to the worktree cannot be checked before the worktree exists.
    state = _spawn(
        story_repo, count=1, task="x", agent_cmd="./no-such-agent-xyz {prompt}", land=False
    )
    assert state.agents[0].phase == runstate.NOT_STARTED
    assert "'./no-such-agent-xyz' not found in" in (state.agents[0].error or "")
    # The reason outlives the live display: the report says it too.
    report = build(discover(story_repo), config.load(story_repo), state)
    assert "no-such-agent-xyz" in (report.agents[0].error or "")
    assert "not found in" in render_text(report)


def test_no_series_runs_agents_without_ids(repo: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    state = _spawn(
        repo, count=2, task="t", agent_cmd=_probe_cmd(write_probe(tmp_path), out), land=False
    )
    assert [a.id for a in state.agents] == [None, None]
    assert [a.name for a in state.agents] == ["agent-1", "agent-2"]
    assert state.agents[0].branch == f"fleet/{state.run}-1"
    assert json.loads((out / "agent-1.json").read_text())["env"]["GITFLEET_ID"] == ""


def test_agent_cmd_template_fixture(tmp_path: Path) -> None:
    assert agent_cmd(tmp_path / "a.py", "crash").endswith("a.py crash")


def test_context_pack_goes_into_the_brief(repo: Path, tmp_path: Path) -> None:
    (repo / "billing").mkdir()
    (repo / "billing" / "invoice.py").write_text(
        "def compute_invoice_total(lines):\n    return sum(l.amount for l in lines)\n"
    )
    (repo / "docs.md").write_text("Unrelated notes about the garden.\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "code")
    out = tmp_path / "out"
    out.mkdir()
    state = _spawn(
        repo, count=1, task="Fix rounding in compute_invoice_total",
        agent_cmd=_probe_cmd(write_probe(tmp_path), out), land=False, context=True,
    )  # fmt: skip
    text = Path(state.agents[0].brief).read_text()
    assert "## Context" in text and "billing/invoice.py" in text


def test_live_display_renders_the_table(story_repo: Path, tmp_path: Path) -> None:
    import io

    from rich.console import Console

    from gitfleet.fleet.display import LiveDisplay

    display = LiveDisplay()
    display.console = Console(file=io.StringIO(), force_terminal=True, color_system=None, width=250)
    from rich.live import Live

    display.live = Live(console=display.console, auto_refresh=False)
    state = _spawn(story_repo, count=2, task="t", agent_cmd="true", land=False)
    display.start(state)
    display.event(state, state.agents[0], "exited")
    display.stop(state)
    shown = display.console.file.getvalue()  # type: ignore[attr-defined]
    assert "SP-152" in shown and "SP-153" in shown and "no commits" in shown
