"""The ``gitfleet ids`` verbs: allocate, list, show, release, on the configured ledger."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

from gitfleet import config
from gitfleet.config import Config, Series
from gitfleet.errors import LedgerError, UsageError
from gitfleet.git.remote import seed_treeishes
from gitfleet.git.repo import Repo, discover, require_commits
from gitfleet.ids import claims
from gitfleet.ids.ledger import IdState, Ledger
from gitfleet.ids.local import LocalBackend


def here() -> tuple[Repo, Config]:
    """The repository around the current folder and its config, as the ids verbs see them."""
    repo = discover()
    return repo, config.load(repo.toplevel)


def open_ledger(repo: Repo, cfg: Config, *, fresh: bool = False) -> Ledger:
    """The ledger ``gitfleet.toml`` asks for: the local file (default) or the remote's ref.

    ``fresh``: read the remote now, not through the hooks' few-second cache (what a person
    asks to see must include another machine's allocation of a moment ago).
    """
    if cfg.ledger_backend == "remote":
        from gitfleet.ids.remote import RemoteBackend  # loaded only for fleets configured so

        return Ledger(RemoteBackend(repo, cfg.remote, cache_ttl=0 if fresh else None))
    return Ledger(LocalBackend(repo.state_dir))


def default_owner(repo: Repo, owner: str | None) -> str:
    """The explicit owner, else the branch checked out in this worktree."""
    if owner is not None:
        if not owner.strip() or any(ord(c) < 32 or c == "\x7f" for c in owner):
            raise UsageError(
                f"--owner {owner!r} is not a branch name: it is empty or holds control "
                "characters; pass the owning branch, such as --owner fleet/SP-152"
            )
        return owner
    if repo.branch is None:
        raise UsageError(
            f"{repo.toplevel} is on a detached HEAD, so it has no branch to own ids; "
            "check out a branch (`git switch -c NAME`) or pass --owner NAME"
        )
    return repo.branch


def allocate(
    repo: Repo,
    cfg: Config,
    series_name: str,
    count: int = 1,
    owner: str | Callable[[str], str] | None = None,
    note: dict[str, Any] | Callable[[str], dict[str, Any]] | None = None,
) -> list[str]:
    """Allocate ``count`` contiguous ids of a series in one transaction.

    ``owner``: a name, a function of each id (a fleet run gives each id its own agent
    branch), or None for this worktree's branch.
    """
    series = cfg.series_for(series_name)
    who = owner if callable(owner) else default_owner(repo, owner)
    return open_ledger(repo, cfg).allocate(series, count, who, seed_fn(repo, cfg, series), note)


def allocation_text(
    repo: Repo, series: str, owner: str | None, got: list[str], as_json: bool
) -> str:
    """What ``ids allocate`` prints: one id per line, or the JSON form."""
    if not as_json:
        return "\n".join(got)

    data = {"ids": got, "owner": default_owner(repo, owner), "series": series}
    return json.dumps(data, indent=2)


def seed_fn(repo: Repo, cfg: Config, series: Series) -> Callable[[], int]:
    """Where a series starts: above the highest id claimed on the target and HEAD.

    Returned unevaluated: the ledger calls it only for a series it has never seen.
    """

    def seed() -> int:
        # Imported here: only a series' first allocation needs them, every later one is a
        # short process that would pay for them (claims brings the front-matter reader).

        require_commits(repo)
        return claims.highest_claimed(repo, cfg, series, seed_treeishes(repo, cfg))

    return seed


def list_ids(repo: Repo, cfg: Config, series_name: str | None = None) -> list[IdState]:
    states = list(open_ledger(repo, cfg, fresh=True).states().values())
    if series_name is not None:
        series = cfg.series_for(series_name)
        states = [s for s in states if s.series == series.name]
    return states


def show(repo: Repo, cfg: Config, ident: str) -> IdState:
    """One id's state; ``SP-4`` finds ``SP-004``. Ids already in the repository when the
    ledger began (below its seed) are named as such, not as never allocated."""
    series, number = cfg.series_of_id(ident)
    ident = series.format(number)
    ledger = open_ledger(repo, cfg, fresh=True)
    state = ledger.folded().get(ident)
    if state is not None:
        return state
    seeded = _seeded_at(ledger, series.name)
    if seeded is not None and number <= seeded:
        raise LedgerError(
            f"{ident} was not allocated by the ledger: it is at or below {series.format(seeded)},"
            " the highest id already in the repository when the ledger began (those ids are"
            " old work, never handed out again)"
        )
    raise LedgerError(f"{ident} was never allocated; see `gitfleet ids list`")


def _seeded_at(ledger: Ledger, series: str) -> int | None:
    """Where ``series`` was seeded: the highest id already claimed when the ledger began."""
    seeds = [r.number for r in ledger.backend.read() if r.op == "seeded" and r.series == series]
    return max(seeds) if seeds else None


def mark(
    repo: Repo, cfg: Config, ids: Sequence[str], op: str, note: dict[str, Any] | None = None
) -> list[str]:
    """Move ids to ``committed``/``landed``; ids this ledger never issued are skipped."""
    ledger = open_ledger(repo, cfg)
    known = ledger.folded()  # loads only the ids asked about
    todo = [i for i in ids if (s := known.get(i)) is not None and s.status not in (op, "released")]
    if not todo:
        return []
    return ledger.transition(todo, op, note=note, force=True)


def claimed_in_branches(repo: Repo, cfg: Config, ids: Sequence[str]) -> dict[str, str]:
    """For each of ``ids`` claimed by the tip of a local or remote-tracking branch: where."""

    refs = repo.git_out("for-each-ref", "--format=%(refname)", "refs/heads", "refs/remotes").split()
    wanted, where = set(ids), dict[str, str]()
    for ref in refs:
        if ref.endswith("/HEAD"):
            continue
        for ident in set(claims.claims_in_tree(repo, cfg, ref)) & wanted:
            where.setdefault(ident, ref)
    return where


def release(repo: Repo, cfg: Config, ids: Sequence[str], force: bool = False) -> list[str]:
    """Give ids back (they are never reissued); refuse ids a commit already claims.

    Returns the ids released now; an id already released is said to be, not skipped silently.
    """
    ids = [cfg.canonical_id(i) for i in ids]
    if not force:
        claimed = claimed_in_branches(repo, cfg, ids)
        if claimed:
            lines = "\n".join(
                f"  {i} is claimed by a file on {ref}" for i, ref in sorted(claimed.items())
            )
            raise LedgerError(
                f"refusing to release ids that commits already claim:\n{lines}\n"
                "  remove the claiming files first, or pass --force to release anyway"
            )
    ledger = open_ledger(repo, cfg)
    known = ledger.folded()  # loads only the ids asked about
    already = [i for i in ids if (s := known.get(i)) is not None and s.status == "released"]
    if already and len(already) == len(ids):
        raise LedgerError(f"{', '.join(already)} already released; nothing to do")
    return ledger.transition([i for i in ids if i not in already], "released", force=force)


def recover(repo: Repo, cfg: Config) -> dict[str, int]:
    """A new local ledger above the marks a lost one left beside the state dir."""
    if cfg.ledger_backend == "remote":
        raise UsageError(
            "the remote ledger keeps its own history; restore refs/gitfleet/ledger instead "
            "(`gitfleet ids allocate` names the push that does it)"
        )
    return LocalBackend(repo.state_dir).recover()
