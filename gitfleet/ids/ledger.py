"""The id ledger: an append-only record of allocations, shared by every worktree.

Each record is one JSON object (a line of JSONL where records are exported). An id moves
``allocated -> committed -> landed`` or to ``released``; a ``seeded`` record remembers the
highest id that was already in the repository when a series was first used. Ids are never
reused: the next number is always above every number any record ever mentioned, released
ones included. Gaps are fine; duplicates never happen.

Storage sits behind :class:`Backend`, whose one write operation is a transaction
``transact(fn)``: ``fn`` sees every record and returns the ones to append. The local backend
(:mod:`gitfleet.ids.local`) runs it as one SQLite transaction; the remote backend (refs on
the git remote) as compare-and-swap with retries. All the rules live here, once, for both.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from types import MappingProxyType
from typing import Any, NamedTuple, Protocol

from gitfleet.config import Series
from gitfleet.errors import LedgerError

SCHEMA = 1
OPS = ("seeded", "allocated", "committed", "landed", "released")
# Which transitions make sense; anything else is refused (or needs --force for release).
_NEXT = {
    "allocated": {"committed", "landed", "released"},
    "committed": {"committed", "landed", "released"},
    "landed": {"landed"},
    "released": set(),
}


class Record(NamedTuple):
    op: str
    series: str
    number: int
    id: str = ""  # empty for "seeded"
    owner: str | None = None
    ts: float = 0.0
    note: Mapping[str, Any] = MappingProxyType({})  # e.g. {"commit": oid}

    def to_json(self) -> str:
        body: dict[str, Any] = {"v": SCHEMA, "op": self.op, "series": self.series, "n": self.number}
        if self.id:
            body["id"] = self.id
        if self.owner is not None:
            body["owner"] = self.owner
        body["ts"] = round(self.ts, 3)
        body.update(self.note)
        return json.dumps(body, sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_json(cls, line: str) -> Record:
        return cls.from_data(json.loads(line))

    @classmethod
    def from_data(cls, data: Any) -> Record:
        if not isinstance(data, dict):
            raise ValueError("not a JSON object")
        if data.get("v") != SCHEMA:
            raise ValueError(f"unknown schema version {data.get('v')!r}")
        op, series, number = data.get("op"), data.get("series"), data.get("n")
        if op not in OPS or not isinstance(series, str) or not isinstance(number, int):
            raise ValueError("missing or invalid op/series/n")
        owner = data.get("owner")
        ident = data.get("id", "")
        if op != "seeded" and not _names(ident, number):
            raise ValueError(f"id {ident!r} does not match its number {number}")
        note = {
            k: v
            for k, v in data.items()
            if k not in ("v", "op", "series", "n", "id", "owner", "ts")
        }
        return cls(op, series, number, ident, owner, float(data.get("ts", 0.0)), note)


def _names(ident: Any, number: int) -> bool:
    """Whether ``ident`` is PREFIX-<number> (zero padding allowed)."""
    if not isinstance(ident, str):
        return False
    prefix, sep, digits = ident.rpartition("-")
    return bool(prefix and sep and digits.isdigit() and int(digits) == number)


class IdState:
    """Where one id is now, folded from its records."""

    __slots__ = ("allocated_at", "id", "note", "number", "owner", "series", "status", "updated_at")

    def __init__(
        self,
        id: str,
        series: str,
        number: int,
        owner: str | None,
        status: str,
        allocated_at: float,
        updated_at: float,
        note: dict[str, Any] | None = None,
    ) -> None:
        self.id, self.series, self.number, self.owner = id, series, number, owner
        self.status, self.allocated_at, self.updated_at = status, allocated_at, updated_at
        self.note: dict[str, Any] = note if note is not None else {}

    def __repr__(self) -> str:
        return f"IdState({self.to_dict()!r})"

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "series": self.series,
            "number": self.number,
            "owner": self.owner,
            "status": self.status,
            "allocated_at": self.allocated_at,
            "updated_at": self.updated_at,
            **self.note,
        }


class StateSource(Protocol):
    """States known before the records being folded (the local ledger's index)."""

    def get(self, ident: str) -> IdState | None: ...

    def all(self) -> list[IdState]: ...


class Folded:
    """What the records say: each id's state, and each series' high-water mark.

    Built on a ``base`` (states as of some earlier point), only the ids asked for or
    touched by later records are loaded; ``states`` loads everything.
    """

    __slots__ = ("_base", "_touched", "high")

    def __init__(self, base: StateSource | None = None, high: dict[str, int] | None = None):
        self._base = base
        self._touched: dict[str, IdState] = {}  # loaded from the base, or new since it
        self.high: dict[str, int] = dict(high or {})  # per series, the highest number seen

    def get(self, ident: str) -> IdState | None:
        state = self._touched.get(ident)
        if state is None and self._base is not None:
            state = self._base.get(ident)
            if state is not None:
                self._touched[ident] = state
        return state

    @property
    def touched(self) -> list[IdState]:
        """The states loaded from the base or changed since it: what an index update needs."""
        return list(self._touched.values())

    @property
    def states(self) -> dict[str, IdState]:
        """Every id's state, in allocation order."""
        if self._base is not None:
            merged = {s.id: self._touched.get(s.id, s) for s in self._base.all()}
            for ident, state in self._touched.items():
                merged.setdefault(ident, state)
            self._base, self._touched = None, merged
        return self._touched

    def apply(self, records: Iterable[Record]) -> Folded:
        """Fold ``records`` (oldest first) into this state; returns self."""
        high = self.high
        for rec in records:
            if rec.number > high.get(rec.series, -1):
                high[rec.series] = rec.number
            if rec.op == "seeded":
                continue
            state = self.get(rec.id)
            if rec.op == "allocated":
                if state is None:
                    self._touched[rec.id] = IdState(
                        rec.id,
                        rec.series,
                        rec.number,
                        rec.owner,
                        "allocated",
                        rec.ts,
                        rec.ts,
                        dict(rec.note),
                    )
                continue
            if state is None:
                continue  # a transition for an id this ledger never issued: ignore, keep going
            state.status = rec.op
            state.updated_at = rec.ts
            state.note.update(rec.note)
        return self


def fold(records: Iterable[Record]) -> dict[str, IdState]:
    """The current state of every id, in allocation order."""
    return Folded().apply(records).states


def high_water(records: Iterable[Record], series: str) -> int | None:
    """The highest number any record of ``series`` mentions, or None if it was never used."""
    numbers = [r.number for r in records if r.series == series]
    return max(numbers) if numbers else None


class History:
    """What a reader or a transaction sees: the records, and what they say.

    Each is computed on first use. A backend that stores the fold (the local one) answers
    ``folded`` and ``high`` without reading every record.
    """

    __slots__ = ("_fold", "_folded", "_high", "_read", "_records")

    def __init__(
        self,
        read: Callable[[], list[Record]],
        folder: Callable[[], Folded] | None = None,
        high: Callable[[], dict[str, int]] | None = None,
    ) -> None:
        self._read, self._fold, self._high = read, folder, high
        self._records: list[Record] | None = None
        self._folded: Folded | None = None

    @property
    def records(self) -> list[Record]:
        if self._records is None:
            self._records = self._read()
        return self._records

    @property
    def folded(self) -> Folded:
        if self._folded is None:
            self._folded = self._fold() if self._fold else Folded().apply(self.records)
        return self._folded

    @property
    def high(self) -> dict[str, int]:
        """Each series' high-water mark: all an allocation needs."""
        if self._folded is None and self._high is not None:
            return self._high()
        return self.folded.high


class Backend(Protocol):
    """Where ledger records are stored."""

    def read(self) -> list[Record]:
        """Every committed record, oldest first."""
        ...

    def view(self) -> History:
        """The committed records and their fold, read without the write lock."""
        ...

    def transact(self, fn: Callable[[History], list[Record]]) -> list[Record]:
        """Atomically: show ``fn`` the history, append what it returns; return the appended."""
        ...


def _refuse_a_changed_format(series: Series, top: int, history: History) -> None:
    """The id the ledger issued last must still be written the way the series writes ids:
    a prefix or width changed afterwards would make old and new ids of one number differ."""
    if top <= 0 or history.folded.get(series.format(top)) is not None:
        return
    issued = next(
        (
            r.id
            for r in reversed(history.records)
            if r.op == "allocated" and r.series == series.name and r.number == top
        ),
        None,
    )
    if issued is not None:
        raise LedgerError(
            f"series {series.name} now writes {series.format(top)}, but the ledger issued "
            f"{issued}: its prefix or width changed after ids were issued. Nothing was "
            f"allocated; set them back in gitfleet.toml (issued ids keep their names)"
        )


class Ledger:
    """The rules of allocation on top of a backend."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend

    def states(self) -> dict[str, IdState]:
        """Every id's state, in allocation order."""
        return self.backend.view().folded.states

    def folded(self) -> Folded:
        """What the ledger says, each id's state loaded only when asked for (``get``)."""
        return self.backend.view().folded

    def seed(self, series: Series, seed: Callable[[], int]) -> int:
        """Record where ``series`` starts (once); return its current high-water mark."""

        def txn(history: History) -> list[Record]:
            if series.name in history.high:
                return []
            return [Record("seeded", series.name, max(seed(), 0), ts=time.time())]

        self.backend.transact(txn)
        return self.backend.view().high.get(series.name, 0)

    def allocate(
        self,
        series: Series,
        count: int,
        owner: str | Callable[[str], str],
        seed: Callable[[], int],
        note: dict[str, Any] | Callable[[str], dict[str, Any]] | None = None,
    ) -> list[str]:
        """Issue ``count`` contiguous new ids of ``series`` to ``owner`` in one transaction.

        ``owner`` is a name, or a function of the id for a run whose ids each belong to
        another agent branch (``fleet/SP-152``). ``seed`` returns the highest number already
        claimed in the repository; it is called only the first time a series is used (inside
        the transaction, so exactly once).
        """
        if count < 1:
            raise LedgerError(f"cannot allocate {count} ids; ask for 1 or more")
        if not owner:
            raise LedgerError("an allocation needs an owner; pass --owner NAME")

        def txn(history: History) -> list[Record]:
            now = time.time()
            new: list[Record] = []
            top = history.high.get(series.name)
            if top is None:
                top = max(seed(), 0)
                new.append(Record("seeded", series.name, top, ts=now))
            # Marks are kept per series name; a series renamed in gitfleet.toml (same prefix)
            # starts a new mark, so ids the ledger already issued are stepped over, never
            # issued again.
            known = history.folded
            _refuse_a_changed_format(series, top, history)
            while known.get(series.format(top + 1)) is not None:
                top += 1
            for number in range(top + 1, top + 1 + count):
                ident = series.format(number)
                who = owner(ident) if callable(owner) else owner
                extra = note(ident) if callable(note) else dict(note or {})
                new.append(Record("allocated", series.name, number, ident, who, now, extra))
            return new

        return [rec.id for rec in self.backend.transact(txn) if rec.op == "allocated"]

    def transition(
        self,
        ids: Sequence[str],
        op: str,
        *,
        owner_check: str | None = None,
        note: dict[str, Any] | None = None,
        force: bool = False,
    ) -> list[str]:
        """Move ``ids`` to ``op``; refuse impossible moves unless ``force``. Returns those moved."""
        if op not in _NEXT:
            raise LedgerError(f"unknown state {op!r}")

        def txn(history: History) -> list[Record]:
            states = history.folded
            new: list[Record] = []
            now = time.time()
            for ident in ids:
                state = states.get(ident)
                if state is None:
                    raise LedgerError(
                        f"{ident} was never allocated by this ledger; see `gitfleet ids list`"
                    )
                if owner_check is not None and state.owner != owner_check and not force:
                    raise LedgerError(
                        f"{ident} is allocated to {state.owner}, not {owner_check}; "
                        "pass --force to override"
                    )
                if state.status == op and op != "committed":
                    continue
                if op not in _NEXT[state.status] and not force:
                    raise LedgerError(f"{ident} is {state.status}; it cannot become {op}")
                new.append(
                    Record(
                        op, state.series, state.number, ident, state.owner, now, dict(note or {})
                    )
                )
            return new

        return [rec.id for rec in self.backend.transact(txn)]
