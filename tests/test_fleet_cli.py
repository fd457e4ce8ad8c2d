"""The fleet verbs through the installed console script: spawn, status, logs, clean,
and what a crashed or interrupted spawn leaves behind."""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

from conftest import git, gitfleet
from fleet_fixtures import agent_cmd, write_agent
from test_fleet_supervise import _wait_gone

GITFLEET = str(Path(sys.executable).parent / "gitfleet")


def _runs(repo: Path) -> Path:
    return repo / ".git" / "gitfleet" / "runs"


def _wait_running(repo: Path, count: int, timeout: float = 120.0) -> dict:  # type: ignore[type-arg]
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        for path in _runs(repo).glob("*/run.json"):
            try:
                data = json.loads(path.read_text())
            except ValueError:
                continue
            if sum(a["phase"] == "running" for a in data["agents"]) == count:
                return data  # type: ignore[no-any-return]
        time.sleep(0.1)
    raise AssertionError("agents never all ran")


def test_no_land_run_then_status_logs_and_clean(story_repo: Path, tmp_path: Path) -> None:
    script = write_agent(tmp_path)
    proc = gitfleet(
        story_repo, "spawn", "2", "--task", "Write article {id}", "--agent-cmd",
        agent_cmd(script, "commit"), "--no-land", "--json",
    )  # fmt: skip
    report = json.loads(proc.stdout)
    assert [a["outcome"] for a in report["agents"]] == ["committed", "committed"]
    assert report["ids_allocated"] == report["ids_claimed"] == ["SP-152", "SP-153"]
    assert "SP-152: started" in proc.stderr  # event lines go to stderr with --json
    assert "not routed through the gitfleet queue" in proc.stderr  # no `gitfleet init` here

    status = json.loads(gitfleet(story_repo, "status", "--json").stdout)
    assert status["run"] == report["run"] and status["status"] == "finished"
    plain = gitfleet(story_repo, "status").stdout
    assert "SP-152" in plain and "committed" in plain
    assert "agent SP-152 mode commit" in gitfleet(story_repo, "logs", "SP-152").stdout

    # Nothing landed: clean keeps both and names their commits.
    refused = gitfleet(story_repo, "clean", check=False)
    assert refused.returncode == 1
    assert "Add article SP-152" in refused.stderr and "Add article SP-153" in refused.stderr
    assert git(story_repo, "rev-parse", "--verify", "fleet/SP-152", check=False).returncode == 0

    # SP-152's work reaches the target: now it can go; SP-153 still cannot.
    git(story_repo, "push", "-q", "origin", "fleet/SP-152:main")
    refused = gitfleet(story_repo, "clean", "--json", check=False)
    assert refused.returncode == 1
    cleaned = json.loads(refused.stdout)
    assert cleaned["removed"] == ["fleet/SP-152"] and cleaned["released"] == []
    assert "fleet/SP-153" in refused.stderr
    assert git(story_repo, "rev-parse", "--verify", "fleet/SP-152", check=False).returncode != 0

    # --force drops the unlanded one and gives its never-landed id back.
    forced = json.loads(gitfleet(story_repo, "clean", "--all", "--force", "--json").stdout)
    assert forced["removed"] == ["fleet/SP-153"] and forced["released"] == ["SP-153"]
    assert forced["runs_removed"] == [report["run"]]
    assert git(story_repo, "worktree", "list").stdout.count("\n") == 1
    ids = gitfleet(story_repo, "ids", "show", "SP-153", "--json", check=False)
    if ids.returncode == 0:
        assert json.loads(ids.stdout)["status"] == "released"


def test_clean_names_uncommitted_changes(story_repo: Path, tmp_path: Path) -> None:
    script = write_agent(tmp_path)
    gitfleet(story_repo, "spawn", "1", "--task", "t", "--agent-cmd", agent_cmd(script, "commit"),
             "--no-land")  # fmt: skip
    git(story_repo, "push", "-q", "origin", "fleet/SP-152:main")
    tree = next((story_repo.parent / "story.gitfleet").glob("*/SP-152"))
    (tree / "notes.txt").write_text("unsaved\n")
    refused = gitfleet(story_repo, "clean", check=False)
    assert refused.returncode == 1 and "uncommitted change(s): notes.txt" in refused.stderr
    assert tree.exists()
    gitfleet(story_repo, "clean", "--force")
    assert not tree.exists()


