"""The id ledger: an append-only record of allocations, shared by every worktree.

Each line of ``<common dir>/gitfleet/ledger.jsonl`` is one JSON record. An id moves
``allocated -> committed -> landed`` or to ``released``; a ``seeded`` record remembers the
highest id that was already in the repository when a series was first used. Ids are never
reused: the next number is always above every number any record ever mentioned, released
ones included. Gaps are fine; duplicates never happen.

Storage sits behind :class:`Backend`, whose one write operation is a transaction
``transact(fn)``: ``fn`` sees every record and returns the ones to append. The local backend
runs it under an exclusive file lock; the remote backend (refs on the git remote) runs it as
compare-and-swap with retries. All the rules live here, once, for both.
"""

# No `from __future__ import annotations` here: typing.NamedTuple compiles each string
# annotation at class creation, and this module loads in every hook run.

import json
import os
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from types import MappingProxyType
from typing import Any, NamedTuple, Protocol

from gitfleet import locking
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
    # NamedTuple, not a dataclass: the commit hook reads the ledger, and importing
    # dataclasses (which imports inspect) costs more than the read.
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
    def from_json(cls, line: str) -> "Record":
        return cls.from_data(json.loads(line))

    @classmethod
    def from_data(cls, data: Any) -> "Record":
        if not isinstance(data, dict):
            raise ValueError("not a JSON object")
        if data.get("v") != SCHEMA:
            raise ValueError(f"unknown schema version {data.get('v')!r}")
        op, series, number = data.get("op"), data.get("series"), data.get("n")
        if op not in OPS or not isinstance(series, str) or not isinstance(number, int):
            raise ValueError("missing or invalid op/series/n")
        owner = data.get("owner")
        ident = data.get("id", "")
        note = {
            k: v
            for k, v in data.items()
            if k not in ("v", "op", "series", "n", "id", "owner", "ts")
        }
        return cls(op, series, number, ident, owner, float(data.get("ts", 0.0)), note)


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


def fold(records: Iterable[Record]) -> dict[str, IdState]:
    """The current state of every id, in allocation order."""
    states: dict[str, IdState] = {}
    for rec in records:
        if rec.op == "seeded":
            continue
        state = states.get(rec.id)
        if rec.op == "allocated":
            if state is None:
                states[rec.id] = IdState(
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
    return states


def high_water(records: Iterable[Record], series: str) -> int | None:
    """The highest number any record of ``series`` mentions, or None if it was never used."""
    numbers = [r.number for r in records if r.series == series]
    return max(numbers) if numbers else None


class Backend(Protocol):
    """Where ledger records are stored."""

    def read(self) -> list[Record]:
        """Every committed record, oldest first."""
        ...

    def transact(self, fn: Callable[[list[Record]], list[Record]]) -> list[Record]:
        """Atomically: read every record, append what ``fn`` returns; return the appended."""
        ...


class LocalBackend:
    """``ledger.jsonl`` in the common dir, written under an exclusive lock with fsync."""

    def __init__(self, state_dir: Path) -> None:
        self.path = state_dir / "ledger.jsonl"
        self.lock_path = state_dir / "ledger.lock"

    def read(self) -> list[Record]:
        # Appends are single write() calls of whole lines, so a reader without the lock sees
        # a prefix of complete lines plus, at worst, a torn last line, which it ignores.
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return []
        return self._parse(data)

    def _parse(self, data: bytes) -> list[Record]:
        lines = data.split(b"\n")
        complete, tail = lines[:-1], lines[-1]
        del tail  # a torn final line from a writer that died mid-write: never acknowledged
        # One JSON document for the whole file: a single C-level parse instead of one call
        # per line, which every allocation and every commit check pays. Any damage sends us
        # to the line-by-line reading, which names the bad line.
        filled = [raw for raw in complete if raw.strip()]
        try:
            datas = json.loads(b"[" + b",".join(filled) + b"]")
            if len(datas) == len(filled):  # else a line held two values: let it be named
                return [Record.from_data(d) for d in datas]
        except (ValueError, UnicodeDecodeError):
            pass
        records: list[Record] = []
        for number, raw in enumerate(complete, 1):
            if not raw.strip():
                continue
            try:
                records.append(Record.from_json(raw.decode("utf-8")))
            except (ValueError, UnicodeDecodeError) as exc:
                raise LedgerError(
                    f"{self.path}, line {number}, is not a ledger record ({exc}).\n"
                    "  The file was left untouched. If it was edited by hand, restore that line;"
                    f" otherwise move the file aside and run `gitfleet init` to reseed."
                ) from None
        return records

    def transact(self, fn: Callable[[list[Record]], list[Record]]) -> list[Record]:
        with locking.exclusive(self.lock_path):
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                data = _read_fd(fd)
                records = self._parse(data)
                new = fn(records)
                if not new:
                    return []
                end = data.rfind(b"\n") + 1
                if end != len(data):
                    # Drop a torn tail before appending, or the next record would be glued
                    # onto it. We hold the lock, so its writer is gone.
                    os.ftruncate(fd, end)
                payload = "".join(rec.to_json() + "\n" for rec in new).encode("utf-8")
                os.lseek(fd, 0, os.SEEK_END)
                _write_all(fd, payload)
                os.fsync(fd)
                return new
            finally:
                os.close(fd)


def _read_fd(fd: int) -> bytes:
    chunks = []
    os.lseek(fd, 0, os.SEEK_SET)
    while chunk := os.read(fd, 1 << 20):
        chunks.append(chunk)
    return b"".join(chunks)


def _write_all(fd: int, payload: bytes) -> None:
    view = memoryview(payload)
    while view:
        written = os.write(fd, view)
        view = view[written:]


class Ledger:
    """The rules of allocation on top of a backend."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend

    def states(self) -> dict[str, IdState]:
        return fold(self.backend.read())

    def seed(self, series: Series, seed: Callable[[], int]) -> int:
        """Record where ``series`` starts (once); return its current high-water mark."""

        def txn(records: list[Record]) -> list[Record]:
            if high_water(records, series.name) is not None:
                return []
            return [Record("seeded", series.name, max(seed(), 0), ts=time.time())]

        self.backend.transact(txn)
        return high_water(self.backend.read(), series.name) or 0

    def allocate(
        self,
        series: Series,
        count: int,
        owner: str | Callable[[str], str],
        seed: Callable[[], int],
        note: dict[str, Any] | None = None,
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

        def txn(records: list[Record]) -> list[Record]:
            now = time.time()
            new: list[Record] = []
            top = high_water(records, series.name)
            if top is None:
                top = max(seed(), 0)
                new.append(Record("seeded", series.name, top, ts=now))
            extra = dict(note or {})
            for number in range(top + 1, top + 1 + count):
                ident = series.format(number)
                who = owner(ident) if callable(owner) else owner
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

        def txn(records: list[Record]) -> list[Record]:
            states = fold(records)
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
