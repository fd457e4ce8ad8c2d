"""What `git push` passes to the helper is honoured: force, --force-with-lease, --atomic,
push options, deletions, dry runs, upstream pushes; and the pre-push hook's own duties:
the id check of every outgoing ref and the stale refusal when the helper is bypassed."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from conftest import SP_CONFIG, article, commit_file, git
from gate_fixtures import (
    Fleet,
    hold_lease,
    install_prepush,
    make_fleet,
    route,
    stop_daemon,
    wait_for,
)

from gitfleet.git.repo import discover
from gitfleet.queue import client


@pytest.fixture
def fleet(tmp_path: Path):  # type: ignore[no-untyped-def]
    made = make_fleet(tmp_path, 2)
    route(made.root)
    install_prepush(made.root)
    yield made
    stop_daemon(made.root)


def test_force_with_lease_is_checked_against_the_fresh_remote(fleet: Fleet) -> None:
    a, b = fleet.trees
    git(a, "push", "origin", "HEAD:main")
    landed = fleet.tip()
    # b expects main to still be the base: stale, refused, nothing changes
    stale = git(
        b, "push", f"--force-with-lease=main:{fleet.base}", "origin", "HEAD:main", check=False
    )
    assert stale.returncode != 0 and "stale info" in stale.stderr
    assert fleet.tip() == landed
    # with the right expectation the forced update goes through as asked (no rebase)
    git(b, "push", f"--force-with-lease=main:{landed}", "origin", "HEAD:main")
    assert fleet.tip() == git(b, "rev-parse", "HEAD").stdout.strip()


def test_plain_force_overwrites(fleet: Fleet) -> None:
    a, b = fleet.trees
    git(a, "push", "origin", "HEAD:main")
    git(b, "push", "--force", "origin", "HEAD:main")
    assert fleet.tip() == git(b, "rev-parse", "HEAD").stdout.strip()
    assert "agent-0.txt" not in fleet.remote_files()


def test_deletion(fleet: Fleet) -> None:
    a = fleet.trees[0]
    git(a, "push", "origin", "HEAD:refs/heads/feature")
    assert git(fleet.remote, "rev-parse", "-q", "--verify", "feature", check=False).returncode == 0
    git(a, "push", "origin", "--delete", "feature")
    assert git(fleet.remote, "rev-parse", "-q", "--verify", "feature", check=False).returncode != 0


def test_annotated_tag_is_pushed_as_a_tag(fleet: Fleet) -> None:
    a = fleet.trees[0]
    git(a, "tag", "-a", "-m", "release one", "v1")
    git(a, "push", "origin", "v1")
    assert git(fleet.remote, "cat-file", "-t", "v1").stdout.strip() == "tag"
    assert git(fleet.remote, "rev-parse", "v1").stdout == git(a, "rev-parse", "v1").stdout


def test_atomic_is_all_or_nothing(fleet: Fleet) -> None:
    a, b = fleet.trees
    git(a, "push", "origin", "HEAD:refs/heads/topic")
    # b: "topic" is not a fast-forward (and not the target: never rebased), "side" is new
    proc = git(
        b,
        "push",
        "--atomic",
        "origin",
        "HEAD:refs/heads/topic",
        "HEAD:refs/heads/side",
        check=False,
    )
    assert proc.returncode != 0
    assert git(fleet.remote, "rev-parse", "-q", "--verify", "side", check=False).returncode != 0
    assert fleet.tip("topic") == git(a, "rev-parse", "HEAD").stdout.strip()


def test_push_options_reach_the_remote(fleet: Fleet) -> None:
    git(fleet.remote, "config", "receive.advertisePushOptions", "true")
    seen = fleet.remote.parent / "push-options.txt"
    hook = fleet.remote / "hooks" / "pre-receive"
    hook.write_text(f'#!/bin/sh\necho "$GIT_PUSH_OPTION_0" > "{seen}"\ncat >/dev/null\n')
    hook.chmod(0o755)
    git(fleet.trees[0], "push", "-o", "ci.skip", "origin", "HEAD:main")
    assert seen.read_text().strip() == "ci.skip"


def test_dry_run_changes_nothing(fleet: Fleet) -> None:
    a, b = fleet.trees
    git(a, "push", "origin", "HEAD:main")
    tip = fleet.tip()
    git(b, "push", "--dry-run", "origin", "HEAD:main")
    assert fleet.tip() == tip


def test_push_to_upstream_without_refspec(fleet: Fleet) -> None:
    """`git push` alone: the helper predicts the ref from the branch's upstream."""
    a, b = fleet.trees
    git(a, "push", "origin", "HEAD:main")
    git(b, "branch", "-q", "--set-upstream-to", "origin/main")
    git(b, "config", "push.default", "upstream")
    proc = git(b, "push")
    assert "rebased 1 commit" in proc.stderr
    assert {"agent-0.txt", "agent-1.txt"} <= set(fleet.remote_files())


