"""``gitfleet check [RANGE]``: the server guard's rules over a range of commits, for CI.

A required status check on pull requests is the guard on hosts that run no custom hooks
(GitHub, GitLab.com): the same refusals as the pre-receive hook, judged on the range's tip
against the target's committed rules.
"""

from __future__ import annotations

import os
from typing import NamedTuple

from gitfleet import config
from gitfleet.errors import UsageError
from gitfleet.git.remote import target_branch
from gitfleet.git.repo import Repo
from gitfleet.ids.idcheck import EMPTY_TREE, added_rules
from gitfleet.ids.ledger import Ledger
from gitfleet.ids.remote import RemoteBackend
from gitfleet.server.bare import rules_at
from gitfleet.server.rules import Push, findings


class Checked(NamedTuple):
    range: str
    base: str
    tip: str
    branch: str
    findings: list[str]


def _split(repo: Repo, rev_range: str | None) -> tuple[str, str]:
    """(left, right) of ``A..B`` (``A...B`` alike; an empty side is HEAD)."""
    if rev_range is None:
        cfg = config.load(repo.toplevel)
        return f"refs/remotes/{cfg.remote}/{target_branch(repo, cfg)}", "HEAD"
    sep = "..." if "..." in rev_range else ".."
    left, found, right = rev_range.partition(sep)
    if not found:
        raise UsageError(f"{rev_range!r} is not a range; give one like origin/main..HEAD")
    return left or "HEAD", right or "HEAD"


def _commit(repo: Repo, rev: str) -> str:
    proc = repo.git("rev-parse", "-q", "--verify", f"{rev}^{{commit}}", check=False)
    if proc.returncode != 0:
        raise UsageError(
            f"{rev} is not a commit here; fetch it first (in CI: actions/checkout with "
            "fetch-depth: 0, or `git fetch origin main`)"
        )
    return proc.stdout.strip()


def _merge_base(repo: Repo, left: str, right: str, shown: str) -> str:
    """Where the range starts: the merge base, or the empty tree for unrelated histories.

    A shallow clone (actions/checkout's default depth 1) cuts the history off above it:
    judging from the empty tree would take every old claim for a new one.
    """
    found = repo.git("merge-base", left, right, check=False).stdout.strip()
    if found:
        return found
    shallow = repo.git("rev-parse", "--is-shallow-repository").stdout.strip() == "true"
    if shallow:
        raise UsageError(
            f"{shown}: the history joining them is not in this shallow clone.\n"
            "  fetch it: `git fetch --unshallow` (in GitHub Actions: actions/checkout with "
            "fetch-depth: 0)"
        )
    return EMPTY_TREE


def owner_of(repo: Repo, given: str | None) -> str | None:
    """The branch the range is judged as: ``--owner``, the checked-out branch, or the pull
    request's source branch in GitHub Actions (which checks out a detached merge commit)."""
    return given or repo.branch or os.environ.get("GITHUB_HEAD_REF") or None


def check_range(repo: Repo, rev_range: str | None = None, owner: str | None = None) -> Checked:
    """Judge what ``rev_range`` brings, as a push of its tip onto its left side would be."""
    left, right = _split(repo, rev_range)
    left_oid, tip = _commit(repo, left), _commit(repo, right)
    base = _merge_base(repo, left_oid, tip, f"{left}..{right}")
    target_rules = rules_at(repo, left_oid)
    rules = config.with_additions(target_rules, added_rules(repo, tip))
    target = target_branch(repo, rules)
    branch = owner_of(repo, owner) or target  # nobody to judge ownership as: target rules
    ledger = None
    if target_rules.ledger_backend == "remote":
        ledger = Ledger(RemoteBackend(repo, rules.remote, cache_ttl=0)).folded()
    # The server's branches, as last fetched: local ones may hold anything.
    push = Push(branch, target, f"refs/remotes/{rules.remote}/")
    found = findings(repo, rules, base, tip, push, ledger)
    return Checked(f"{left}..{right}", base, tip, branch, found)
