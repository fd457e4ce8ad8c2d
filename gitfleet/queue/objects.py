"""Object questions asked of the queue daemon: merge bases and in-memory rebases.

A push that others overtook is landed by rebasing it (:mod:`gitfleet.git.rebase`, pygit2).
Importing pygit2 costs ~45 ms of CPU, more than the rest of the helper's own work, and
nine racing pushes would pay it nine times on a machine whose cores are all busy. The
daemon is long-lived and already serves the repository, so it keeps pygit2 loaded and
answers these questions over the connection the helper holds its lease on: one round
trip instead of an import (or a ``git merge-base`` process).

Only objects are touched: the daemon reads commits and writes new commit and tree objects
into the repository's object store, never a ref, an index or a worktree. Everything that
talks to the remote (fetch, push) stays in the helper, in the pushing agent's own
environment (credentials, SSH config). A daemon that does not know these ops (an older
gitfleet still running) or a lost connection makes the client answer in-process instead.

Server side: :func:`answer`. Client side: :class:`Objects`.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from gitfleet.errors import GitfleetError, UsageError
from gitfleet.git import rebase
from gitfleet.git.rebase import Conflict, Outcome, Rebased

if TYPE_CHECKING:
    from gitfleet.queue.protocol import LineSocket

OPS = frozenset({"merge_base", "is_ancestor", "rebase"})


class Missing(GitfleetError):
    """The repository lacks an object that was asked about (fetch it, then ask again)."""


# --- the daemon's side ----------------------------------------------------------------


def answer(msg: dict[str, Any]) -> dict[str, Any]:
    """The daemon's answer to one object question (never raises for a bad question)."""

    op = msg.get("op")
    try:
        path = Path(str(msg["repo"]))
        if not path.is_absolute():
            return {"ok": False, "error": f"repository path {str(path)!r} is not absolute"}
        if op == "merge_base":
            return {"ok": True, "base": rebase.merge_base(path, msg["one"], msg["two"])}
        if op == "is_ancestor":
            found = rebase.is_ancestor(path, msg["ancestor"], msg["descendant"])
            return {"ok": True, "answer": found}
        if op == "rebase":
            outcome = rebase.rebase_range(
                path, msg["upstream"], msg["head"], msg["onto"], msg.get("committer") or None
            )
            return {"ok": True, **_outcome_to_json(outcome)}
    except KeyError as exc:
        return {"ok": True, "missing": str(exc.args[0]) if exc.args else ""}
    except UsageError as exc:  # a name that is no commit here
        return {"ok": True, "missing": str(exc)}
    except Exception as exc:  # a corrupt repository, a libgit2 error: the client retries locally
        return {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
    return {"ok": False, "error": f"unknown op {op!r}"}


def _outcome_to_json(outcome: Outcome) -> dict[str, Any]:
    if isinstance(outcome, Conflict):
        return {
            "conflict": {
                "commit": outcome.commit,
                "paths": outcome.paths,
                "declined": [list(pair) for pair in outcome.declined],
            }
        }
    return {
        "rebased": {
            "new_tip": outcome.new_tip,
            "applied": outcome.applied,
            "skipped": outcome.skipped,
            "created": outcome.created,
            "resolved": [list(pair) for pair in outcome.resolved],
        }
    }


def _outcome_from_json(data: dict[str, Any]) -> Outcome:
    if "conflict" in data:
        found = data["conflict"]
        declined = tuple((str(p), str(r)) for p, r in found.get("declined", []))
        return Conflict(str(found["commit"]), [str(p) for p in found["paths"]], declined)
    done = data["rebased"]
    return Rebased(
        str(done["new_tip"]),
        [str(c) for c in done["applied"]],
        [str(c) for c in done["skipped"]],
        [str(c) for c in done.get("created", [])],
        tuple((str(p), str(r)) for p, r in done.get("resolved", [])),
    )


# --- the client's side ----------------------------------------------------------------


class Objects:
    """Object questions about the repository at ``repo_path``, asked of the daemon over
    ``conn`` when there is one, else answered here (importing pygit2)."""

    def __init__(self, repo_path: Path, conn: LineSocket | None = None) -> None:
        self.repo_path = repo_path
        self.conn = conn

    def merge_base(self, one: str, two: str) -> str | None:
        """As ``git merge-base``; raises :class:`Missing` when an object is not here."""
        found = self._ask({"op": "merge_base", "one": one, "two": two})
        if found is None:
            from gitfleet.git import rebase

            try:
                return rebase.merge_base(self.repo_path, one, two)
            except KeyError as exc:
                raise Missing(f"{exc.args[0]} is not in {self.repo_path}") from None
        base = found.get("base")
        return str(base) if base else None

    def is_ancestor(self, ancestor: str, descendant: str) -> bool:
        found = self._ask({"op": "is_ancestor", "ancestor": ancestor, "descendant": descendant})
        if found is None:
            from gitfleet.git import rebase

            return rebase.is_ancestor(self.repo_path, ancestor, descendant)
        return bool(found["answer"])

    def rebase_range(
        self, upstream: str, head: str, onto: str, committer: str | None = None
    ) -> Outcome:
        question = {
            "op": "rebase",
            "upstream": upstream,
            "head": head,
            "onto": onto,
            "committer": committer or "",
        }
        found = self._ask(question)
        if found is None:
            from gitfleet.git import rebase

            return rebase.rebase_range(self.repo_path, upstream, head, onto, committer)
        return _outcome_from_json(found)

    def _ask(self, question: dict[str, Any]) -> dict[str, Any] | None:
        """The daemon's answer, or None when it cannot give one (answer it here instead)."""
        if self.conn is None:
            return None
        try:
            self.conn.send({**question, "repo": str(self.repo_path)})
            found = self.conn.recv()
        except (OSError, GitfleetError):
            found = None
        if found is None:
            self.conn = None  # the daemon went away: its leases' holders re-queue elsewhere
            return None
        if not found.get("ok"):
            return None  # an older daemon (unknown op) or an odd failure: do it here
        if "missing" in found:
            raise Missing(f"{found['missing']} is not in {self.repo_path}")
        return found
