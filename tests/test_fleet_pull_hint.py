"""After spawn lands work on the remote, the local target is behind it: spawn says how to
catch up, and says nothing once it has."""

from __future__ import annotations

from pathlib import Path

from conftest import git, gitfleet
from fleet_fixtures import agent_cmd, write_agent


def test_spawn_says_how_to_catch_up_with_what_landed(story_repo: Path, tmp_path: Path) -> None:
    script = write_agent(tmp_path)
    out = gitfleet(story_repo, "spawn", "2", "--task", "t", "--agent-cmd",
                   agent_cmd(script, "commit")).stdout  # fmt: skip
    hint = ("gitfleet: your main is 2 commits behind origin/main after landing; catch up "
            "with `git pull --ff-only origin main`")  # fmt: skip
    assert hint in out, out
    git(story_repo, "pull", "-q", "--ff-only", "origin", "main")
    again = gitfleet(story_repo, "spawn", "1", "--task", "t", "--agent-cmd",
                     agent_cmd(script, "commit")).stdout  # fmt: skip
    assert "1 commit behind origin/main" in again
    git(story_repo, "commit", "-q", "--allow-empty", "-m", "local work")
    diverged = gitfleet(story_repo, "spawn", "1", "--task", "t", "--agent-cmd",
                        agent_cmd(script, "commit")).stdout  # fmt: skip
    assert "catch up with `git pull --rebase origin main`" in diverged


def test_no_hint_without_landing(story_repo: Path, tmp_path: Path) -> None:
    script = write_agent(tmp_path)
    out = gitfleet(story_repo, "spawn", "1", "--task", "t", "--agent-cmd",
                   agent_cmd(script, "commit"), "--no-land").stdout  # fmt: skip
    assert "behind" not in out
