"""``gitfleet land`` says each outcome once: "feat: landed feat on main", never
"feat: landed: landed feat on main"."""

from __future__ import annotations

from pathlib import Path

from conftest import commit_file, git, gitfleet


def test_landing_is_said_once(repo: Path, remote: Path) -> None:
    git(repo, "remote", "add", "origin", str(remote))
    git(repo, "push", "-q", "origin", "main")
    git(repo, "checkout", "-q", "-b", "feat")
    commit_file(repo, "a.txt", "a\n")
    git(repo, "checkout", "-q", "main")
    out = gitfleet(repo, "land", "feat").stdout
    assert out.startswith("feat: landed feat on main: 1 commit"), out
    assert "landed: landed" not in out
