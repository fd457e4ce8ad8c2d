"""The id rules cannot be slipped past: CRLF files, someone else's committed id, a detached
HEAD, relaxing the config in the same commit, and a fast-forward push through the gate."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import git, gitfleet


def _stage(wt: Path, rel: str, text: str | bytes) -> None:
    path = wt / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text)
    git(wt, "add", rel)


def test_crlf_articles_are_read_exactly(fleet: Path) -> None:
    """Blob sizes are bytes: a CRLF file must not desynchronise the batch read."""
    a1 = fleet.parent / "a1"
    ident = gitfleet(a1, "ids", "allocate", "SP").stdout.strip()
    _stage(a1, f"articles/{ident}.md", f"---\r\nticketId: {ident}\r\n---\r\nbody\r\n".encode())
    assert git(a1, "commit", "-q", "-m", "crlf", check=False).returncode == 0
    _stage(a1, "articles/zz-copy.md", f"---\r\nticketId: {ident}\r\n---\r\n".encode())
    proc = git(a1, "commit", "-q", "-m", "dup", check=False)
    assert proc.returncode != 0 and f"{ident} is claimed by 2 files" in proc.stderr


def test_an_id_its_owner_committed_cannot_be_taken_by_another_file(fleet: Path) -> None:
    a1, a2 = fleet.parent / "a1", fleet.parent / "a2"
    ident = gitfleet(a1, "ids", "allocate", "SP").stdout.strip()
    _stage(a1, f"articles/{ident}.md", f"---\nticketId: {ident}\n---\n")
    git(a1, "commit", "-q", "-m", "mine")
    _stage(a2, "articles/stolen.md", f"---\nticketId: {ident}\n---\n")
    proc = git(a2, "commit", "-q", "-m", "theirs", check=False)
    assert proc.returncode != 0
    assert f"{ident} (claimed by articles/stolen.md) is allocated to fleet/a1" in proc.stderr


def test_a_detached_head_owns_no_id(fleet: Path) -> None:
    a1 = fleet.parent / "a1"
    ident = gitfleet(fleet, "ids", "allocate", "SP").stdout.strip()  # owned by main
    git(a1, "switch", "-q", "--detach")
    _stage(a1, f"articles/{ident}.md", f"---\nticketId: {ident}\n---\n")
    proc = git(a1, "commit", "-q", "-m", "detached", check=False)
    assert proc.returncode != 0
    assert "HEAD is detached" in proc.stderr and "git switch main" in proc.stderr


def test_a_commit_cannot_relax_the_rules_it_is_judged_by(fleet: Path) -> None:
    a1 = fleet.parent / "a1"
    text = (a1 / "gitfleet.toml").read_text()
    (a1 / "gitfleet.toml").write_text(text.replace('"scripts/article-counter.json"', ""))
    (a1 / "scripts" / "article-counter.json").write_text('{"SP": {"next": 999}}\n')
    git(a1, "add", "-A")
    proc = git(a1, "commit", "-q", "-m", "sneaky", check=False)
    assert proc.returncode != 0 and "scripts/article-counter.json is guarded" in proc.stderr


def _set_check(fleet: Path, command: str) -> None:
    cfg = fleet / "gitfleet.toml"
    text = cfg.read_text().split("[land]")[0]
    cfg.write_text(f'{text}[land]\ncheck = "{command}"\n')
    git(fleet, "commit", "-q", "-am", f"check: {command}")
    # The gate judges a push by the target's committed rules, so the one change it cannot
    # carry is relaxing a failing check: the maintainer pushes that to the real URL.
    url = git(fleet, "config", "remote.origin.url").stdout.strip()
    git(fleet, "push", "-q", url, "main")
    git(fleet, "fetch", "-q", "origin")


def test_fast_forward_push_through_the_gate_is_checked_and_marks_ids(
    fleet: Path, remote: Path
) -> None:
    _set_check(fleet, "exit 1")
    a1 = fleet.parent / "a1"
    git(a1, "fetch", "-q", "origin")
    git(a1, "reset", "-q", "--hard", "origin/main")
    ident = gitfleet(a1, "ids", "allocate", "SP").stdout.strip()
    _stage(a1, f"articles/{ident}.md", f"---\nticketId: {ident}\n---\n")
    git(a1, "commit", "-q", "-m", ident)
    before = git(remote, "rev-parse", "main").stdout
    proc = git(a1, "push", "origin", "HEAD:main", check=False)
    assert proc.returncode != 0, "an unchecked fast-forward reached the target"
    assert git(remote, "rev-parse", "main").stdout == before
    _set_check(fleet, "true")
    git(a1, "fetch", "-q", "origin")
    git(a1, "rebase", "-q", "origin/main")
    proc = git(a1, "push", "origin", "HEAD:main", check=False)
    assert proc.returncode == 0, proc.stderr
    state = json.loads(gitfleet(fleet, "ids", "show", ident, "--json").stdout)
    assert state["status"] == "landed"
