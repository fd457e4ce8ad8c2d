"""``[land.regenerate]``: a package-lock.json both branches changed is rebuilt by its
command in a scratch worktree, never merged, and lands as one more commit."""

from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path

import pytest
from conftest import git
from synthesis_fixtures import commit_files, seed_remote

from gitfleet import config
from gitfleet.errors import ConfigError
from gitfleet.git.repo import discover
from gitfleet.land import landing

# what `npm install --package-lock-only` does, for the test: the lock follows package.json
LOCK = """
import json
deps = json.load(open("package.json"))["dependencies"]
lock = {"lockfileVersion": 3, "packages": {n: {"version": v} for n, v in sorted(deps.items())}}
open("package-lock.json", "w").write(json.dumps(lock, indent=2) + "\\n")
"""


def _package(**deps: str) -> str:
    return json.dumps({"name": "site", "dependencies": deps}, indent=2) + "\n"


def _lock(**deps: str) -> str:
    packages = {n: {"version": v} for n, v in sorted(deps.items())}
    return json.dumps({"lockfileVersion": 3, "packages": packages}, indent=2) + "\n"


def _setup(tmp_path: Path, command: str) -> tuple[Path, Path]:
    remote, work = seed_remote(tmp_path)
    (tmp_path / "lock.py").write_text(LOCK)
    conf = f'[land.regenerate]\n"package-lock.json" = {json.dumps(command)}\n'
    files = {
        "gitfleet.toml": conf,
        "package.json": _package(a="1"),
        "package-lock.json": _lock(a="1"),
    }
    commit_files(work, "setup", files)
    landing.land(discover(work), config.load(work), ["setup"], check="")
    git(work, "fetch", "-q", "origin")
    git(work, "reset", "-q", "--hard", "origin/main")
    for name, version in (("b", "2"), ("c", "3")):
        deps = {"a": "1", name: version}
        files = {"package.json": _package(**deps), "package-lock.json": _lock(**deps)}
        commit_files(work, f"add-{name}", files, base="origin/main")
    return remote, work


def test_a_lockfile_both_sides_changed_is_regenerated(tmp_path: Path) -> None:
    command = shlex.join([sys.executable, str(tmp_path / "lock.py")])
    remote, work = _setup(tmp_path, command)
    first, second = landing.land(discover(work), config.load(work), ["add-b", "add-c"], check="")
    assert first.status == "landed" and second.status == "landed", second.message
    resolved = {r["path"]: r["rung"] for r in second.resolved}
    assert resolved == {"package.json": "structured", "package-lock.json": "regenerate"}
    lock = json.loads(git(remote, "show", "main:package-lock.json").stdout)
    assert sorted(lock["packages"]) == ["a", "b", "c"]
    assert git(remote, "log", "-1", "--format=%s", "main").stdout.strip() == (
        "gitfleet: regenerate package-lock.json"
    )


def test_a_failing_regenerate_command_lands_nothing(tmp_path: Path) -> None:
    remote, work = _setup(tmp_path, "echo cannot reach the registry; exit 4")
    first, second = landing.land(discover(work), config.load(work), ["add-b", "add-c"], check="")
    assert first.status == "landed" and second.status == "check-failed"
    assert "exit 4" in second.message and "cannot reach the registry" in second.check_output
    assert "c" not in json.loads(git(remote, "show", "main:package.json").stdout)["dependencies"]


def test_land_resolve_and_regenerate_are_validated(tmp_path: Path) -> None:
    path = tmp_path / "gitfleet.toml"
    default = config.parse(path, "")
    assert default.land_resolve == ("attributes", "structured", "lines", "claude", "agent")
    chosen = config.parse(path, '[land]\nresolve = ["lines", "structured"]\n')
    assert chosen.land_resolve == ("lines", "structured")
    for text, message in (
        ('[land]\nresolve = ["merge-harder"]\n', "expected a list of rungs from"),
        ('[land]\nresolve = ["lines", "lines"]\n', "each once"),
        ('[land.regenerate]\n"uv.lock" = 3\n', "a shell command"),
    ):
        with pytest.raises(ConfigError, match=message):
            config.parse(path, text)
