"""A spawn bigger than [spawn] max_agents is refused before anything is allocated or made."""

from __future__ import annotations

from pathlib import Path

from conftest import gitfleet


def test_too_many_agents_are_refused_before_any_allocation(story_repo: Path) -> None:
    huge = gitfleet(story_repo, "spawn", "1000000000", "--task", "t", "--agent-cmd", "true",
                    check=False, timeout=60)  # fmt: skip
    assert huge.returncode == 2, huge.stderr
    assert "more agents than [spawn] max_agents (64); nothing was allocated" in huge.stderr
    with open(story_repo / "gitfleet.toml", "a") as fh:
        fh.write("\n[spawn]\nmax_agents = 2\n")
    three = gitfleet(story_repo, "spawn", "3", "--task", "t", "--agent-cmd", "true", check=False)
    assert three.returncode == 2 and "max_agents (2)" in three.stderr
    assert gitfleet(story_repo, "ids", "list").stdout == ""
    assert not (story_repo.parent / "story.gitfleet").exists()
