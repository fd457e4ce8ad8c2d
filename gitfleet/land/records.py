"""What a landing leaves behind once it pushed: the remote-tracking ref moved to it, the ids
it brought marked ``landed``, and the queue told how it went (``gitfleet queue``)."""

from __future__ import annotations

from gitfleet.config import Config
from gitfleet.errors import GitfleetError
from gitfleet.git import ZERO_OID
from gitfleet.git.repo import Repo
from gitfleet.ids import claims, verbs
from gitfleet.land.result import LandResult
from gitfleet.queue import client
from gitfleet.queue.objects import Objects


def follow_tracking_ref(
    repo: Repo, cfg: Config, url: str, target: str, new: str, objects: Objects | None = None
) -> None:
    """Move ``<remote>/<target>`` to what we pushed, if it still holds what we last saw."""
    if repo.git("config", "--get", f"remote.{cfg.remote}.url", check=False).stdout.strip() != url:
        return
    tracking = f"refs/remotes/{cfg.remote}/{target}"
    proc = repo.git("rev-parse", "-q", "--verify", tracking, check=False)
    seen = proc.stdout.strip() if proc.returncode == 0 else ZERO_OID
    objects = objects or Objects(repo.toplevel)
    try:
        if seen != ZERO_OID and not objects.is_ancestor(seen, new):
            return  # someone fetched something newer meanwhile: leave their value
    except GitfleetError:  # an object we cannot read: the landing happened, leave the ref
        return
    # compare-and-swap: a fetch between our read and this write wins
    repo.git("update-ref", "-m", "gitfleet land", tracking, new, seen, check=False)


def mark_landed_ids(
    repo: Repo, cfg: Config, old: str | None, new: str, label: str
) -> tuple[list[str], str]:
    """Ids newly claimed on the target become ``landed`` in the ledger.

    Returns the ids and a note for the message; a ledger failure never hides a landing
    that happened (the push is done), it is reported instead.
    """
    if not cfg.series:
        return [], ""

    try:
        after = set(claims.claims_in_tree(repo, cfg, new))
        before = set(claims.claims_in_tree(repo, cfg, old)) if old else set()
        new_ids = sorted(after - before)
        if not new_ids:
            return [], ""

        verbs.mark(repo, cfg, new_ids, "landed", note={"branch": label, "commit": new})
    except Exception as exc:  # the push happened; say what the ledger missed
        return [], f" (ledger not updated: {exc}; run `gitfleet ids list` to see it)"
    return new_ids, f"; {', '.join(new_ids)} landed"


def record(repo: Repo, url: str, ref: str, result: LandResult) -> None:
    """Tell the queue how the landing went (shown by ``gitfleet queue``)."""
    summary = {
        "branch": result.branch,
        "status": result.status,
        "old": result.old_tip,
        "new": result.new_tip,
        "retries": result.retries,
        "message": result.message,
    }

    client.record_result(repo, url, ref, summary)  # best effort: never fails a landing
