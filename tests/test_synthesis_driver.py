"""``gitfleet merge-driver`` under a real ``git merge``, registered by ``gitfleet init``."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import commit_file, git, gitfleet


def _sidebar(*items: str) -> str:
    return json.dumps({"title": "Articles", "items": list(items)}, indent=2) + "\n"


def _two_branches(repo: Path, ours: dict[str, str], theirs: dict[str, str]) -> None:
    git(repo, "switch", "-q", "-c", "theirs")
    for rel, text in theirs.items():
        commit_file(repo, rel, text)
    git(repo, "switch", "-q", "main")
    for rel, text in ours.items():
        commit_file(repo, rel, text)


def _opted_in(repo: Path) -> None:
    commit_file(repo, "sidebar.json", _sidebar("a"))
    commit_file(repo, "index.md", "# Index\n- a\n")
    commit_file(repo, ".gitattributes", "sidebar.json merge=gitfleet\nindex.md merge=gitfleet\n")
    out = gitfleet(repo, "init", "--no-route").stdout
    assert "merge drivers registered: gitfleet" in out
    driver = git(repo, "config", "merge.gitfleet.driver").stdout.strip()
    assert driver == "gitfleet merge-driver %O %A %B %P"


def test_git_merge_settles_opted_in_files_through_the_driver(repo: Path) -> None:
    _opted_in(repo)
    _two_branches(
        repo,
        {"sidebar.json": _sidebar("a", "b"), "index.md": "# Index\n- a\n- b\n"},
        {"sidebar.json": _sidebar("a", "c"), "index.md": "# Index\n- a\n- c\n"},
    )
    git(repo, "merge", "-q", "--no-edit", "theirs")
    assert json.loads((repo / "sidebar.json").read_text())["items"] == ["a", "b", "c"]
    assert (repo / "index.md").read_text() == "# Index\n- a\n- b\n- c\n"


def test_a_true_conflict_keeps_gits_markers_and_says_why(repo: Path) -> None:
    _opted_in(repo)
    _two_branches(
        repo,
        {"sidebar.json": _sidebar("a").replace("Articles", "Ours")},
        {"sidebar.json": _sidebar("a").replace("Articles", "Theirs")},
    )
    proc = git(repo, "merge", "--no-edit", "theirs", check=False)
    assert proc.returncode != 0
    assert "both sides changed title differently" in proc.stdout + proc.stderr
    text = (repo / "sidebar.json").read_text()
    assert "<<<<<<< sidebar.json (ours)" in text and '"Theirs"' in text
    assert "sidebar.json" in git(repo, "diff", "--name-only", "--diff-filter=U").stdout


def test_files_not_opted_in_merge_as_git_would(repo: Path) -> None:
    _opted_in(repo)
    _two_branches(repo, {"other.md": "x\nb\n"}, {"other.md": "x\nc\n"})
    proc = git(repo, "merge", "--no-edit", "theirs", check=False)
    assert proc.returncode != 0 and "CONFLICT (add/add)" in proc.stdout


def test_uninstall_removes_the_drivers(repo: Path) -> None:
    _opted_in(repo)
    gitfleet(repo, "uninstall")
    assert git(repo, "config", "merge.gitfleet.driver", check=False).returncode != 0
