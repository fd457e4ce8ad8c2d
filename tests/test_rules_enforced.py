"""The doors an agent's ordinary tools could open, each shut by the gate or the landing:
--no-verify, a deleted config, another worktree's branch, a private state dir, a config
change from a fleet branch, and a series introduced by the push itself."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from conftest import git, gitfleet

from gitfleet import config
from gitfleet.git.repo import discover
from gitfleet.ids import verbs


def _article(wt: Path, ident: str, name: str | None = None) -> None:
    path = wt / "articles" / f"{name or ident}.md"
    path.write_text(f"---\nticketId: {ident}\n---\nbody\n")
    git(wt, "add", "-A")


def _tip(remote: Path) -> str:
    return git(remote, "rev-parse", "main").stdout.strip()


def test_no_verify_commit_and_push_of_anothers_id_is_refused_by_the_gate(
    fleet: Path, remote: Path
) -> None:
    a1, a2 = fleet.parent / "a1", fleet.parent / "a2"
    ident = gitfleet(a1, "ids", "allocate", "SP").stdout.strip()
    _article(a2, ident)
    git(a2, "commit", "-q", "--no-verify", "-m", "taken")
    before = _tip(remote)
    proc = git(a2, "push", "--no-verify", "origin", "HEAD:main", check=False)
    assert proc.returncode != 0, "a fast-forward with someone else's id landed"
    assert f"{ident} (claimed by articles/{ident}.md) is allocated to fleet/a1" in proc.stderr
    assert "not to fleet/a2" in proc.stderr
    assert _tip(remote) == before


def test_a_deleted_config_does_not_switch_the_check_off(fleet: Path, remote: Path) -> None:
    a2 = fleet.parent / "a2"
    (a2 / "gitfleet.toml").unlink()  # the agent's worktree says: no rules
    _article(a2, "SP-777")
    git(a2, "commit", "-q", "--no-verify", "-m", "unallocated")
    before = _tip(remote)
    routed = git(a2, "push", "--no-verify", "origin", "HEAD:main", check=False)
    assert routed.returncode != 0 and "SP-777" in routed.stderr
    assert "was never allocated" in routed.stderr
    url = git(a2, "config", "remote.origin.url").stdout.strip()
    direct = git(a2, "push", url, "HEAD:main", check=False)  # past the gate: the hook warns
    assert direct.returncode != 0 and "SP-777" in direct.stderr
    assert _tip(remote) == before


def test_another_worktrees_branch_does_not_make_its_id_yours(fleet: Path) -> None:
    a1, a2 = fleet.parent / "a1", fleet.parent / "a2"
    repo = discover(fleet)
    cfg = config.load(fleet)
    # as spawn allocates: the owner is the agent's branch, the note its worktree
    [ident] = verbs.allocate(repo, cfg, "SP", 1, "fleet/a1", note={"worktree": str(a1)})
    git(a2, "switch", "-q", "--ignore-other-worktrees", "fleet/a1")
    _article(a2, ident)
    proc = git(a2, "commit", "-q", "-m", "borrowed branch", check=False)
    assert proc.returncode != 0
    assert f"whose worktree is {a1}" in proc.stderr and f"this comes from {a2}" in proc.stderr
    git(a2, "reset", "-q", "--hard")
    _article(a1, ident)
    assert git(a1, "commit", "-q", "-m", "its own", check=False).returncode == 0


def test_a_private_state_dir_is_refused_inside_hooks(fleet: Path, tmp_path: Path) -> None:
    a1 = fleet.parent / "a1"
    env = {"GITFLEET_STATE_DIR": str(tmp_path / "elsewhere")}
    ident = gitfleet(a1, "ids", "allocate", "SP", env=env).stdout.strip()
    _article(a1, ident)
    with_override = git_env(a1, env, "commit", "-q", "-m", "private ledger")
    assert with_override.returncode != 0 and "GITFLEET_STATE_DIR is set" in with_override.stderr
    plain = git(a1, "commit", "-q", "-m", "private ledger", check=False)
    assert plain.returncode != 0 and f"{ident} (claimed by" in plain.stderr
    assert "was never allocated" in plain.stderr


def git_env(cwd: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["git", *args], cwd=cwd, env={**os.environ, **env}, capture_output=True, text=True
    )


def test_a_fleet_branch_may_not_change_the_config(fleet: Path, remote: Path) -> None:
    a1 = fleet.parent / "a1"
    text = (a1 / "gitfleet.toml").read_text()
    (a1 / "gitfleet.toml").write_text(text + '\n[spawn]\nsetup = "touch pwned"\n')
    git(a1, "commit", "-q", "-am", "helpful setup")
    before = _tip(remote)
    refused = gitfleet(fleet, "land", "fleet/a1", check=False)
    assert refused.returncode == 1
    assert "fleet/a1 changes gitfleet.toml (spawn.setup)" in refused.stdout + refused.stderr
    assert "gitfleet land --allow-config fleet/a1" in refused.stdout + refused.stderr
    assert _tip(remote) == before
    pushed = git(a1, "push", "origin", "HEAD:main", check=False)
    assert pushed.returncode != 0 and "changes gitfleet.toml" in pushed.stderr
    assert _tip(remote) == before
    allowed = gitfleet(fleet, "land", "--allow-config", "fleet/a1", check=False)
    assert allowed.returncode == 0, allowed.stdout + allowed.stderr
    assert "touch pwned" in git(remote, "show", "main:gitfleet.toml").stdout


def test_a_series_the_push_introduces_binds_that_push(fleet: Path, remote: Path) -> None:
    text = (fleet / "gitfleet.toml").read_text()
    (fleet / "gitfleet.toml").write_text(
        text + '\n[series.NOTE]\nprefix = "NOTE"\nwidth = 2\npaths = ["notes/*.md"]\n'
    )
    (fleet / "notes").mkdir()
    (fleet / "notes" / "NOTE-07.md").write_text("an id nobody allocated\n")
    git(fleet, "add", "-A")
    git(fleet, "commit", "-q", "--no-verify", "-m", "new series, and a claim in it")
    before = _tip(remote)
    proc = git(fleet, "push", "--no-verify", "origin", "main", check=False)
    assert proc.returncode != 0 and "NOTE-07" in proc.stderr
    assert "was never allocated" in proc.stderr
    assert _tip(remote) == before


def test_a_target_renamed_in_the_worktree_does_not_switch_the_gate_off(
    fleet: Path, remote: Path
) -> None:
    a2 = fleet.parent / "a2"
    cfg = a2 / "gitfleet.toml"
    cfg.write_text(cfg.read_text().replace('target = "main"', 'target = "elsewhere"'))
    _article(a2, "SP-777")
    git(a2, "reset", "-q", "--", "gitfleet.toml")  # the edit stays in the worktree only
    git(a2, "commit", "-q", "--no-verify", "-m", "unallocated")
    before = _tip(remote)
    proc = git(a2, "push", "--no-verify", "origin", "HEAD:main", check=False)
    assert proc.returncode != 0 and "SP-777" in proc.stderr
    assert _tip(remote) == before


def test_a_config_change_from_an_agents_worktree_is_refused_whatever_the_branch(
    fleet: Path, remote: Path
) -> None:
    a1 = fleet.parent / "a1"
    git(a1, "switch", "-q", "-c", "scratch")  # not a fleet/ name any more
    text = (a1 / "gitfleet.toml").read_text()
    (a1 / "gitfleet.toml").write_text(text + '\n[spawn]\nsetup = "touch pwned"\n')
    git(a1, "commit", "-q", "--no-verify", "-am", "helpful setup")
    before = _tip(remote)
    named = git(a1, "push", "--no-verify", "origin", "HEAD:main", check=False)
    assert named.returncode != 0 and "changes gitfleet.toml (spawn.setup)" in named.stderr
    git(a1, "switch", "-q", "--detach")
    detached = git(a1, "push", "--no-verify", "origin", "HEAD:main", check=False)
    assert detached.returncode != 0 and "changes gitfleet.toml" in detached.stderr
    assert _tip(remote) == before


def test_the_operator_merges_an_agents_work_by_hand(fleet: Path) -> None:
    a1 = fleet.parent / "a1"
    repo = discover(fleet)
    [ident] = verbs.allocate(
        repo, config.load(fleet), "SP", 1, "fleet/a1", note={"worktree": str(a1)}
    )
    _article(a1, ident)
    git(a1, "commit", "-q", "-m", "agent's work")
    merged = git(fleet, "merge", "-q", "--no-ff", "-m", "merge a1", "fleet/a1", check=False)
    assert merged.returncode == 0, merged.stderr
