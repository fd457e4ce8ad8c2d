"""The local ledger store: one SQLite database in the common dir, shared by every worktree.

Chosen over a JSON-lines file by ``benchmarks/ids.py --ledger-records 20000``: a file must
be parsed whole by every allocation and every commit check (about 180 ms at 20,000 records
here), where SQLite answers one id or the high-water marks from an index. Each record is
still a JSON line (``records.json``), the format the remote ledger and ``ids export`` use.

A transaction is ``BEGIN IMMEDIATE`` (one writer at a time across processes, readers never
blocked, in WAL mode) with ``synchronous=FULL``: once an allocation is answered, a crash or
power cut cannot take it back, and a writer killed mid-way leaves nothing behind. Beside
the append-only records, two tables are kept in the same transaction: each id's current
state and each series' high-water mark, so no reader has to fold the history.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
import sqlite3
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from gitfleet.errors import LedgerError
from gitfleet.ids.ledger import Folded, History, IdState, Record
from gitfleet.locking import atomic_write

DB_NAME = "ledger.sqlite"
LEGACY_NAME = "ledger.jsonl"  # the store before SQLite; imported once, then renamed
_SCHEMA = """
CREATE TABLE IF NOT EXISTS records (seq INTEGER PRIMARY KEY, json TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS ids (
    id TEXT PRIMARY KEY, seq INTEGER NOT NULL, series TEXT NOT NULL, number INTEGER NOT NULL,
    owner TEXT, status TEXT NOT NULL, allocated_at REAL, updated_at REAL, note TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS ids_by_seq ON ids (seq);
CREATE TABLE IF NOT EXISTS high (series TEXT PRIMARY KEY, number INTEGER NOT NULL);
"""
_COLUMNS = "id, series, number, owner, status, allocated_at, updated_at, note"


class _States:
    """Each id's state as stored, read one id at a time or all in allocation order."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    def get(self, ident: str) -> IdState | None:
        row = self.db.execute(f"SELECT {_COLUMNS} FROM ids WHERE id = ?", (ident,)).fetchone()
        return _state(row) if row else None

    def all(self) -> list[IdState]:
        return [_state(r) for r in self.db.execute(f"SELECT {_COLUMNS} FROM ids ORDER BY seq")]


def _state(row: tuple[Any, ...]) -> IdState:
    ident, series, number, owner, status, allocated_at, updated_at, note = row
    return IdState(ident, series, number, owner, status, allocated_at, updated_at, json.loads(note))


class LocalBackend:
    """``ledger.sqlite`` in the state dir (``<common dir>/gitfleet``)."""

    def __init__(self, state_dir: Path) -> None:
        self.state_dir = state_dir
        self.path = state_dir / DB_NAME
        # Each series' high-water mark, also kept beside the state dir (not in it): a ledger
        # deleted or restored from an old copy is noticed, never taken for a new one.
        self.marks_path = state_dir.with_name(state_dir.name + ".marks.json")

    # -- the Backend protocol -------------------------------------------------------------

    def read(self) -> list[Record]:
        with self._connect() as db:
            return _records(db)

    def view(self) -> History:
        """What the ledger says now, read from one snapshot however long the caller takes."""
        db = self._open()
        try:
            db.execute("BEGIN")  # the first read fixes the snapshot every later read sees
            high = _high(db)
        except sqlite3.Error as exc:
            db.close()
            raise _ledger_error(self.path, exc, "read") from None
        return History(lambda: _records(db), lambda: Folded(_States(db), high), lambda: high)

    def transact(self, fn: Callable[[History], list[Record]]) -> list[Record]:
        with self._connect() as db:
            try:
                db.execute("BEGIN IMMEDIATE")
                self._refuse_a_rewound_store(_high(db))
                history = History(
                    lambda: _records(db), lambda: Folded(_States(db), _high(db)), lambda: _high(db)
                )
                new = fn(history)
                _append(db, new)
                marks = _high(db)
                db.execute("COMMIT")
            except BaseException as exc:
                if db.in_transaction:
                    db.execute("ROLLBACK")
                if isinstance(exc, sqlite3.Error):
                    raise _ledger_error(self.path, exc, "write") from None
                raise
            if new:
                self._save_marks(marks)
            return new

    def _save_marks(self, marks: dict[str, int]) -> None:
        """Raise the marks beside the state dir (never lower them)."""
        with contextlib.suppress(OSError):  # the ledger itself holds them too
            kept = self._marks()
            for series, number in marks.items():
                kept[series] = max(kept.get(series, -1), number)
            atomic_write(self.marks_path, json.dumps(kept, sort_keys=True) + "\n")

    def _marks(self) -> dict[str, int]:
        try:
            data = json.loads(self.marks_path.read_text("utf-8"))
        except (OSError, ValueError):
            return {}
        return {str(k): int(v) for k, v in data.items()} if isinstance(data, dict) else {}

    def _refuse_a_lost_store(self) -> None:
        """Only the first allocation ever creates the store: once ids were issued, a missing
        or emptied ledger is refused, or the next allocation would hand them out again."""
        marks = self._marks()
        if not marks:
            return
        issued = ", ".join(f"{s} up to {n}" for s, n in sorted(marks.items()))
        raise LedgerError(
            f"the ledger {self.path} is missing, but this repository's ledger issued {issued} "
            f"({self.marks_path}). Nothing was allocated.\n"
            f"  restore {DB_NAME} (with {DB_NAME}-wal if there is one) from a backup; if it is "
            "lost for good, `gitfleet ids recover` starts a new ledger above those marks "
            "(ids that were allocated and not yet committed are then given up, never reissued)"
        )

    def _refuse_a_rewound_store(self, high: dict[str, int]) -> None:
        """A ledger holding less than its marks (an old backup, a copy without its -wal
        file) would issue the difference again."""
        short = {s: n for s, n in self._marks().items() if high.get(s, -1) < n}
        if short:
            lost = ", ".join(f"{s} up to {n}" for s, n in sorted(short.items()))
            raise LedgerError(
                f"the ledger {self.path} holds less than it once issued ({lost}, says "
                f"{self.marks_path}): it was restored from an older copy, or copied without "
                f"{DB_NAME}-wal. Nothing was allocated.\n"
                "  put the newer copy back; if there is none, move it aside and run "
                "`gitfleet ids recover` to continue above those marks"
            )

    def recover(self) -> dict[str, int]:
        """Start a new, empty ledger above the marks kept beside it; returns the marks."""
        marks = self._marks()
        if self.path.exists():
            raise LedgerError(f"{self.path} exists; there is nothing to recover")
        with self._connect(creating=True) as db:
            db.execute("BEGIN IMMEDIATE")
            _append(db, [Record("seeded", s, n, ts=time.time()) for s, n in sorted(marks.items())])
            db.execute("COMMIT")
        return marks

    # -- opening ----------------------------------------------------------------------------

    @contextlib.contextmanager
    def _connect(self, creating: bool = False) -> Iterator[sqlite3.Connection]:
        db = self._open(creating)
        try:
            yield db
        finally:
            db.close()

    def _open(self, creating: bool = False) -> sqlite3.Connection:
        if not creating and not self.path.exists():
            self._refuse_a_lost_store()
        try:
            self.state_dir.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(self.path, timeout=60, isolation_level=None)
        except (OSError, sqlite3.Error) as exc:
            raise _ledger_error(self.path, exc, "open") from None
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=FULL")
            db.executescript(_SCHEMA)
            self._import_legacy(db)
        except sqlite3.Error as exc:
            db.close()
            raise _ledger_error(self.path, exc, "open") from None
        return db

    def _import_legacy(self, db: sqlite3.Connection) -> None:
        """Bring a ``ledger.jsonl`` of an earlier gitfleet in, once, in one transaction."""
        legacy = self.state_dir / LEGACY_NAME
        if not legacy.exists():
            return
        db.execute("BEGIN IMMEDIATE")
        try:
            if not legacy.exists() or db.execute("SELECT 1 FROM records LIMIT 1").fetchone():
                db.execute("ROLLBACK")
                return  # another process imported it meanwhile
            _append(db, _parse_legacy(legacy))
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        legacy.rename(legacy.with_name(LEGACY_NAME + ".imported"))
        for cache in ("ledger.index.sqlite", "ledger.high.json", "ledger.lock"):
            with contextlib.suppress(OSError):
                os.unlink(self.state_dir / cache)


def _records(db: sqlite3.Connection) -> list[Record]:
    return [Record.from_json(row[0]) for row in db.execute("SELECT json FROM records ORDER BY seq")]


def _high(db: sqlite3.Connection) -> dict[str, int]:
    return {str(s): int(n) for s, n in db.execute("SELECT series, number FROM high")}


def _append(db: sqlite3.Connection, new: list[Record]) -> None:
    """Append ``new`` and bring the states and the marks up to date: inside a transaction."""
    if not new:
        return
    folded = Folded(_States(db), _high(db)).apply(new)
    cursor = db.executemany("INSERT INTO records (json) VALUES (?)", [(r.to_json(),) for r in new])
    del cursor
    last = db.execute("SELECT max(seq) FROM records").fetchone()[0]
    first = last - len(new) + 1
    seq_of = {r.id: first + i for i, r in enumerate(new) if r.op == "allocated"}
    for state in folded.touched:
        seq = seq_of.get(state.id)
        if seq is None:
            db.execute(
                "UPDATE ids SET status = ?, updated_at = ?, note = ? WHERE id = ?",
                (state.status, state.updated_at, json.dumps(state.note), state.id),
            )
        else:
            db.execute(
                f"INSERT INTO ids (seq, {_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (seq, state.id, state.series, state.number, state.owner, state.status,
                 state.allocated_at, state.updated_at, json.dumps(state.note)),
            )  # fmt: skip
    db.executemany(
        "INSERT INTO high (series, number) VALUES (?, ?) ON CONFLICT (series) "
        "DO UPDATE SET number = max(number, excluded.number)",
        list(folded.high.items()),
    )


def _parse_legacy(path: Path) -> list[Record]:
    """The records of an earlier gitfleet's ``ledger.jsonl``. A last line without its
    newline that does not parse is a writer killed mid-write, never acknowledged: dropped,
    as that gitfleet dropped it. One that parses is a record."""
    data = path.read_bytes()
    lines = data.split(b"\n")
    records = []
    for number, raw in enumerate(lines, 1):
        if not raw.strip():
            continue
        try:
            records.append(Record.from_json(raw.decode("utf-8")))
        except (ValueError, UnicodeDecodeError) as exc:
            if number == len(lines) and not data.endswith(b"\n"):
                break  # the torn tail
            raise LedgerError(
                f"{path}, line {number}, is not a ledger record ({exc}); nothing was imported.\n"
                "  restore that line from a backup of the file (it was edited by hand?), then "
                "run the command again; do not move the file aside: its ids would be issued again"
            ) from None
    return records


def _nearly_full(path: Path) -> bool:
    """SQLite reports a full disk met while growing its WAL or shared memory as an I/O error."""
    try:
        return shutil.disk_usage(path.parent).free < 1 << 20
    except OSError:
        return False


def _ledger_error(path: Path, exc: BaseException, doing: str) -> LedgerError:
    """A storage failure said plainly: a full disk or a permission is not a bug."""
    text = str(exc)
    name = str(getattr(exc, "sqlite_errorname", ""))
    full = "FULL" in name or getattr(exc, "errno", None) == errno.ENOSPC
    if full or ("IOERR" in name and _nearly_full(path)):
        why = "the disk is full; free some space and run the command again"
    elif "READONLY" in name or "readonly" in text or isinstance(exc, PermissionError):
        why = f"permission denied; make {path.parent} writable by you and run the command again"
    elif "malformed" in text or "not a database" in text:
        why = (
            f"the file is damaged; restore {path.name} from a backup "
            "(`gitfleet ids export` prints every record as JSON lines)"
        )
    else:
        why = "run the command again; if it keeps failing, report it with this message"
    return LedgerError(f"cannot {doing} the ledger {path}: {text}.\n  Nothing was changed: {why}")
