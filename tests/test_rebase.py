"""The in-memory rebase (gitfleet.git.rebase) against real repositories."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from conftest import commit_file, git

from gitfleet.errors import UsageError
from gitfleet.git.rebase import Conflict, Rebased, is_ancestor, rebase_range


def rev(repo: Path, name: str) -> str:
    return git(repo, "rev-parse", name).stdout.strip()


def diverged(repo: Path) -> None:
    """main gets main.txt; topic (from the first commit) gets two commits of its own."""
    git(repo, "switch", "-q", "-c", "topic")
    commit_file(repo, "a.txt", "a\n", "add a")
    commit_file(repo, "b.txt", "b\n", "add b")
    git(repo, "switch", "-q", "main")
    commit_file(repo, "main.txt", "main\n", "main moves")


def files_at(repo: Path, commit: str) -> dict[str, str]:
    names = git(repo, "ls-tree", "-r", "--name-only", commit).stdout.split()
    return {n: git(repo, "show", f"{commit}:{n}").stdout for n in names}


def test_clean_replay_linear_on_onto(repo: Path) -> None:
    diverged(repo)
    result = rebase_range(repo, "main", "topic", "main")
    assert isinstance(result, Rebased)
    topic_commits = git(repo, "rev-list", "--reverse", "main..topic").stdout.split()
    assert result.applied == topic_commits
    assert result.skipped == []
    assert len(result.created) == 2
    assert result.new_tip == result.created[-1]
    # linear on main, holding every file
    chain = git(repo, "rev-list", "--first-parent", f"main..{result.new_tip}").stdout.split()
    assert chain == list(reversed(result.created))
    assert git(repo, "rev-parse", f"{result.created[0]}^").stdout.strip() == rev(repo, "main")
    assert files_at(repo, result.new_tip) == {
        "README.md": "hello\n",
        "a.txt": "a\n",
        "b.txt": "b\n",
        "main.txt": "main\n",
    }


def test_author_and_message_preserved_committer_from_environment(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    git(repo, "switch", "-q", "-c", "topic")
    monkeypatch.setenv("GIT_AUTHOR_NAME", "Agent Seven")
    monkeypatch.setenv("GIT_AUTHOR_EMAIL", "seven@fleet.example")
    monkeypatch.setenv("GIT_AUTHOR_DATE", "2020-02-03T04:05:06+0530")
    message = "Subject line\n\nBody paragraph.\n\nRefs: SP-152\n"
    (repo / "x.txt").write_text("x\n")
    git(repo, "add", "x.txt")
    git(repo, "commit", "-q", "-m", message)
    git(repo, "switch", "-q", "main")
    commit_file(repo, "main.txt", "main\n")
    monkeypatch.setenv("GIT_COMMITTER_NAME", "Lander")
    monkeypatch.setenv("GIT_COMMITTER_EMAIL", "lander@fleet.example")
    monkeypatch.setenv("GIT_COMMITTER_DATE", "2021-01-01T00:00:00+0000")

    result = rebase_range(repo, "main", "topic", "main")
    assert isinstance(result, Rebased)
    fmt = "%an|%ae|%ad|%cn|%ce|%cd"
    shown = git(repo, "log", "-1", f"--format={fmt}", "--date=raw", result.new_tip).stdout
    original = git(repo, "log", "-1", "--format=%ad", "--date=raw", "topic").stdout.strip()
    author = f"Agent Seven|seven@fleet.example|{original}"
    assert shown.strip() == f"{author}|Lander|lander@fleet.example|1609459200 +0000"
    assert original == "1580682906 +0530"
    raw = git(repo, "cat-file", "commit", result.new_tip).stdout
    assert raw.split("\n\n", 1)[1] == message


def test_skips_patch_already_on_onto(repo: Path) -> None:
    diverged(repo)
    # main got topic's first change another way (cherry-picked: same patch, new commit)
    first = git(repo, "rev-list", "--reverse", "main..topic").stdout.split()[0]
    git(repo, "cherry-pick", first)
    result = rebase_range(repo, "main", "topic", "main")
    assert isinstance(result, Rebased)
    assert result.skipped == [first]
    assert len(result.applied) == 1 and len(result.created) == 1
    assert files_at(repo, result.new_tip)["a.txt"] == "a\n"
    # a.txt is added once: the replayed commit touches only b.txt
    changed = git(repo, "diff-tree", "--no-commit-id", "--name-only", "-r", result.new_tip)
    assert changed.stdout.split() == ["b.txt"]


def test_commit_that_becomes_empty_is_skipped(repo: Path) -> None:
    git(repo, "switch", "-q", "-c", "topic")
    commit_file(repo, "a.txt", "same\n", "topic adds a")
    git(repo, "switch", "-q", "main")
    commit_file(repo, "other.txt", "o\n")
    # the same content arrives with a different patch (two steps), so patch-ids differ
    commit_file(repo, "a.txt", "draft\n")
    commit_file(repo, "a.txt", "same\n")
    topic = rev(repo, "topic")
    result = rebase_range(repo, "main", "topic", "main")
    assert isinstance(result, Rebased)
    assert result.skipped == [topic] and result.applied == []
    assert result.new_tip == rev(repo, "main")


def test_conflict_names_the_files(repo: Path) -> None:
    commit_file(repo, "notes.txt", "base\n")
    git(repo, "switch", "-q", "-c", "topic")
    commit_file(repo, "fine.txt", "fine\n", "no conflict here")
    commit_file(repo, "notes.txt", "topic\n", "topic edits notes")
    (repo / "README.md").write_text("topic readme\n")
    git(repo, "commit", "-qam", "topic edits readme")
    git(repo, "switch", "-q", "main")
    commit_file(repo, "notes.txt", "main\n", "main edits notes")
    commit_file(repo, "README.md", "main readme\n", "main edits readme")
    result = rebase_range(repo, "main", "topic", "main")
    assert isinstance(result, Conflict)
    assert result.paths == ["notes.txt"]
    assert result.commit == rev(repo, "topic~1")


def test_nothing_but_objects_is_written(repo: Path, tmp_path: Path) -> None:
    diverged(repo)
    wt = tmp_path / "wt"
    git(repo, "worktree", "add", "-q", str(wt), "topic")
    (wt / "dirty.txt").write_text("untracked work in progress\n")
    (wt / "a.txt").write_text("modified, not staged\n")

    def snapshot() -> tuple[str, ...]:
        return (
            git(repo, "for-each-ref", "--format=%(refname) %(objectname)").stdout,
            git(repo, "status", "--porcelain").stdout,
            git(wt, "status", "--porcelain").stdout,
            hashlib.sha256((repo / ".git" / "index").read_bytes()).hexdigest(),
            hashlib.sha256(
                Path(git(wt, "rev-parse", "--git-dir").stdout.strip(), "index").read_bytes()
            ).hexdigest(),
            (repo / ".git" / "HEAD").read_text(),
            (wt / "a.txt").read_text(),
            git(repo, "stash", "list").stdout,
        )

    before = snapshot()
    result = rebase_range(wt, "main", "topic", "main")
    assert isinstance(result, Rebased)
    conflict_branch = git(repo, "rev-parse", "main").stdout.strip()
    assert snapshot() == before
    # the new commits exist as objects only
    assert git(repo, "cat-file", "-t", result.new_tip).stdout.strip() == "commit"
    assert result.new_tip not in git(repo, "for-each-ref", "--format=%(objectname)").stdout
    assert conflict_branch == rev(repo, "main")
    assert not (repo / ".git" / "REBASE_HEAD").exists()
    assert not (repo / ".git" / "rebase-merge").exists()


def test_up_to_date_branch_keeps_its_commits(repo: Path) -> None:
    git(repo, "switch", "-q", "-c", "topic")
    commit_file(repo, "a.txt", "a\n")
    commit_file(repo, "b.txt", "b\n")
    result = rebase_range(repo, "main", "topic", "main")
    assert isinstance(result, Rebased)
    assert result.new_tip == rev(repo, "topic")
    assert result.created == []
    assert len(result.applied) == 2


def test_nothing_to_replay(repo: Path) -> None:
    result = rebase_range(repo, "main", "main", "main")
    assert result == Rebased(rev(repo, "main"), [], [], [])


def test_merge_commits_are_dropped_and_linearised(repo: Path) -> None:
    git(repo, "switch", "-q", "-c", "topic")
    commit_file(repo, "a.txt", "a\n")
    git(repo, "switch", "-q", "-c", "side", "main")
    commit_file(repo, "side.txt", "s\n")
    git(repo, "switch", "-q", "topic")
    git(repo, "merge", "-q", "--no-ff", "--no-edit", "side")
    commit_file(repo, "c.txt", "c\n")
    git(repo, "switch", "-q", "main")
    commit_file(repo, "main.txt", "m\n")
    result = rebase_range(repo, "main", "topic", "main")
    assert isinstance(result, Rebased)
    assert len(result.created) == 3  # a, side, c; the merge commit itself is gone
    merges = git(repo, "rev-list", "--merges", f"main..{result.new_tip}").stdout.split()
    assert merges == []
    assert set(files_at(repo, result.new_tip)) == {
        "README.md",
        "a.txt",
        "side.txt",
        "c.txt",
        "main.txt",
    }


def test_onto_differs_from_upstream(repo: Path) -> None:
    """``git rebase --onto X upstream``: only upstream..head moves, onto X."""
    git(repo, "switch", "-q", "-c", "old-base")
    commit_file(repo, "base-only.txt", "dropped\n")
    git(repo, "switch", "-q", "-c", "topic")
    commit_file(repo, "t.txt", "t\n")
    result = rebase_range(repo, "old-base", "topic", "main")
    assert isinstance(result, Rebased)
    assert set(files_at(repo, result.new_tip)) == {"README.md", "t.txt"}


def test_unknown_revision_is_a_clear_error(repo: Path) -> None:
    with pytest.raises(UsageError, match="no-such-branch"):
        rebase_range(repo, "main", "no-such-branch", "main")


def test_is_ancestor(repo: Path) -> None:
    diverged(repo)
    first = git(repo, "rev-list", "--max-parents=0", "HEAD").stdout.strip()
    assert is_ancestor(repo, first, "topic")
    assert is_ancestor(repo, "main", "main")
    assert not is_ancestor(repo, "topic", "main")
