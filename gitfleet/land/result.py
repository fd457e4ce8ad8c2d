"""What a landing is asked to do, and what happened: :class:`Request` and :class:`LandResult`."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NamedTuple

MAX_RETRIES = 5  # lost compare-and-swaps before giving up; each one means another landing won

LANDED, UP_TO_DATE, CONFLICT, CHECK_FAILED, GATE_REFUSED, LOST_RACE, ERROR = (
    "landed",
    "up-to-date",
    "conflict",
    "check-failed",
    "gate-refused",
    "lost-race",
    "error",
)
OK_STATUSES = frozenset({LANDED, UP_TO_DATE})

Events = Callable[[str], None]


class LandResult(NamedTuple):
    """What happened to one branch. ``ok`` when it landed or had nothing to land.

    The sequences are lists when set, empty tuples when left out (a NamedTuple's defaults
    are shared, so they must not be mutable).
    """

    branch: str
    status: str
    old_tip: str | None = None  # the target before (None: the remote had no such ref)
    new_tip: str | None = None  # the target after (== old_tip when nothing was pushed)
    applied: Sequence[str] = ()  # the branch's commits replayed
    skipped: Sequence[str] = ()  # already on the target (same patch)
    paths: Sequence[str] = ()  # conflicting files
    check_output: str = ""
    retries: int = 0  # lost compare-and-swaps that were retried
    message: str = ""
    events: Sequence[str] = ()  # one line per retry, in order
    landed_ids: Sequence[str] = ()  # ledger ids now ``landed``
    resolved: Sequence[dict[str, str]] = ()  # {"path", "rung"}: conflicts synthesis settled
    declined: Sequence[dict[str, str]] = ()  # {"path", "reason"}: why a conflict stayed
    findings: Sequence[str] = ()  # what the landing gate refused

    @property
    def ok(self) -> bool:
        return self.status in OK_STATUSES

    def to_dict(self) -> dict[str, Any]:
        return {name: _plain(value) for name, value in self._asdict().items()}


def _plain(value: Any) -> Any:
    return list(value) if isinstance(value, (list, tuple)) else value


class Request(NamedTuple):
    """What to land, and how: everything :func:`land_under_lease` needs beyond the target.

    ``base``: replay only ``base..head`` (None: every commit of head the target lacks).
    ``check``: None means ``[land] check``; an empty string runs no check.
    ``known_tip``: the target's value read under this very lease, its objects already
    here: the first attempt starts from it instead of fetching (a lost compare-and-swap
    still fetches). ``follow``: move ``<remote>/<target>`` to what landed (the remote
    helper leaves that to git and corrects git afterwards). ``committer``: a ``git var
    GIT_COMMITTER_IDENT`` line learnt earlier (its time is brought up to date).
    ``push_options``: passed on to the push (``git push -o``).
    """

    head: str
    branch: str | None = None
    base: str | None = None
    check: str | None = None
    max_retries: int = MAX_RETRIES
    on_event: Events | None = None
    known_tip: str | None = None
    follow: bool = True
    committer: str | None = None
    push_options: Sequence[str] = ()
    owner: str | None = None  # whose ids it may claim (None: the branch's)
    worktree: Path | None = None  # where a pushed branch comes from (None: not checked)
    allow_config: bool = False  # a fleet branch may change gitfleet.toml
    from_agent: bool = False  # pushed from an agent's worktree: may not change gitfleet.toml
