"""What the server guard refuses in the commits a ref update brings, and why.

The same id rules as the commit hook and the push gate, judged where nothing on the
pushing machine can switch them off: an id claimed by two files of the resulting tree; a
guarded file touched; a fleet branch (``fleet/...``) that changes ``gitfleet.toml``, whose
commands run as the operator; with the ledger in this repository (``[ledger] backend = "remote"``),
an id never allocated, released, or allocated to another branch.

Ownership is judged for every branch but the target. The server cannot see which branch a
push to the target came from: landing legitimately brings every agent branch's ids there,
so the target gets the other rules only (the push gate judges the source branch there).
"""

from __future__ import annotations

from typing import NamedTuple, Protocol

from gitfleet import config
from gitfleet.config import Config
from gitfleet.git import ZERO_OID
from gitfleet.git.repo import Repo
from gitfleet.ids import claims
from gitfleet.ids.idcheck import EMPTY_TREE, Change, config_change_problems, parse_raw_diff
from gitfleet.ids.ledger import IdState


class LedgerStates(Protocol):
    """Each id's state, as far as the ledger knows (a fold, or a view that folds on demand)."""

    def get(self, ident: str) -> IdState | None: ...


class Push(NamedTuple):
    """Who a ref update is judged as: the branch it goes to, and the fleet's target."""

    branch: str
    target: str
    branches: str = "refs/heads/"  # where this repository keeps the branches pushed to it

    def ref(self, branch: str) -> str:
        return f"{self.branches}{branch}"

    @property
    def judges_owner(self) -> bool:
        return self.branch != self.target


def findings(
    repo: Repo, rules: Config, base: str, new: str, push: Push, ledger: LedgerStates | None
) -> list[str]:
    """Every refusal for what ``base..new`` brings to ``push.branch``, judged on ``new``'s tree.

    ``ledger`` is None when ids are not judged against a ledger (a local-ledger fleet: its
    ledger is on the operator's machine).
    """
    found = []
    if push.branch.startswith(config.FLEET_BRANCH_PREFIX):
        found += config_change_problems(repo, base, new, push.branch)  # the operator's file
    if (not rules.series and not rules.guarded) or base == new:
        return found
    raw = repo.git("diff-tree", "-r", "--raw", "-z", "--no-renames", base, new).stdout
    changes = parse_raw_diff(raw)
    if not any(claims.matches(c.path, claims.watched(rules)) for c in changes):
        return found
    found += [_guarded(c.path, push) for c in changes if claims.matches(c.path, rules.guarded)]
    after = claims.claims_in_tree(repo, rules, new)
    before = set(claims.claims_in_tree(repo, rules, base)) if base != EMPTY_TREE else set()
    changed = {c.path for c in changes if c.new_oid != ZERO_OID}
    for ident, paths in sorted(after.items()):
        if not changed.intersection(paths):
            continue  # untouched by these commits: not theirs to answer for
        if len(paths) > 1:
            found.append(_claimed_twice(ident, paths))
        if ledger is None or ident in before:
            continue  # no ledger here, or old work being edited
        claiming = [c for c in changes if c.path in paths]
        problem = _ledger_problem(repo, ident, claiming, ledger.get(ident), push)
        if problem:
            found.append(problem)
    return found


def _prefix(ident: str) -> str:
    return ident.rpartition("-")[0]


def _guarded(path: str, push: Push) -> str:
    return (
        f"{path} is guarded (gitfleet.toml [guarded]); pushes to {push.branch} may not "
        "change it: the ledger owns its content.\n"
        f"    drop the change (`git checkout origin/{push.target} -- {path}`, commit, push "
        "again); take ids with `gitfleet ids allocate SERIES`"
    )


def _claimed_twice(ident: str, paths: list[str]) -> str:
    return (
        f"{ident} is claimed by {len(paths)} files: {', '.join(paths)}.\n"
        f"    each id belongs to one file: take a fresh id with `gitfleet ids allocate "
        f"{_prefix(ident)}`, give it to one of them, commit and push again"
    )


def _ledger_problem(
    repo: Repo, ident: str, claiming: list[Change], state: IdState | None, push: Push
) -> str | None:
    where = ", ".join(c.path for c in claiming if c.new_oid != ZERO_OID)
    allocate = f"`gitfleet ids allocate {_prefix(ident)}`"
    if state is None:
        return (
            f"{ident} (claimed by {where}) was never allocated: the ledger on this server "
            "has no record of it.\n"
            f"    run {allocate}, use the id it prints, amend the commit and push again"
        )
    if state.status == "released":
        return (
            f"{ident} (claimed by {where}) was released and is never reissued.\n"
            f"    run {allocate} for a new one, amend the commit and push again"
        )
    if not push.judges_owner or state.owner == push.branch:
        return None
    if _already_there(repo, [push.ref(state.owner or ""), push.ref(push.target)], claiming):
        return None  # the owner's own committed file (or landed work) merged in
    return (
        f"{ident} (claimed by {where}) is allocated to {state.owner}, not to {push.branch}.\n"
        f"    push that work from {state.owner}, or take an id for {push.branch}: "
        f"`gitfleet ids allocate {_prefix(ident)} --owner {push.branch}`, amend the commit "
        "and push again"
    )


def _already_there(repo: Repo, refs: list[str], claiming: list[Change]) -> bool:
    """Whether one of ``refs`` already has every claiming file, byte for byte.

    Merging the owner's branch, or the target, brings in files judged when they got there;
    a new file claiming someone else's id is in neither.
    """
    paths = [c.path for c in claiming]
    for ref in refs:
        listing = repo.git("ls-tree", "-z", ref, "--", *paths, check=False)
        if listing.returncode != 0:
            continue
        theirs = {}
        for record in listing.stdout.split("\0"):
            meta, _, path = record.partition("\t")
            if path:
                theirs[path] = meta.split()[2]
        if all(theirs.get(c.path) == c.new_oid for c in claiming):
            return True
    return False
