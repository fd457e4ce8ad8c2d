"""A derived index of the local ledger's fold, so a lookup does not read every record.

``ledger.jsonl`` stays the one source of truth. This SQLite file caches what its first
``offset`` bytes say (each id's state, each series' high-water mark), bound to those bytes
by their CRC: a ledger that was moved aside and started again, or restored from elsewhere,
no longer matches and the index is ignored. Readers fold only the records after ``offset``
on top of it. Losing or deleting the file costs speed, never correctness: every failure
here is a cache miss.

SQLite rather than one JSON snapshot because the commit check needs the states of the one
or two ids a commit claims, and a snapshot would have to be parsed whole, which on a
long-lived ledger costs more than the check.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import zlib
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from gitfleet.ledger import SCHEMA, IdState

_DDL = """
CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS high (series TEXT PRIMARY KEY, n INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS states (
    id TEXT PRIMARY KEY, seq INTEGER NOT NULL, series TEXT NOT NULL, number INTEGER NOT NULL,
    owner TEXT, status TEXT NOT NULL, allocated_at REAL NOT NULL, updated_at REAL NOT NULL,
    note TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS states_seq ON states (seq);
"""
_COLUMNS = "id, series, number, owner, status, allocated_at, updated_at, note"


def _state(row: tuple[Any, ...]) -> IdState:
    ident, series, number, owner, status, allocated_at, updated_at, note = row
    return IdState(ident, series, number, owner, status, allocated_at, updated_at, json.loads(note))


class Index:
    """The states as of the index's ``offset``, read one id at a time or all in order."""

    def __init__(self, db: sqlite3.Connection, offset: int, high: dict[str, int]) -> None:
        self.db, self.offset, self.high = db, offset, high

    def get(self, ident: str) -> IdState | None:
        try:
            row = self.db.execute(
                f"SELECT {_COLUMNS} FROM states WHERE id = ?", (ident,)
            ).fetchone()
        except sqlite3.Error:
            return None  # only reached if the file broke after opening; see open_index
        return _state(row) if row else None

    def all(self) -> list[IdState]:
        rows = self.db.execute(f"SELECT {_COLUMNS} FROM states ORDER BY seq").fetchall()
        return [_state(row) for row in rows]


def _crc(data: bytes, end: int) -> int:
    return zlib.crc32(memoryview(data)[:end])


def open_index(path: Path, data: bytes, end: int) -> Index | None:
    """The index when it describes a prefix of ``data`` (up to ``end``), else None."""
    if not path.exists():
        return None
    try:
        db = sqlite3.connect(path, timeout=10, isolation_level=None)
        meta = dict(db.execute("SELECT k, v FROM meta").fetchall())
        offset = meta.get("offset", 0)
        if meta.get("schema") != SCHEMA or not 0 < offset <= end:
            return None
        if meta.get("crc") != _crc(data, offset):
            return None
        high = dict(db.execute("SELECT series, n FROM high").fetchall())
    except sqlite3.Error:
        return None
    return Index(db, offset, high)


def save(
    path: Path,
    data: bytes,
    start: int,
    end: int,
    high: dict[str, int],
    states: Iterable[IdState],
) -> None:
    """Record that ``data[:end]`` folds to ``high`` and, changed since ``start``, ``states``.

    ``states`` must hold every id whose state differs from what the index says at
    ``start``. ``start`` 0 rebuilds the index from ``states`` alone (all ids). Otherwise
    compare-and-swap on the stored offset: when another process has moved the index
    meanwhile, this update is dropped (theirs is as good), so two writers never interleave
    their rows. Failures are dropped too: an index that is not written is only slower.
    """
    rows = list(states)
    for attempt in (1, 2):
        try:
            _write(path, data, start, end, high, rows)
            return
        except sqlite3.Error as exc:
            # Plain DatabaseError is "not a database" or "malformed" (busy and read-only
            # are its subclasses): a rebuild starts such a file afresh, once.
            if start or attempt == 2 or type(exc) is not sqlite3.DatabaseError:
                return
            with contextlib.suppress(OSError):
                path.unlink()


def _write(
    path: Path, data: bytes, start: int, end: int, high: dict[str, int], states: list[IdState]
) -> None:
    db = sqlite3.connect(path, timeout=10, isolation_level=None)
    try:
        db.executescript(_DDL)
        db.execute("BEGIN IMMEDIATE")
        stored = dict(db.execute("SELECT k, v FROM meta").fetchall())
        if start and (stored.get("offset") != start or stored.get("schema") != SCHEMA):
            db.execute("ROLLBACK")
            return
        if not start:
            db.execute("DELETE FROM states")
            db.execute("DELETE FROM high")
        (seq,) = db.execute("SELECT coalesce(max(seq), 0) FROM states").fetchone()
        db.executemany(
            "INSERT INTO states (id, seq, series, number, owner, status, allocated_at,"
            " updated_at, note) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO"
            " UPDATE SET owner = excluded.owner, status = excluded.status,"
            " updated_at = excluded.updated_at, note = excluded.note",
            [
                (s.id, seq + i, s.series, s.number, s.owner, s.status, s.allocated_at,
                 s.updated_at, json.dumps(s.note, sort_keys=True))
                for i, s in enumerate(states, 1)
            ],
        )  # fmt: skip
        db.executemany(
            "INSERT INTO high (series, n) VALUES (?, ?)"
            " ON CONFLICT (series) DO UPDATE SET n = excluded.n",
            sorted(high.items()),
        )
        db.executemany(
            "INSERT INTO meta (k, v) VALUES (?, ?) ON CONFLICT (k) DO UPDATE SET v = excluded.v",
            [("schema", SCHEMA), ("offset", end), ("crc", _crc(data, end))],
        )
        db.execute("COMMIT")
    finally:
        db.close()
