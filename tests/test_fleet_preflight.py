"""Spawn's pre-flight: a run that cannot work stops before any id is allocated or any
worktree is made, with one message listing everything that is missing and its fix."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest
from conftest import git, gitfleet

from gitfleet import config
from gitfleet.errors import UsageError
from gitfleet.fleet.display import PlainDisplay
from gitfleet.fleet.spawn import SpawnOptions, spawn
from gitfleet.git.repo import discover


def _spawn(root: Path, **kw: object) -> None:
    repo = discover(root)
    with open(os.devnull, "w") as sink:
        spawn(repo, config.load(repo.toplevel), SpawnOptions(**kw), PlainDisplay(sink))  # type: ignore[arg-type]


def _nothing_happened(root: Path) -> None:
    assert not (root / ".git" / "gitfleet" / "runs").exists(), "no run was recorded"
    assert not (root.parent / f"{root.name}.gitfleet").exists(), "no worktree was made"
    listing = json.loads(gitfleet(root, "ids", "list", "--json").stdout)
    assert [s for s in listing if s.get("status") != "seeded"] == [], "no id was allocated"


def _no_identity(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("GIT_AUTHOR_NAME", "GIT_AUTHOR_EMAIL", "GIT_COMMITTER_NAME", "GIT_COMMITTER_EMAIL"):
        monkeypatch.delenv(var)
    # Without it git may guess user@host; agents' commits would carry that guess.
    git(repo, "config", "user.useConfigOnly", "true")


def test_everything_missing_is_listed_in_one_error(
    story_repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _no_identity(story_repo, monkeypatch)
    git(story_repo, "remote", "set-url", "origin", str(tmp_path / "gone.git"))
    with pytest.raises(UsageError) as caught:
        _spawn(story_repo, count=3, task="t", agent_cmd="no-such-agent-xyz {prompt} {tsk}")
    message = str(caught.value)
    assert message.startswith("spawn did not start anything (4 problems):")
    assert "'no-such-agent-xyz' is not on PATH" in message
    assert "unknown placeholder(s) {tsk}; known: {prompt} {task}" in message
    assert "git has no identity" in message and "git config --global user.email" in message
    assert "the remote 'origin'" in message and "is not reachable" in message
    assert "--no-land" in message
    _nothing_happened(story_repo)


def test_a_missing_preset_names_its_install_command(
    story_repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(
        "PATH", os.pathsep.join([str(Path(sys.executable).parent), "/usr/bin", "/bin"])
    )
    with pytest.raises(UsageError, match="npm install -g @anthropic-ai/claude-code"):
        _spawn(story_repo, count=2, task="t", agent="claude")
    _nothing_happened(story_repo)


def test_landing_needs_the_target_on_the_remote(story_repo: Path, tmp_path: Path) -> None:
    empty = tmp_path / "empty.git"
    git(tmp_path, "init", "-q", "--bare", str(empty))
    git(story_repo, "remote", "set-url", "origin", str(empty))
    with pytest.raises(UsageError, match="has no branch 'main' to land on"):
        _spawn(story_repo, count=1, task="t", agent_cmd="true")
    _nothing_happened(story_repo)
    # Without landing, the remote does not matter.
    _spawn(story_repo, count=1, task="t", agent_cmd="true", land=False)


def test_landing_needs_a_remote(repo: Path) -> None:
    with pytest.raises(UsageError, match="remote 'origin', which is not configured"):
        _spawn(repo, count=1, task="t", agent_cmd="true")
