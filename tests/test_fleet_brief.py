"""The brief says how to claim the id: a concrete path built from the series' config."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from conftest import gitfleet

from gitfleet import config
from gitfleet.config import Series
from gitfleet.fleet import brief
from gitfleet.fleet.agents import PLACEHOLDERS, PRESETS
from gitfleet.fleet.display import PlainDisplay
from gitfleet.fleet.spawn import SpawnOptions, spawn
from gitfleet.git.repo import discover


@pytest.mark.parametrize(
    ("pattern", "path"),
    [
        ("articles/*.md", "articles/SP-152.md"),
        ("docs/**/*.md", "docs/SP-152.md"),
        ("/tickets/*/index.md", "tickets/SP-152/index.md"),
        ("notes/SP-*.txt", "notes/SP-152.txt"),
    ],
)
def test_example_path(pattern: str, path: str) -> None:
    assert brief.example_path(pattern, "SP-152") == path


def test_claim_line_without_front_matter_or_paths() -> None:
    named = Series("SP", "SP", 3, ("articles/*.md",))
    assert brief.claim_line(named, "SP-7") == (
        "- Claim it with a file such as `articles/SP-7.md` (any path matching "
        "`articles/*.md`, named for the id).\n"
    )
    assert brief.claim_line(Series("SP", "SP"), "SP-7") == ""


def test_spawned_agents_brief_shows_how_to_claim(story_repo: Path) -> None:
    repo = discover(story_repo)
    opts = SpawnOptions(count=1, task="Write it", agent_cmd="true", land=False)
    with open(os.devnull, "w") as sink:
        state = spawn(repo, config.load(repo.toplevel), opts, PlainDisplay(sink))
    text = Path(state.agents[0].brief).read_text()
    assert (
        "- Claim it with a file such as `articles/SP-152.md` (any path matching "
        "`articles/*.md`),\n  whose front matter sets `ticketId: SP-152`.\n"
    ) in text


def test_spawn_help_shows_defaults_examples_and_every_placeholder(story_repo: Path) -> None:
    text = gitfleet(story_repo, "spawn", "--help").stdout
    assert "Examples:" in text and 'gitfleet spawn 3 --agent claude --task "' in text
    assert all("{" + p + "}" in text for p in PLACEHOLDERS)
    assert all(p in text for p in PRESETS)
    assert "(default: all N)" in text and "(default: never)" in text
