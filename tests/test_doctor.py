"""``gitfleet doctor`` and shell completion, on real repositories."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import gitfleet


def test_doctor_passes_a_set_up_repository_and_names_the_fix_for_each_problem(
    fleet: Path,
) -> None:
    healthy = gitfleet(fleet, "doctor", "--json")
    checks = {f["check"]: f for f in json.loads(healthy.stdout)}
    assert all(f["ok"] for f in checks.values()), [f for f in checks.values() if not f["ok"]]
    assert {"git identity (agents commit with it)", "pre-push hook", "agent CLI claude"} <= set(
        checks
    )
    (fleet / ".git" / "hooks" / "pre-push").unlink()
    with open(fleet / "gitfleet.toml", "a") as fh:
        fh.write('\n[series.NT]\nprefix = "NT"\npaths = ["notes/*.md"]\n')
    sick = gitfleet(fleet, "doctor", check=False)
    assert sick.returncode == 1
    assert "FIX  pre-push hook: not installed\n     -> gitfleet init" in sick.stdout
    assert "NT not committed on refs/remotes/origin/main" in sick.stdout


def test_completion_scripts_and_dynamic_answers(fleet: Path) -> None:
    script = gitfleet(fleet, "completion", "bash").stdout
    assert "_GITFLEET_COMPLETE" in script and "complete " in script
    ident = gitfleet(fleet, "ids", "allocate", "SP").stdout.strip()
    env = {
        "_GITFLEET_COMPLETE": "bash_complete",
        "COMP_WORDS": "gitfleet ids show SP-",
        "COMP_CWORD": "3",
    }
    answer = gitfleet(fleet, env=env).stdout.splitlines()
    assert f"plain,{ident}" in answer
    env["COMP_WORDS"], env["COMP_CWORD"] = "gitfleet ids allocate ", "3"
    assert "plain,SP" in gitfleet(fleet, env=env).stdout.splitlines()


def test_completion_of_agent_presets(fleet: Path) -> None:
    env = {"_GITFLEET_COMPLETE": "bash_complete", "COMP_CWORD": "4"}
    env["COMP_WORDS"] = "gitfleet spawn 2 --agent cl"
    assert gitfleet(fleet, env=env).stdout.splitlines() == ["plain,claude"]