def test_sigterm_stops_every_agent_and_leaves_an_interrupted_run(
    story_repo: Path, tmp_path: Path
) -> None:
    script = write_agent(tmp_path)
    spawn = subprocess.Popen(
        [GITFLEET, "spawn", "2", "--task", "t", "--agent-cmd", agent_cmd(script, "hang")],
        cwd=story_repo, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    data = _wait_running(story_repo, 2)
    trees = [Path(a["worktree"]) for a in data["agents"]]
    end = time.monotonic() + 60
    while not all((t / "child.pid").exists() for t in trees) and time.monotonic() < end:
        time.sleep(0.1)
    spawn.send_signal(signal.SIGTERM)
    out, err = spawn.communicate(timeout=120)
    assert spawn.returncode == 130, err
    assert "interrupted" in out  # the report of where the run stands is still printed
    status = json.loads(gitfleet(story_repo, "status", "--json").stdout)
    assert status["status"] == "interrupted"
    assert [a["phase"] for a in status["agents"]] == ["killed", "killed"]
    for agent in status["agents"]:
        assert _wait_gone(agent["pid"])
    for tree in trees:
        assert _wait_gone(int((tree / "child.pid").read_text()))


def test_crashed_spawn_can_be_inspected_and_cleaned(story_repo: Path, tmp_path: Path) -> None:
    script = write_agent(tmp_path)
    spawn = subprocess.Popen(
        [GITFLEET, "spawn", "1", "--task", "t", "--agent-cmd", agent_cmd(script, "hang")],
        cwd=story_repo, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    data = _wait_running(story_repo, 1)
    spawn.kill()  # SIGKILL: no chance to clean up
    spawn.wait(timeout=60)
    status = json.loads(gitfleet(story_repo, "status", "--json").stdout)
    assert status["status"] == "crashed"
    assert status["agents"][0]["phase"] == "orphaned"  # still running, unsupervised
    refused = gitfleet(story_repo, "clean", check=False)
    assert refused.returncode == 1 and "still running" in refused.stderr
    gitfleet(story_repo, "clean", "--force")
    assert _wait_gone(data["agents"][0]["pid"])
    assert not Path(data["agents"][0]["worktree"]).exists()
    assert gitfleet(story_repo, "status", check=False).returncode != 0  # no runs left


def _spawn_running(story_repo: Path, tmp_path: Path, agent_code: str) -> subprocess.Popen[bytes]:
    """A background `gitfleet spawn 1` whose agent runs ``agent_code``, once it is running."""
    (tmp_path / "slow.py").write_text(agent_code)
    cmd = shlex.join([sys.executable, str(tmp_path / "slow.py")])
    spawn = subprocess.Popen(
        [GITFLEET, "spawn", "1", "--task", "t", "--agent-cmd", cmd, "--no-land"],
        cwd=story_repo, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    _wait_running(story_repo, 1)
    return spawn


def test_logs_follow_ends_with_the_agent(story_repo: Path, tmp_path: Path) -> None:
    code = "import time\nprint('hello', flush=True)\ntime.sleep(2)\nprint('bye', flush=True)\n"
    spawn = _spawn_running(story_repo, tmp_path, code)
    followed = gitfleet(story_repo, "logs", "-f", "SP-152", timeout=120)
    assert "hello" in followed.stdout and "bye" in followed.stdout
    spawn.wait(timeout=120)


def test_spawn_exit_code_and_usage_errors(story_repo: Path) -> None:
    bad = gitfleet(story_repo, "spawn", "2", "--task", "t", check=False)
    assert bad.returncode == 2 and "--agent" in bad.stderr
    failed = gitfleet(story_repo, "spawn", "1", "--task", "t", "--agent-cmd", "false", "--no-land",
                      check=False)  # fmt: skip
    assert failed.returncode == 1 and "failed" in failed.stdout
    assert "gitfleet logs AGENT" in failed.stderr
    assert os.path.exists(story_repo / ".git" / "gitfleet" / "runs")


def test_status_watch_follows_the_run_to_its_end(story_repo: Path, tmp_path: Path) -> None:
    spawn = _spawn_running(story_repo, tmp_path, "import time\ntime.sleep(3)\n")
    watched = gitfleet(story_repo, "status", "--watch", timeout=120).stdout
    tables = watched.count("gitfleet run ")
    assert tables >= 2, watched  # the running table, then the finished one
    assert "running" in watched and "(finished)" in watched.split("gitfleet run ")[-1]
    spawn.wait(timeout=120)


def test_status_and_logs_say_why_an_agent_never_started(story_repo: Path) -> None:
    gitfleet(story_repo, "spawn", "1", "--task", "t", "--agent-cmd", "./no-such-agent-xyz {prompt}",
             "--no-land", check=False)  # fmt: skip
    table = gitfleet(story_repo, "status").stdout
    assert "no-such-agent-xyz" in table and "failed" in table, table
    log = gitfleet(story_repo, "logs", "SP-152").stdout
    assert "did not start" in log and "no-such-agent-xyz" in log, log


def test_spawn_with_a_missing_agent_starts_nothing(story_repo: Path) -> None:
    proc = gitfleet(story_repo, "spawn", "1", "--task", "t", "--agent-cmd",
                    "no-such-agent-xyz {prompt}", check=False)  # fmt: skip
    assert proc.returncode == 2, proc.stderr
    assert "spawn did not start anything (1 problem)" in proc.stderr
    assert "'no-such-agent-xyz' is not on PATH" in proc.stderr
    assert "no gitfleet runs" in gitfleet(story_repo, "status", check=False).stderr
