"""The pre-commit id check, fired by real `git commit` in linked worktrees."""

from __future__ import annotations

import subprocess
from pathlib import Path

from conftest import git, gitfleet


def _article(ident: str) -> str:
    return f"---\nticketId: {ident}\ntitle: t\n---\n\nBody mentioning SP-001 in prose.\n"


def _commit(wt: Path, rel: str, text: str) -> subprocess.CompletedProcess[str]:
    (wt / rel).parent.mkdir(parents=True, exist_ok=True)
    (wt / rel).write_text(text)
    git(wt, "add", rel)
    return git(wt, "commit", "-q", "-m", f"add {rel}", check=False)


def test_allocated_id_commits(fleet: Path) -> None:
    a1 = fleet.parent / "a1"
    ident = gitfleet(a1, "ids", "allocate", "SP").stdout.strip()
    proc = _commit(a1, f"articles/{ident}.md", _article(ident))
    assert proc.returncode == 0, proc.stderr


def test_unallocated_id_is_refused(fleet: Path) -> None:
    a1 = fleet.parent / "a1"
    proc = _commit(a1, "articles/SP-152.md", _article("SP-152"))
    assert proc.returncode != 0
    assert "SP-152 (claimed by articles/SP-152.md) was never allocated" in proc.stderr
    assert "gitfleet ids allocate SP" in proc.stderr
    assert git(a1, "log", "-1", "--format=%s").stdout.strip() == "gitfleet"


def test_id_of_another_owner_is_refused(fleet: Path) -> None:
    a1, a2 = fleet.parent / "a1", fleet.parent / "a2"
    ident = gitfleet(a1, "ids", "allocate", "SP").stdout.strip()
    proc = _commit(a2, f"articles/{ident}.md", _article(ident))
    assert proc.returncode != 0
    assert (
        f"{ident} (claimed by articles/{ident}.md) is allocated to fleet/a1, not to fleet/a2"
        in proc.stderr
    )


def test_front_matter_claim_in_any_file_name(fleet: Path) -> None:
    a1 = fleet.parent / "a1"
    proc = _commit(a1, "articles/my-draft.md", _article("SP-170"))
    assert proc.returncode != 0 and "SP-170 (claimed by articles/my-draft.md)" in proc.stderr


def test_prose_mentions_are_not_claims(fleet: Path) -> None:
    a1 = fleet.parent / "a1"
    proc = _commit(a1, "articles/notes.md", "See SP-999 and SP-152 for details.\n")
    assert proc.returncode == 0, proc.stderr
    proc = _commit(a1, "docs/SP-500.md", "outside the claim globs\n")
    assert proc.returncode == 0, proc.stderr


def test_duplicate_in_whole_tree_is_refused(fleet: Path) -> None:
    a1 = fleet.parent / "a1"
    ident = gitfleet(a1, "ids", "allocate", "SP").stdout.strip()
    assert _commit(a1, f"articles/{ident}.md", _article(ident)).returncode == 0
    proc = _commit(a1, "articles/copy.md", _article(ident))
    assert proc.returncode != 0
    assert f"{ident} is claimed by 2 files: articles/{ident}.md, articles/copy.md" in proc.stderr


def test_duplicate_from_merging_two_clean_branches_is_refused(fleet: Path) -> None:
    """Each branch alone is clean; the merge brings two files claiming one id together."""
    a1, a2 = fleet.parent / "a1", fleet.parent / "a2"
    ident = gitfleet(a1, "ids", "allocate", "SP").stdout.strip()
    assert _commit(a1, f"articles/{ident}.md", _article(ident)).returncode == 0
    # a2 copies the file under another name with --no-verify (a sloppy agent)
    (a2 / "articles" / "other.md").write_text(_article(ident))
    git(a2, "add", "-A")
    git(a2, "commit", "-q", "--no-verify", "-m", "sloppy")
    proc = git(a1, "merge", "--no-ff", "-m", "merge", "fleet/a2", check=False)
    assert proc.returncode != 0
    assert f"{ident} is claimed by 2 files" in proc.stderr + proc.stdout


def test_merge_of_another_owners_clean_work_is_allowed(fleet: Path) -> None:
    a1 = fleet.parent / "a1"
    ident = gitfleet(a1, "ids", "allocate", "SP").stdout.strip()
    assert _commit(a1, f"articles/{ident}.md", _article(ident)).returncode == 0
    proc = git(fleet, "merge", "--no-ff", "-m", "merge a1", "fleet/a1", check=False)
    assert proc.returncode == 0, proc.stderr


def test_guarded_file_is_refused_even_with_commit_all(fleet: Path) -> None:
    a1 = fleet.parent / "a1"
    (a1 / "scripts" / "article-counter.json").write_text('{"SP": {"next": 153}}\n')
    proc = git(a1, "commit", "-q", "-a", "-m", "bump counter", check=False)  # temporary index
    assert proc.returncode != 0
    assert "scripts/article-counter.json is guarded" in proc.stderr
    assert "git restore --staged --worktree -- scripts/article-counter.json" in proc.stderr


def test_editing_an_existing_article_needs_no_allocation(fleet: Path) -> None:
    a1 = fleet.parent / "a1"
    proc = _commit(a1, "articles/SP-007.md", _article("SP-007") + "edited\n")
    assert proc.returncode == 0, proc.stderr


def test_released_id_is_refused(fleet: Path) -> None:
    a1 = fleet.parent / "a1"
    ident = gitfleet(a1, "ids", "allocate", "SP").stdout.strip()
    gitfleet(a1, "ids", "release", ident)
    proc = _commit(a1, f"articles/{ident}.md", _article(ident))
    assert proc.returncode != 0 and "was released and is never reissued" in proc.stderr


