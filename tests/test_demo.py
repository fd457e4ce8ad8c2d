"""``gitfleet demo``: both evenings, counted, in a temp folder that is removed afterwards."""

from __future__ import annotations

import json
import os
from pathlib import Path

from conftest import gitfleet

from gitfleet.fleet import demo
from gitfleet.fleet.words import plural


def test_without_gitfleet_reproduces_the_failures(tmp_path: Path) -> None:
    with demo.isolated_env(tmp_path):
        side = demo.without_gitfleet(tmp_path, 4)
    assert side.agents == 4
    assert side.duplicate_ids >= 1, "agents reading the counter together share an id"
    assert side.refused_pushes >= 1
    assert side.articles_landed < 4


def test_isolated_env_restores_the_users_environment(tmp_path: Path) -> None:
    before = dict(os.environ)
    with demo.isolated_env(tmp_path):
        assert os.environ["GIT_AUTHOR_NAME"] == "gitfleet demo"
    assert dict(os.environ) == before


def test_demo_command_end_to_end(tmp_path: Path) -> None:
    env = {"TMPDIR": str(tmp_path), "ANTHROPIC_API_KEY": "sk-ant-unused"}
    proc = gitfleet(tmp_path, "demo", "--json", env=env, timeout=300)
    data = json.loads(proc.stdout)
    with_, without = data["with"], data["without"]
    assert with_["distinct_ids"] == 9 and with_["duplicate_ids"] == 0
    assert with_["refused_pushes"] == 0 and with_["failed_agents"] == 0
    assert with_["articles_landed"] == 9
    assert without["duplicate_ids"] > 0 and without["refused_pushes"] > 0
    assert without["articles_landed"] < 9
    assert data["folder"] is None
    assert not list(tmp_path.glob("gitfleet-demo-*"))


def test_demo_prints_the_comparison(tmp_path: Path) -> None:
    proc = gitfleet(tmp_path, "demo", "--agents", "3", env={"TMPDIR": str(tmp_path)}, timeout=300)
    assert "without gitfleet" in proc.stdout and "with gitfleet" in proc.stdout
    assert "duplicate ids" in proc.stdout and "pushes refused" in proc.stdout
    # Progress while it runs: each naive agent's outcome, then each landing.
    assert "without gitfleet: 3 clones ready" in proc.stdout
    assert proc.stdout.count("without gitfleet: agent-") == 3
    assert "with gitfleet: gitfleet init --series SP, then gitfleet spawn 3" in proc.stdout
    landings = [line for line in proc.stdout.splitlines() if line.startswith("with gitfleet: SP-")]
    assert sorted(landings) == [f"with gitfleet: SP-{n} landed" for n in (152, 153, 154)]


def test_counts_in_words() -> None:
    assert [plural(n, "distinct id") for n in (0, 1, 2)] == [
        "0 distinct ids", "1 distinct id", "2 distinct ids"]  # fmt: skip
    assert plural(1, "push", "pushes") == "1 push" and plural(3, "push", "pushes") == "3 pushes"