def test_lease_taken_before_listing(fleet: Fleet) -> None:
    """A push waiting for the lease lists the remote only once its turn comes: the second
    push sees the first one's tip and lands on it instead of failing."""
    a, b = fleet.trees
    repo = discover(fleet.root)
    url = str(fleet.remote)
    holder = hold_lease(fleet.root, "refs/heads/main")
    waiting = subprocess.Popen(
        ["git", "push", "origin", "HEAD:main"], cwd=b, stderr=subprocess.PIPE, text=True
    )
    wait_for(lambda: _waiting(repo) == 1, what="b's push to queue")
    # meanwhile "someone" (as if holding the lease) lands a's commit
    git(a, "push", "--no-verify", url, "HEAD:main")
    holder.kill()
    holder.wait()
    _, err = waiting.communicate(timeout=120)
    assert waiting.returncode == 0, err
    assert {"agent-0.txt", "agent-1.txt"} <= set(fleet.remote_files())


def test_hook_only_path_refuses_a_stale_push_clearly(tmp_path: Path) -> None:
    fleet = make_fleet(tmp_path, 2)  # no routing: only the pre-push hook gates
    install_prepush(fleet.root)
    a, b = fleet.trees
    repo = discover(fleet.root)
    try:
        holder = hold_lease(fleet.root, "refs/heads/main")
        waiting = subprocess.Popen(
            ["git", "push", "origin", "HEAD:main"], cwd=b, stderr=subprocess.PIPE, text=True
        )
        wait_for(lambda: _waiting(repo) == 1, what="b's hook to queue")
        git(a, "push", "--no-verify", "origin", "HEAD:main")  # the remote moves meanwhile
        moved_to = fleet.tip()
        holder.kill()
        holder.wait()
        _, err = waiting.communicate(timeout=120)
    finally:
        stop_daemon(fleet.root)
    assert waiting.returncode != 0
    assert "moved on origin while this push waited" in err
    assert "git pull --rebase origin main" in err
    assert "but expected" not in err  # git's own "cannot lock ref ... but expected" never came
    assert fleet.tip() == moved_to


def test_hook_only_path_holds_the_lease_for_the_push(tmp_path: Path) -> None:
    """Without the helper, a fresh push takes the lease and lands; the lease ends with it."""
    fleet = make_fleet(tmp_path, 1)
    install_prepush(fleet.root)
    repo = discover(fleet.root)
    try:
        git(fleet.trees[0], "push", "origin", "HEAD:main")
        assert "agent-0.txt" in fleet.remote_files()
        wait_for(lambda: _held(repo) == 0, what="the lease to end with git push")
    finally:
        stop_daemon(fleet.root)


def test_prepush_checks_ids_of_every_outgoing_ref(tmp_path: Path) -> None:
    fleet = make_fleet(tmp_path, 1, config=SP_CONFIG)
    route(fleet.root)
    install_prepush(fleet.root)
    tree = fleet.trees[0]
    (tree / "articles").mkdir()
    (tree / "articles" / "SP-152.md").write_text(article(152))
    git(tree, "add", "-A")
    git(tree, "commit", "-q", "--no-verify", "-m", "unallocated id")  # the commit hook skipped
    url = git(tree, "config", "remote.origin.url").stdout.strip()
    try:
        # past the gate, the hook checks: the offending ref is the second line on its stdin
        hook = git(tree, "push", url, "HEAD~1:refs/heads/early", "HEAD:main", check=False)
        # through the gate, the helper checks under its lease (the hook leaves it to it)
        gate = git(tree, "push", "origin", "HEAD~1:refs/heads/early", "HEAD:main", check=False)
    finally:
        stop_daemon(fleet.root)
    assert hook.returncode != 0
    assert "SP-152" in hook.stderr and "id rules" in hook.stderr
    assert gate.returncode != 0
    assert "SP-152" in gate.stderr and "refused by gitfleet's rules" in gate.stderr
    assert "articles/SP-152.md" not in fleet.remote_files()


def _waiting(repo) -> int:  # type: ignore[no-untyped-def]
    return sum(len(q["waiting"]) for q in client.snapshot(repo)["queues"])


def _held(repo) -> int:  # type: ignore[no-untyped-def]
    return sum(q["holder"] is not None for q in client.snapshot(repo)["queues"])


del sys, commit_file