PRE_COMMIT_CONFIG = """\
repos:
  - repo: local
    hooks:
      - id: gitfleet-ids
        name: gitfleet id check
        entry: gitfleet hook pre-commit
        language: system
        stages: [pre-commit]
        pass_filenames: false
        always_run: true
"""


def test_through_the_pre_commit_framework(story_repo: Path) -> None:
    """The same check run by pre-commit itself (it stashes unstaged changes, passes no stdin)."""
    (story_repo / ".pre-commit-config.yaml").write_text(PRE_COMMIT_CONFIG)
    git(story_repo, "add", ".pre-commit-config.yaml")
    git(story_repo, "commit", "-q", "-m", "pre-commit config")
    pre_commit = Path(__import__("sys").executable).parent / "pre-commit"
    subprocess.run([str(pre_commit), "install"], cwd=story_repo, check=True, capture_output=True)
    (story_repo / "articles" / "SP-152.md").write_text(_article("SP-152"))
    (story_repo / "unstaged.txt").write_text("left alone\n")
    git(story_repo, "add", "articles/SP-152.md")
    proc = git(story_repo, "commit", "-m", "unallocated", check=False)
    assert proc.returncode != 0
    assert "SP-152 (claimed by articles/SP-152.md) was never allocated" in proc.stdout + proc.stderr
    gitfleet(story_repo, "ids", "allocate", "SP")
    proc = git(story_repo, "commit", "-m", "allocated", check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert (story_repo / "unstaged.txt").read_text() == "left alone\n"


def test_manifest_is_valid_for_pre_commit() -> None:
    root = Path(__file__).resolve().parent.parent
    pre_commit = Path(__import__("sys").executable).parent / "pre-commit"
    proc = subprocess.run(
        [str(pre_commit), "validate-manifest", str(root / ".pre-commit-hooks.yaml")],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_push_check_of_a_new_ref_looks_only_at_outgoing_commits(fleet: Path) -> None:
    from gitfleet import config
    from gitfleet.git.repo import discover
    from gitfleet.ids import idcheck

    repo, cfg = discover(fleet), config.load(fleet)
    git(fleet, "push", "-q", "--no-verify", "origin", "main")
    head = git(fleet, "rev-parse", "HEAD").stdout.strip()
    # A new remote branch at a commit the remote already has: nothing outgoing, nothing wrong
    # (151 seeded articles are not allocations and must not be judged as new claims).
    assert idcheck.check_push(repo, cfg, None, head, "main") == []
    (fleet / "articles" / "SP-400.md").write_text(_article("SP-400"))
    git(fleet, "add", "-A")
    git(fleet, "commit", "-q", "--no-verify", "-m", "unallocated")
    found = idcheck.check_push(repo, cfg, None, "HEAD", "main")
    assert len(found) == 1 and "SP-400" in found[0]


def test_a_broken_config_is_refused_and_a_committed_one_can_be_repaired(fleet: Path) -> None:
    a1 = fleet.parent / "a1"
    good = (a1 / "gitfleet.toml").read_text()
    refused = _commit(a1, "gitfleet.toml", good + "[series.SP\n")
    assert refused.returncode != 0 and "not valid TOML" in refused.stderr
    assert "git add gitfleet.toml" in refused.stderr
    # Committed past the hook anyway: the next commits say how out, and the repair passes.
    git(a1, "commit", "-q", "--no-verify", "-m", "broken")
    other = _commit(a1, "notes.txt", "x\n")
    assert other.returncode != 0 and "git reset --soft HEAD~1" in other.stderr
    git(a1, "reset", "-q", "notes.txt")
    repair = _commit(a1, "gitfleet.toml", good)
    assert repair.returncode == 0, repair.stderr
    assert _commit(a1, "notes.txt", "x\n").returncode == 0


def test_the_id_check_works_in_a_partial_clone(
    story_repo: Path, remote: Path, tmp_path: Path
) -> None:
    """A blobless clone (`--filter=blob:limit=1k`) reads what it lacks when it needs it."""
    big = "x" * 4000
    for n in (1, 2):
        path = story_repo / "articles" / f"SP-{n:03d}.md"
        path.write_text(f"---\nticketId: SP-{n:03d}\n---\n{big}\n")
    git(story_repo, "commit", "-q", "-am", "long articles")
    git(story_repo, "push", "-q", "origin", "main")
    git(remote, "config", "uploadpack.allowFilter", "true")
    clone = tmp_path / "partial"
    git(tmp_path, "clone", "-q", "--filter=blob:limit=1k", remote.as_uri(), str(clone))
    assert git(clone, "config", "remote.origin.promisor").stdout.strip() == "true"
    gitfleet(clone, "init", "--series", "SP", "--no-route")
    ident = gitfleet(clone, "ids", "allocate", "SP").stdout.strip()
    (clone / "articles" / f"{ident}.md").write_text(f"---\nticketId: {ident}\n---\n{big}\n")
    (clone / "articles" / "copy.md").write_text(f"---\nticketId: SP-001\n---\n{big}\n")
    git(clone, "add", "-A")
    proc = git(clone, "commit", "-q", "-m", "dup", check=False)
    assert proc.returncode != 0 and "SP-001 is claimed by 2 files" in proc.stderr
    git(clone, "rm", "-q", "--cached", "articles/copy.md")
    assert git(clone, "commit", "-q", "-m", ident, check=False).returncode == 0
