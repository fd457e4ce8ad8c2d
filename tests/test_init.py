"""`gitfleet init` / `uninstall`: inference, idempotence, chaining, routing, restoring."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import git, gitfleet

from gitfleet import config


def _hooks(repo: Path) -> Path:
    return repo / ".git" / "hooks"


def test_init_infers_series_and_writes_a_valid_config(story_repo: Path) -> None:
    (story_repo / "gitfleet.toml").unlink()
    git(story_repo, "commit", "-q", "-am", "drop config")
    out = gitfleet(
        story_repo, "init", "--series", "SP", "--guard", "scripts/article-counter.json"
    ).stdout
    assert "series SP: ledger starts above 151" in out
    cfg = config.load(story_repo)
    sp = cfg.series["SP"]
    assert (sp.width, sp.paths, sp.front_matter) == (3, ("articles/*.md",), "ticketId")
    assert cfg.guarded == ("scripts/article-counter.json",)
    assert gitfleet(story_repo, "ids", "allocate", "SP").stdout.strip() == "SP-152"


def test_init_is_idempotent_and_chains_an_existing_hook(story_repo: Path) -> None:
    marker = story_repo / "user-hook-ran"
    user_hook = _hooks(story_repo) / "pre-commit"
    user_hook.write_text(f"#!/bin/sh\necho ran >> {marker}\n")
    user_hook.chmod(0o755)
    gitfleet(story_repo, "init")
    gitfleet(story_repo, "init")
    assert "gitfleet hook shim" in user_hook.read_text()
    orig = _hooks(story_repo) / "pre-commit.gitfleet-orig"
    assert "echo ran" in orig.read_text()
    assert not (_hooks(story_repo) / "pre-commit.gitfleet-orig.gitfleet-orig").exists()
    (story_repo / "note.txt").write_text("x\n")
    git(story_repo, "add", "note.txt")
    git(story_repo, "commit", "-q", "-m", "note")
    assert marker.read_text() == "ran\n"  # the user's hook still runs, once
    # ours runs first and its refusal stops the chain
    (story_repo / "articles" / "SP-200.md").write_text("---\nticketId: SP-200\n---\n")
    git(story_repo, "add", "-A")
    assert git(story_repo, "commit", "-q", "-m", "bad", check=False).returncode != 0
    assert marker.read_text() == "ran\n"
    gitfleet(story_repo, "uninstall")
    assert "echo ran" in user_hook.read_text() and not orig.exists()


def test_pre_push_chain_passes_every_stdin_line_to_the_original_hook(story_repo: Path) -> None:
    seen = story_repo.parent / "seen"
    user_hook = _hooks(story_repo) / "pre-push"
    user_hook.write_text(f"#!/bin/sh\ncat > {seen}\n")
    user_hook.chmod(0o755)
    gitfleet(story_repo, "init", "--no-route")
    git(story_repo, "branch", "b1")
    git(story_repo, "branch", "b2")
    git(story_repo, "push", "-q", "origin", "b1", "b2")
    lines = seen.read_text().splitlines()
    assert [line.split()[0] for line in lines] == ["refs/heads/b1", "refs/heads/b2"]


def test_cooperates_with_the_pre_commit_framework(story_repo: Path) -> None:
    (story_repo / ".pre-commit-config.yaml").write_text("repos: []\n")
    git(story_repo, "add", ".pre-commit-config.yaml")
    git(story_repo, "commit", "-q", "-m", "pc")
    pre_commit = str(Path(sys.executable).parent / "pre-commit")
    subprocess.run(
        [pre_commit, "install", "-t", "pre-commit", "-t", "pre-push"],
        cwd=story_repo,
        check=True,
        capture_output=True,
    )
    framework_hook = (_hooks(story_repo) / "pre-commit").read_text()
    gitfleet(story_repo, "init")
    assert (_hooks(story_repo) / "pre-commit").read_text() == framework_hook  # not overwritten
    assert "gitfleet hook shim" in (_hooks(story_repo) / "pre-commit.legacy").read_text()
    assert "gitfleet hook shim" in (_hooks(story_repo) / "pre-push.legacy").read_text()
    (story_repo / "articles" / "SP-201.md").write_text("---\nticketId: SP-201\n---\n")
    git(story_repo, "add", "-A")
    proc = git(story_repo, "commit", "-q", "-m", "bad", check=False)
    assert proc.returncode != 0 and "SP-201" in proc.stdout + proc.stderr
    gitfleet(story_repo, "uninstall")
    assert not (_hooks(story_repo) / "pre-commit.legacy").exists()
    assert (_hooks(story_repo) / "pre-commit").read_text() == framework_hook


def test_routes_pushes_and_uninstall_restores_the_push_url(story_repo: Path) -> None:
    url = git(story_repo, "config", "remote.origin.url").stdout.strip()
    out = gitfleet(story_repo, "init").stdout
    assert f"gitfleet::{url}" in out
    assert git(story_repo, "config", "remote.origin.pushurl").stdout.strip() == f"gitfleet::{url}"
    assert git(story_repo, "config", "remote.origin.url").stdout.strip() == url  # fetches untouched
    gitfleet(story_repo, "init")
    assert git(story_repo, "config", "--get-all", "remote.origin.pushurl").stdout.split() == [
        f"gitfleet::{url}"
    ]
    gitfleet(story_repo, "uninstall")
    assert git(story_repo, "config", "remote.origin.pushurl", check=False).returncode == 1
    # an existing push URL is wrapped, then given back
    git(story_repo, "config", "remote.origin.pushurl", "/elsewhere.git")
    gitfleet(story_repo, "init")
    assert (
        git(story_repo, "config", "remote.origin.pushurl").stdout.strip()
        == "gitfleet::/elsewhere.git"
    )
    gitfleet(story_repo, "uninstall")
    assert git(story_repo, "config", "remote.origin.pushurl").stdout.strip() == "/elsewhere.git"


def test_missing_helper_is_reported_and_pushes_stay_unrouted(story_repo: Path) -> None:
    # Only git and the interpreter on PATH: git-remote-gitfleet cannot be found.
    gitbin = os.path.dirname(
        subprocess.run(
            ["sh", "-c", "command -v git"], capture_output=True, text=True
        ).stdout.strip()
    )
    proc = subprocess.run(
        [sys.executable, "-m", "gitfleet", "init"],
        cwd=story_repo,
        capture_output=True,
        text=True,
        env={**os.environ, "PATH": gitbin},
    )
    assert proc.returncode == 0, proc.stderr
    assert "git-remote-gitfleet is not on PATH" in proc.stderr and "NOT routed" in proc.stderr
    assert git(story_repo, "config", "remote.origin.pushurl", check=False).returncode == 1


def test_hooks_serve_every_linked_worktree(story_repo: Path) -> None:
    gitfleet(story_repo, "init")
    wt = story_repo.parent / "wt"
    git(story_repo, "worktree", "add", "-q", "-b", "agent", str(wt))
    (wt / "articles" / "SP-152.md").write_text("---\nticketId: SP-152\n---\n")
    git(wt, "add", "-A")
    proc = git(wt, "commit", "-q", "-m", "x", check=False)
    assert proc.returncode != 0 and "never allocated" in proc.stderr


def test_pre_push_shim_leaves_routed_pushes_to_the_helper(story_repo: Path) -> None:
    """The helper checks a routed push under its lease; the shim does not start python for
    it, yet still runs the hook that was there before and passes it stdin."""
    hooks = story_repo / ".git" / "hooks"
    (hooks / "pre-push").write_text('#!/bin/sh\ncat > "$0.seen"\n')
    (hooks / "pre-push").chmod(0o755)
    gitfleet(story_repo, "init", "--series", "SP")
    shim = hooks / "pre-push"
    text = shim.read_text().replace(sys.executable, "/nonexistent/python")
    shim.write_text(text)
    env = {**os.environ, "PATH": "/usr/bin:/bin"}  # no gitfleet to fall back on either
    line = "refs/heads/main 1111 refs/heads/main 2222\n"
    routed = subprocess.run(
        [str(shim), "origin", "gitfleet::/somewhere"], input=line, env=env,
        capture_output=True, text=True, cwd=story_repo,
    )  # fmt: skip
    assert routed.returncode == 0, routed.stderr
    assert (hooks / "pre-push.gitfleet-orig.seen").read_text() == line
    direct = subprocess.run(
        [str(shim), "origin", "/somewhere"], input=line, env=env,
        capture_output=True, text=True, cwd=story_repo,
    )  # fmt: skip
    assert direct.returncode != 0 and "is gone" in direct.stderr


@pytest.mark.parametrize("bad", ["../../etc", "S P", ""])
def test_init_refuses_a_series_that_cannot_start_an_id(story_repo: Path, bad: str) -> None:
    (story_repo / "gitfleet.toml").unlink()
    proc = gitfleet(story_repo, "init", "--series", bad, check=False)
    assert proc.returncode == 2, proc.stderr
    assert f"--series is {bad!r}" in proc.stderr and "starting with a letter" in proc.stderr
    assert not (story_repo / "gitfleet.toml").exists()


def test_init_updates_an_existing_config_in_place(story_repo: Path) -> None:
    cfg = story_repo / "gitfleet.toml"
    cfg.write_text("# my own comment\n" + cfg.read_text())
    (story_repo / "notes").mkdir()
    (story_repo / "notes" / "NT-01.md").write_text("a note\n")
    git(story_repo, "add", "-A")
    git(story_repo, "commit", "-q", "-m", "a note")
    gitfleet(story_repo, "init", "--series", "NT", "--guard", "./scripts/article-counter.json")
    gitfleet(story_repo, "init", "--guard", "/README.md", "--no-route")
    text = cfg.read_text()
    assert text.startswith("# my own comment\n")
    loaded = config.load(story_repo)
    assert loaded.series["NT"].paths == ("notes/*.md",) and loaded.series["NT"].width == 2
    assert loaded.guarded == ("scripts/article-counter.json", "README.md")


def test_paths_leaving_the_repository_are_refused(story_repo: Path) -> None:
    cfg = story_repo / "gitfleet.toml"
    cfg.write_text(cfg.read_text().replace('"articles/*.md"', '"../**"'))
    proc = gitfleet(story_repo, "ids", "list", check=False)
    assert proc.returncode == 2 and "'../**' is not a path inside the repository" in proc.stderr
    cfg.write_text(cfg.read_text().replace('"../**"', '"./articles/*.md"'))
    assert config.load(story_repo).series["SP"].paths == ("articles/*.md",)


def test_an_owner_must_be_a_branch_name(story_repo: Path) -> None:
    for bad in ("", "a\tb", "x\ny"):
        proc = gitfleet(story_repo, "ids", "allocate", "SP", "--owner", bad, check=False)
        assert proc.returncode == 2 and "is not a branch name" in proc.stderr
    assert gitfleet(story_repo, "ids", "list").stdout == ""


def test_with_gitfleet_ids_in_the_framework_config_only_the_push_gate_is_installed(
    story_repo: Path,
) -> None:
    (story_repo / ".pre-commit-config.yaml").write_text(
        "repos:\n  - repo: local\n    hooks:\n      - id: gitfleet-ids\n        name: ids\n"
        "        entry: gitfleet hook pre-commit\n        language: system\n"
        "        pass_filenames: false\n        always_run: true\n"
    )
    git(story_repo, "add", ".pre-commit-config.yaml")
    git(story_repo, "commit", "-q", "-m", "pc")
    pre_commit = str(Path(sys.executable).parent / "pre-commit")
    env = {**os.environ, "PRE_COMMIT_HOME": str(story_repo.parent / "pc-home")}
    subprocess.run(
        [pre_commit, "install"], cwd=story_repo, check=True, capture_output=True, env=env
    )
    result = gitfleet(story_repo, "init", "--json", env={"PRE_COMMIT_HOME": env["PRE_COMMIT_HOME"]})
    hooks = json.loads(result.stdout)["hooks"]
    assert hooks["pre-commit"].startswith("run by the pre-commit framework")
    assert not (_hooks(story_repo) / "pre-commit.legacy").exists()
    assert "gitfleet hook shim" in (_hooks(story_repo) / "pre-push").read_text()
    (story_repo / "articles" / "SP-201.md").write_text("---\nticketId: SP-201\n---\n")
    git(story_repo, "add", "-A")
    proc = subprocess.run(
        ["git", "commit", "-q", "-m", "bad"], cwd=story_repo, env=env, capture_output=True,
        text=True,
    )  # fmt: skip
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0 and out.count("SP-201 (claimed by") == 1, out
