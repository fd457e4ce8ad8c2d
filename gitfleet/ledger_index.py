"""Caches of what the local ledger says, so a lookup does not re-read every record.

``ledger.jsonl`` stays the one source of truth. These files cache what its first
``offset`` bytes say, bound to those bytes by their CRC: a ledger that was moved aside and
started again, or restored from elsewhere, no longer matches and the cache is ignored.
Readers fold only the records after ``offset`` on top. Losing, deleting or damaging a
cache costs speed, never correctness: every failure here is a miss. (The CRC detects
accidents, not intent: whoever can write the state dir can edit the ledger itself.)

- ``ledger.high.json``: each series' high-water mark, all an allocation needs.
- ``ledger.index.sqlite``: each id's state. SQLite rather than one JSON snapshot because
  the commit check needs the states of the one or two ids a commit claims, and a snapshot
  would have to be parsed whole, which on a long-lived ledger costs more than the check.
"""

from __future__ import annotations

import contextlib
import json
import zlib
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gitfleet import locking
from gitfleet.ledger import IdState

if TYPE_CHECKING:
    import sqlite3

FORMAT = 1  # the layout of these caches: a file of another format is not read
_HEAD = 4096  # the leading bytes whose CRC tells which ledger file an index belongs to

_DDL = """
PRAGMA journal_mode = WAL;
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


def _crc(data: bytes, end: int) -> int:
    return zlib.crc32(memoryview(data)[:end])


# -- the high-water marks -------------------------------------------------------------------


def load_high(path: Path, data: bytes, end: int) -> tuple[int, dict[str, int]] | None:
    """(offset, marks) of the snapshot when it describes a prefix of ``data``, else None."""
    try:
        snap = json.loads(path.read_bytes())
        offset, high = snap["offset"], snap["high"]
        if snap["format"] != FORMAT or not isinstance(offset, int) or not 0 < offset <= end:
            return None
        if snap["crc"] != _crc(data, offset) or not isinstance(high, dict):
            return None
        return offset, {str(name): int(top) for name, top in high.items()}
    except (OSError, ValueError, KeyError, TypeError):
        return None


def save_high(path: Path, data: bytes, end: int, high: dict[str, int]) -> None:
    # One file replaced whole: a reader sees an old snapshot or a new one, each correct for
    # the prefix it names.
    body = {"format": FORMAT, "offset": end, "crc": _crc(data, end), "high": high}
    with contextlib.suppress(OSError):
        locking.atomic_write(path, json.dumps(body, separators=(",", ":")), durable=False)


# -- the states -----------------------------------------------------------------------------


def _state(row: tuple[Any, ...]) -> IdState:
    ident, series, number, owner, status, allocated_at, updated_at, note = row
    return IdState(ident, series, number, owner, status, allocated_at, updated_at, json.loads(note))


class Index:
    """The states as of ``offset``, one id at a time or all in allocation order.

    Every read comes from one SQLite read transaction, opened with the index and kept until
    :meth:`close`, so the states, the marks and the offset are of one moment even while
    other processes update the file. Should SQLite fail after that, ``fallback`` (the
    states of the ledger's first ``offset`` bytes, parsed) answers instead: a failure must
    never read as "this id was never allocated".
    """

    def __init__(
        self,
        db: sqlite3.Connection,
        offset: int,
        high: dict[str, int],
        fallback: Callable[[], dict[str, IdState]],
    ) -> None:
        self.db, self.offset, self.high = db, offset, high
        self._fallback = fallback
        self._parsed: dict[str, IdState] | None = None

    def _parsed_states(self) -> dict[str, IdState]:
        if self._parsed is None:
            self._parsed = self._fallback()
            self.close()
        return self._parsed

    def get(self, ident: str) -> IdState | None:
        import sqlite3

        if self._parsed is None:
            query = f"SELECT {_COLUMNS} FROM states WHERE id = ?"
            try:
                row = self.db.execute(query, (ident,)).fetchone()
                return _state(row) if row else None
            except (sqlite3.Error, ValueError, TypeError):
                pass
        return self._parsed_states().get(ident)

    def all(self) -> list[IdState]:
        import sqlite3

        if self._parsed is None:
            try:
                rows = self.db.execute(f"SELECT {_COLUMNS} FROM states ORDER BY seq").fetchall()
                return [_state(row) for row in rows]
            except (sqlite3.Error, ValueError, TypeError):
                pass
        return list(self._parsed_states().values())

    def close(self) -> None:
        self.db.close()


def open_index(
    path: Path, data: bytes, end: int, parse_prefix: Callable[[int], dict[str, IdState]]
) -> Index | None:
    """The index when it describes a prefix of ``data`` (up to ``end``), else None.

    ``parse_prefix(offset)``: the states of the ledger's first ``offset`` bytes, parsed,
    for when SQLite fails after the index was opened.
    """
    if not path.exists():
        return None
    import sqlite3

    try:
        db = sqlite3.connect(path, timeout=10, isolation_level=None)
    except sqlite3.Error:
        return None
    try:
        db.execute("BEGIN")  # the first read below fixes the snapshot every later read sees
        meta = dict(db.execute("SELECT k, v FROM meta").fetchall())
        offset = meta.get("offset", 0)
        if meta.get("format") != FORMAT or not isinstance(offset, int) or not 0 < offset <= end:
            db.close()
            return None
        if meta.get("crc") != _crc(data, offset):
            db.close()
            return None
        high = {str(k): int(v) for k, v in db.execute("SELECT series, n FROM high").fetchall()}
    except (sqlite3.Error, ValueError, TypeError):
        db.close()
        return None
    return Index(db, offset, high, lambda: parse_prefix(offset))


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
    ``start``. ``start`` 0 rebuilds the index from ``states`` alone (all ids), unless the
    file already holds a later index of this same ledger. Otherwise compare-and-swap on the
    stored offset: when another process has moved the index meanwhile, this update is
    dropped (theirs is as good), so two writers never interleave their rows. Failures are
    dropped too: an index that is not written is only slower.
    """
    import sqlite3

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


def _head(data: bytes, end: int) -> tuple[int, int]:
    length = min(_HEAD, end)
    return length, _crc(data, length)


def _keep_stored(stored: dict[str, Any], data: bytes, start: int, end: int) -> bool:
    """Whether the stored index must stay as it is rather than take this update."""
    if start:  # an update from ``start``: only onto exactly that index
        return stored.get("format") != FORMAT or stored.get("offset") != start
    # A rebuild: never over a later index of this same ledger (it would only lose ground).
    length = stored.get("head_len", 0)
    return (
        stored.get("format") == FORMAT
        and stored.get("offset", 0) > end
        and 0 < length <= end
        and stored.get("head_crc") == _crc(data, length)
    )


def _write(
    path: Path, data: bytes, start: int, end: int, high: dict[str, int], states: list[IdState]
) -> None:
    import sqlite3

    db = sqlite3.connect(path, timeout=10, isolation_level=None)
    try:
        db.executescript(_DDL)
        db.execute("BEGIN IMMEDIATE")
        stored = dict(db.execute("SELECT k, v FROM meta").fetchall())
        if _keep_stored(stored, data, start, end):
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
        head_len, head_crc = _head(data, end)
        db.executemany(
            "INSERT INTO meta (k, v) VALUES (?, ?) ON CONFLICT (k) DO UPDATE SET v = excluded.v",
            [
                ("format", FORMAT),
                ("offset", end),
                ("crc", _crc(data, end)),
                ("head_len", head_len),
                ("head_crc", head_crc),
            ],
        )
        db.execute("COMMIT")
    finally:
        db.close()
