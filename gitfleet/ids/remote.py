"""The ledger kept on the git remote, for fleets spread over several machines.

The records live on the remote under ``refs/gitfleet/ledger`` as a chain of commits; each
transaction is one commit whose tree holds every record as JSON lines in append-only shards
(``000000.jsonl``, ``000001.jsonl``, ...; only the last shard changes, so a push sends one
small blob, one tree and one commit however long the ledger grows). A write is a compare-and-swap:
``git push --force-with-lease=<ref>:<old>``, which the server's receive-pack re-checks under
its ref lock; the first commit uses the empty-expectation form (the ref must not exist), so
two first writers cannot both win. A refused swap means another machine wrote first: forget
what we knew, fetch, re-run the transaction on the fresh records, retry with jittered
backoff, a bounded number of times. A push whose answer is lost is checked by re-reading.

Processes of one machine serialise on a local flock first, so only other machines make a
swap fail. Each attempt costs two round trips: a fetch (only the ref advertisement when
nothing changed) and the push. The fetch lands in the private local ref
``refs/gitfleet/remote-ledger``, which keeps the ledger objects reachable and gives the
next fetch something to negotiate from.

Transport is the ``git`` binary on the remote's real URL (``remote.<name>.url``, never the
``gitfleet::`` push URL), so credentials and SSH config apply. Objects are made and read
with git plumbing (``hash-object``, ``mktree``, ``commit-tree``, ``cat-file --batch``); they
never touch the user's branches. An unreachable remote is an error, never a silent
local allocation.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from gitfleet import git, locking
from gitfleet.config import Config
from gitfleet.errors import LedgerError
from gitfleet.git.blobs import batch_blobs
from gitfleet.git.remote import remote_url
from gitfleet.git.repo import Repo
from gitfleet.ids.ledger import Backend, History, Record, high_water
from gitfleet.ids.local import LocalBackend

DEFAULT_REF = "refs/gitfleet/ledger"
LOCAL_REF = "refs/gitfleet/remote-ledger"
# The newest ledger commit this clone ever saw: kept reachable here, and with the high-water
# marks it holds in SEEN_NAME, so a ledger ref deleted or rewound on the remote (a `push
# --mirror` from an old clone, a migration that copied branches only) is noticed, never
# taken for an empty ledger that would hand the same ids out again.
SEEN_REF = "refs/gitfleet/ledger-seen"
SEEN_NAME = "remote-ledger-seen.json"
SHARD_SIZE = 1000  # records per shard before a new one starts
MAX_ATTEMPTS = 30
BACKOFF_BASE = 0.005  # seconds; doubled after each refusal in a row
BACKOFF_CAP = 1.0  # seconds
WAIT_AFTER = 2  # races lost in a row before a machine asks the others to let it through
WAIT_TTL = 10.0  # seconds a waiting marker is honoured (its machine may have died)
YIELD_MAX = 3.0  # seconds a machine holds back for waiters, per transaction (env override)
# Seconds the hooks may trust the last tip this machine fetched or pushed without asking the
# remote again (GITFLEET_LEDGER_CACHE_TTL overrides; 0 turns the cache off). Allocations never
# use it. This machine's own allocations are always in it; only ids another machine
# allocated in the last few seconds can be missing from it.
CACHE_TTL = 5.0
# Ledger commits need no user identity (CI runners often have none configured).
_IDENTITY = {
    "GIT_AUTHOR_NAME": "gitfleet",
    "GIT_AUTHOR_EMAIL": "gitfleet@localhost",
    "GIT_COMMITTER_NAME": "gitfleet",
    "GIT_COMMITTER_EMAIL": "gitfleet@localhost",
}
# Reasons a server gives when the ref moved between our read and our update: a lost race,
# worth a retry. Any other refusal (a hook, a permission) is final.
_RACE_REASONS = (
    "stale info",
    "fetch first",
    "non-fast-forward",
    "failed to update ref",
    "failed to lock",
    "cannot lock ref",
    "incorrect old value",
    "but expected",
    "reference already exists",
)
# git's words for a push that never reached the server (so certainly nothing was recorded).
_NEVER_CONNECTED = (
    "unable to connect",
    "Connection refused",
    "Could not resolve",
    "does not appear to be a git repository",
    "Network is unreachable",
    "No route to host",
    "Connection timed out",
    "Permission denied",
    "Authentication failed",
    "not found",
)
_C_LOCALE = {"LC_ALL": "C", "LANGUAGE": "C"}  # we read git's messages: keep them untranslated


@dataclass
class _Push:
    ok: bool
    race: bool = False  # refused because the ref moved: retry on fresh records
    reason: str = ""
    lost: bool = False  # no answer: the connection failed before or during the push


class RemoteBackend:
    """Ledger records in a commit chain on the remote, written by compare-and-swap pushes."""

    def __init__(
        self,
        repo: Repo,
        remote: str,
        ref: str = DEFAULT_REF,
        *,
        max_attempts: int = MAX_ATTEMPTS,
        cache_ttl: float | None = None,
    ) -> None:
        self.repo = repo
        self.remote = remote
        self.ref = ref
        self.max_attempts = max_attempts
        self.cache_ttl = (
            _env_seconds("GITFLEET_LEDGER_CACHE_TTL", CACHE_TTL) if cache_ttl is None else cache_ttl
        )
        self.url = remote_url(repo, remote)
        state = repo.state_dir
        self._lock_path = state / "remote-ledger.lock"
        self._cache_path = state / "remote-ledger-cache.json"
        self._shards: dict[str, list[Record]] = {}  # blob oid -> parsed records
        self._last_raw: tuple[str, bytes] = ("", b"")  # the newest shard read: (oid, bytes)
        self._seen_waiters: list[str] = []  # machines with a live waiting marker, last fetch

    # -- the Backend protocol -------------------------------------------------------------

    def read(self) -> list[Record]:
        """Every record on the remote (trusting a tip fetched less than ``cache_ttl`` ago)."""
        cached = self._cached_tip()
        if not isinstance(cached, _Missing):
            try:
                return self._records(cached)
            except _ObjectsMissing:
                pass  # pruned since: fetch them again
        with locking.exclusive(self._lock_path):
            try:
                tip = self._fetch()
            except _Unreachable as exc:
                raise self._unreachable(str(exc), "the ledger could not be read") from None
            self._write_cache(tip)
            records = self._records(tip)
            self._never_behind(tip, records)
            self._remember(tip, records)
        return records

    def view(self) -> History:
        records = self.read()
        return History(lambda: records)

    def transact(self, fn: Callable[[History], list[Record]]) -> list[Record]:
        """Append what ``fn`` returns to the remote ledger by compare-and-swap, with retries."""
        with locking.exclusive(self._lock_path):
            try:
                return self._transact(fn)
            except _Unreachable as exc:
                raise self._unreachable(str(exc), "nothing was allocated") from None

    def _transact(self, fn: Callable[[History], list[Record]]) -> list[Record]:
        waiting = False  # we asked the other machines to let us through
        try:
            for attempt in range(1, self.max_attempts + 1):
                new = self._attempt(fn, attempt, waiting)
                if new is not None:
                    return new
                waiting = waiting or attempt >= WAIT_AFTER
        finally:
            if waiting:
                self._withdraw()
        raise LedgerError(
            f"gave up after {self.max_attempts} attempts: {self.ref} on {self.remote} "
            f"({self.url}) kept moving under other writers.\n  Nothing was allocated; run the "
            "command again (many machines allocating at once: allocate several ids per call "
            "with -n)"
        )

    def _attempt(
        self, fn: Callable[[History], list[Record]], attempt: int, waiting: bool
    ) -> list[Record] | None:
        """One read-decide-swap; the appended records, or None when another machine won."""
        # Always read first, even when this machine's last push is probably still the tip:
        # a machine that skipped the read would beat every machine that just lost a race
        # (they must read) to the next push, and starve them while its queue lasts.
        tip = self._fetch()
        if not waiting:
            tip = self._yield_to_waiters(tip)
        records = self._records(tip)
        self._never_behind(tip, records)
        new = fn(History(lambda: records))
        if not new:
            return []
        candidate = self._commit(tip, new)
        pushed = self._push(candidate, tip)
        if pushed.lost:
            pushed = self._verify(candidate, pushed.reason)
        if pushed.ok:
            self._set_local(candidate)
            self._write_cache(candidate)
            self._remember(candidate, [*records, *new])
            return new
        self._drop_cache()  # never keep a state the server refused
        if not pushed.race:
            raise LedgerError(
                f"the remote {self.remote} ({self.url}) refused to update {self.ref}: "
                f"{pushed.reason}.\n  Nothing was allocated. The server must accept pushes "
                "to refs/gitfleet/*; or use the local ledger (`gitfleet ids migrate --to "
                'local`, then [ledger] backend = "local")'
            )
        if attempt >= WAIT_AFTER and not waiting:
            self._announce(candidate)
        # Another machine wrote first. Back off a little, more after each loss in a row, so
        # many machines spread out instead of colliding in lockstep; kept small because
        # while we sleep, the winners keep writing.
        time.sleep(random.uniform(0, min(BACKOFF_CAP, BACKOFF_BASE * 2**attempt)))
        return None

    # -- never behind what this clone saw ----------------------------------------------------

    def _seen(self) -> dict[str, Any]:
        try:
            data = json.loads((self.repo.state_dir / SEEN_NAME).read_text("utf-8"))
        except (OSError, ValueError):
            return {}
        if not isinstance(data, dict) or data.get("ref") != self.ref:
            return {}
        return data

    def _remember(self, tip: str | None, records: list[Record]) -> None:
        if tip is None:
            return
        high = dict(self._seen().get("high", {}))
        for rec in records:
            high[rec.series] = max(int(high.get(rec.series, -1)), rec.number)
        self._plumb("update-ref", "-m", "gitfleet: newest ledger seen", SEEN_REF, tip)
        body = {"ref": self.ref, "url": self.url, "tip": tip, "high": high}
        locking.atomic_write(self.repo.state_dir / SEEN_NAME, json.dumps(body) + "\n")

    def _never_behind(self, tip: str | None, records: list[Record]) -> None:
        """Refuse a remote ledger that holds less than this clone once saw there."""
        seen = self._seen()
        marks = seen.get("high", {})
        if not marks:
            return
        have: dict[str, int] = {}
        for rec in records:
            have[rec.series] = max(have.get(rec.series, -1), rec.number)
        short = {s: n for s, n in marks.items() if have.get(s, -1) < int(n)}
        if not short:
            return
        what = "is gone" if tip is None else f"holds less ({tip[:10]})"
        lost = ", ".join(f"{s} up to {n}" for s, n in sorted(short.items()))
        self._drop_cache()
        raise LedgerError(
            f"{self.ref} on {self.remote} ({self.url}) {what}, but this clone saw it hold "
            f"{lost} (commit {str(seen.get('tip'))[:10]}); it was deleted or rewound (a `git "
            "push --mirror` from an old clone?). Nothing was allocated: allocating now would "
            "hand out those ids again.\n"
            f"  restore it from this clone: `git push {self.url} "
            f"{SEEN_REF}:{self.ref}` (add --force if the ref exists), then run the command again"
        )

    # -- fairness between machines --------------------------------------------------------
    # The winner of a race starts its next transaction the moment it wins, while the loser
    # only learns it lost when its push returns: left alone, a machine with a queue of
    # allocations wins every race and starves the others (the "capture effect"; seen here as
    # one machine losing 30 races in a row). So a machine that lost WAIT_AFTER races in a row
    # publishes a marker ref, and the others hold back (up to YIELD_MAX) while one is there.

    @property
    def _marker(self) -> str:
        return f"{self.ref}-waiting/{self._machine_id()}"

    def _machine_id(self) -> str:
        """A random name for this clone (its common dir): one "machine" of the fleet."""
        path = self.repo.state_dir / "machine-id"
        try:
            return path.read_text().strip()
        except FileNotFoundError:
            ident = uuid.uuid4().hex[:12]
            locking.atomic_write(path, ident + "\n")  # we hold the ledger lock
            return ident

    def _waiters(self) -> list[str]:
        """Other machines waiting for their turn, as of the last fetch."""
        me = self._machine_id()
        return [name for name in self._seen_waiters if name != me]

    def _yield_to_waiters(self, tip: str | None) -> str | None:
        deadline = time.monotonic() + _env_seconds("GITFLEET_LEDGER_YIELD_MAX", YIELD_MAX)
        while time.monotonic() < deadline and self._waiters():
            time.sleep(random.uniform(0.02, 0.1))
            tip = self._fetch()
        return tip

    def _announce(self, candidate: str) -> None:
        # Best effort: without the marker we are merely less likely to win, never wrong.
        self._git("push", "--quiet", "--no-verify", self.url, f"+{candidate}:{self._marker}")

    def _withdraw(self) -> None:
        self._git("push", "--quiet", "--no-verify", self.url, f":{self._marker}")

    def _verify(self, candidate: str, reason: str) -> _Push:
        """After a push whose answer was lost: re-read to learn whether it was applied."""
        try:
            tip = self._fetch()
        except _Unreachable:
            if any(sign in reason for sign in _NEVER_CONNECTED):
                raise
            raise LedgerError(
                f"the ledger remote {self.remote} ({self.url}) went away while recording the "
                f"allocation ({reason}).\n  No id was handed out; the server may or may not "
                "have recorded them, and recorded ids are never reissued. Fix the connection "
                "and run the command again; `gitfleet ids list` shows what was recorded"
            ) from None
        if (
            tip is not None
            and self._git("merge-base", "--is-ancestor", candidate, tip).returncode == 0
        ):
            return _Push(True)  # it landed; only the answer was lost
        raise LedgerError(
            f"the connection to the ledger remote {self.remote} ({self.url}) broke during the "
            f"push ({reason}); re-reading shows it was not recorded, so nothing was allocated.\n"
            "  Run the command again"
        )

    # -- transport ------------------------------------------------------------------------

    def _git(self, *args: str, input: str | None = None) -> git.Completed:
        env = {**git.no_git_env(), **_C_LOCALE}
        return git.run(args, self.repo.toplevel, input=input, env=env, check=False)

    def _fetch(self) -> str | None:
        """Fetch the remote tip into the private local ref; None when the ledger is empty."""
        done = self._git(
            "fetch", "--quiet", "--no-tags", "--no-write-fetch-head", "--recurse-submodules=no",
            "--no-auto-gc", "--prune", self.url, f"+{self.ref}:{LOCAL_REF}",
            f"+{self.ref}-waiting/*:{LOCAL_REF}-waiting/*",
        )  # fmt: skip
        if done.returncode == 0:
            return self._read_local_refs()
        if "couldn't find remote ref" in done.stderr:
            self._set_local(None)  # the remote has no ledger (yet, or it was moved away)
            self._seen_waiters = []
            return None
        self._drop_cache()
        raise _Unreachable(_last_line(done.stderr))

    def _unreachable(self, why: str, consequence: str) -> LedgerError:
        return LedgerError(
            f"the ledger remote {self.remote} ({self.url}) could not be reached, so "
            f"{consequence}: {why}\n  gitfleet never allocates locally while [ledger] backend ="
            ' "remote"; fix the connection and run the command again'
        )

    def _push(self, new: str, old: str | None) -> _Push:
        done = self._git(
            "push", "--porcelain", "--no-verify", "--no-follow-tags", "--no-signed",
            "--recurse-submodules=no", f"--force-with-lease={self.ref}:{old or ''}",
            self.url, f"{new}:{self.ref}",
        )  # fmt: skip
        for line in done.stdout.splitlines():
            parts = line.split("\t")
            if len(parts) >= 3 and parts[1].endswith(f":{self.ref}"):
                if line[:1] in (" ", "+", "*", "="):
                    return _Push(True)
                reason = parts[2]
                return _Push(False, any(r in reason for r in _RACE_REASONS), reason)
        # No status line: the connection failed before or during the push, and whether the
        # server applied it is unknown until we look.
        self._drop_cache()
        return _Push(False, reason=_last_line(done.stderr), lost=True)

    # -- objects --------------------------------------------------------------------------

    def _plumb(
        self, *args: str, input: str | None = None, env: dict[str, str] | None = None
    ) -> str:
        done = git.run(args, self.repo.toplevel, input=input, env=env or git.no_git_env())
        return done.stdout

    def _read_local_refs(self) -> str:
        """The fetched tip; also notes the waiting markers younger than WAIT_TTL."""
        listing = self._git(
            "for-each-ref", "--format=%(refname) %(objectname) %(committerdate:unix)",
            LOCAL_REF, f"{LOCAL_REF}-waiting/",
        ).stdout  # fmt: skip
        tip, now, self._seen_waiters = "", time.time(), []
        for line in listing.splitlines():
            name, oid, when = [*line.split(" "), "", ""][:3]
            if name == LOCAL_REF:
                tip = oid
            elif when.isdigit() and abs(now - int(when)) < WAIT_TTL:
                self._seen_waiters.append(name.rpartition("/")[2])
        if not tip:
            raise LedgerError(f"fetching {self.ref} from {self.url} left no {LOCAL_REF}")
        return tip

    def _set_local(self, oid: str | None) -> None:
        if oid is None:
            self._git("update-ref", "-d", LOCAL_REF)
        else:
            self._plumb("update-ref", "-m", "gitfleet: remote ledger", LOCAL_REF, oid)

    def _shard_list(self, tip: str | None) -> list[tuple[str, str]]:
        """(name, blob oid) of each shard, in order."""
        if tip is None:
            return []
        kind = self._git("cat-file", "-t", tip).stdout.strip()
        if kind and kind != "commit":
            raise LedgerError(
                f"{self.ref} on {self.remote} ({self.url}) points at a {kind} ({tip[:10]}), not "
                "a ledger commit; someone replaced it by hand. Nothing was changed.\n"
                f"  restore it: `git push --force {self.url} {SEEN_REF}:{self.ref}` from a clone "
                "that used the ledger, or see `git reflog` on the server"
            )
        done = self._git("ls-tree", "-z", tip)
        if done.returncode != 0:
            raise _ObjectsMissing(tip)
        shards = []
        for entry in git.split_z(done.stdout):
            meta, name = entry.split("\t", 1)
            if name.endswith(".jsonl"):
                shards.append((name, meta.split()[2]))
        return sorted(shards)

    def _records(self, tip: str | None) -> list[Record]:
        shards = self._shard_list(tip)
        missing = [blob for _, blob in shards if blob not in self._shards]
        if missing:
            data = self._blobs(missing, tip)
            names = dict((blob, name) for name, blob in shards)
            for blob in missing:
                self._shards[blob] = self._parse(data[blob], names[blob], tip)
            last = shards[-1][1]
            if last in data:
                self._last_raw = (last, data[last])  # the next commit appends to it
        return [rec for _, blob in shards for rec in self._shards[blob]]

    def _blobs(self, oids: list[str], tip: str | None) -> dict[str, bytes]:
        """The contents of ``oids``, read by one ``git cat-file --batch``."""
        done = self._git("cat-file", "--batch", input="\n".join(oids) + "\n")
        found = batch_blobs(done.stdout.encode("utf-8", "surrogateescape"), oids)
        if len(found) != len(set(oids)):
            raise _ObjectsMissing(tip)
        return found

    def _parse(self, data: bytes, name: str, tip: str | None) -> list[Record]:
        out: list[Record] = []
        for number, line in enumerate(data.decode("utf-8", "replace").splitlines(), 1):
            if not line.strip():
                continue
            try:
                out.append(Record.from_json(line))
            except ValueError as exc:
                raise LedgerError(
                    f"{self.ref} on {self.url} (commit {tip}), {name} line {number}, "
                    f"is not a ledger record ({exc}).\n  Nothing was changed; someone edited the "
                    "ledger ref by hand: restore it from its previous commit"
                ) from None
        return out

    def _commit(self, tip: str | None, new: list[Record]) -> str:
        """A commit on ``tip`` whose last shard has ``new`` appended (or a new shard)."""
        shards = self._shard_list(tip)
        payload = "".join(rec.to_json() + "\n" for rec in new)
        if shards and len(self._shards[shards[-1][1]]) < SHARD_SIZE:
            name, blob = shards.pop()
            raw = self._last_raw[1] if self._last_raw[0] == blob else self._blobs([blob], tip)[blob]
            data = raw.decode("utf-8") + payload
        else:
            name, data = f"{len(shards):06d}.jsonl", payload
        blob = self._plumb("hash-object", "-w", "--stdin", input=data).strip()
        entries = [*shards, (name, blob)]
        listing = "".join(f"100644 blob {oid}\t{path}\0" for path, oid in entries)
        tree = self._plumb("mktree", "-z", input=listing).strip()
        # The nonce keeps two machines' identical transactions from hashing to one commit,
        # which would let both pushes "succeed".
        message = f"gitfleet ledger: {_summary(new)}\n\nnonce: {uuid.uuid4().hex}\n"
        parents = ["-p", tip] if tip else []
        env = {**git.no_git_env(), **_IDENTITY}
        return self._plumb("commit-tree", tree, *parents, input=message, env=env).strip()

    # -- the hooks' short-lived cache -----------------------------------------------------

    def _cached_tip(self) -> str | _Missing | None:
        try:
            data = json.loads(self._cache_path.read_text())
        except (OSError, ValueError):
            return _MISSING
        if not isinstance(data, dict) or (data.get("url"), data.get("ref")) != (self.url, self.ref):
            return _MISSING
        age = time.time() - float(data.get("at", 0))
        tip = data.get("tip")
        if not 0 <= age < self.cache_ttl or not (tip is None or isinstance(tip, str)):
            return _MISSING
        return tip

    def _write_cache(self, tip: str | None) -> None:
        body = {"url": self.url, "ref": self.ref, "tip": tip, "at": time.time()}
        locking.atomic_write(self._cache_path, json.dumps(body) + "\n")

    def _drop_cache(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self._cache_path)


class _Missing:
    """Nothing known (as opposed to ``None``: known to be empty)."""


class _Unreachable(Exception):
    """git could not talk to the remote; the message is git's last line."""


class _ObjectsMissing(Exception):
    """A ledger commit's tree or blobs are not in the local object store."""


_MISSING = _Missing()


def _env_seconds(name: str, default: float) -> float:
    raw = os.environ.get(name, "")
    try:
        return max(0.0, float(raw)) if raw else default
    except ValueError:
        raise LedgerError(
            f"{name}={raw!r} is not a number of seconds; unset it or use e.g. {default:g}"
        ) from None


def _summary(new: list[Record]) -> str:
    ids = [r.id for r in new if r.id]
    ops = sorted({r.op for r in new if r.id})
    if not ids:
        return f"{len(new)} records"
    shown = ", ".join(ids[:5]) + (f" (+{len(ids) - 5})" if len(ids) > 5 else "")
    return f"{'/'.join(ops)} {shown}"


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else "(git printed nothing)"


# -- moving a ledger between backends -------------------------------------------------------


@dataclass
class MigrateResult:
    source: str
    destination: str
    copied: int  # records appended to the destination
    already_there: int  # source records the destination already had
    high_water: dict[str, int] = field(default_factory=dict)  # per series, destination after
    next_step: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "destination": self.destination,
            "copied": self.copied,
            "already_there": self.already_there,
            "high_water": self.high_water,
            "next_step": self.next_step,
        }


def migrate(repo: Repo, cfg: Config, to: str) -> MigrateResult:
    """Copy every record of the other backend into ``to`` ("remote" or "local").

    Idempotent; refuses (copying nothing) when the destination has different records for
    an id the source knows. Never re-issues: every source record ends up in the destination,
    so its high-water marks are at least the source's.
    """
    local: Backend = LocalBackend(repo.state_dir)
    remote: Backend = RemoteBackend(repo, cfg.remote)
    where = {
        "local": str(LocalBackend(repo.state_dir).path),
        "remote": f"{DEFAULT_REF} on {cfg.remote}",
    }
    if to == "remote":
        src, dst, src_name = local, remote, "local"
    elif to == "local":
        src, dst, src_name = remote, local, "remote"
    else:
        raise LedgerError(f"cannot migrate to {to!r}; use --to remote or --to local")
    source = src.read()
    counts: dict[str, int] = {}

    def txn(history: History) -> list[Record]:
        existing = history.records
        new = plan_merge(source, existing, where[src_name], where[to])
        counts["copied"], counts["before"] = len(new), len(existing)
        return new

    dst.transact(txn)
    after = dst.read()
    marks: dict[str, int] = {}
    for series in sorted({r.series for r in source}):
        top, mine = high_water(after, series), high_water(source, series)
        if top is None or mine is None or top < mine:  # plan_merge makes this impossible
            raise LedgerError(f"migration lost series {series}: destination {top}, source {mine}")
        marks[series] = top
    step = (
        f'ledger moved to {to}; gitfleet.toml already says backend = "{to}"'
        if cfg.ledger_backend == to
        else f'now set [ledger] backend = "{to}" in gitfleet.toml and commit it, on every '
        f"machine; until then allocations still go to the {src_name} ledger"
    )
    return MigrateResult(
        src_name, to, counts.get("copied", 0), len(source) - counts.get("copied", 0), marks, step
    )


def plan_merge(
    source: list[Record], dest: list[Record], src_where: str, dst_where: str
) -> list[Record]:
    """The source records the destination lacks, in source order; raise on a conflict.

    Per id, one history must extend the other (records compared exactly): the destination
    gets the missing tail. Two different histories for one id (say SP-152 allocated to
    different owners on each side) are a conflict a person must resolve.
    """

    def by_id(records: list[Record]) -> dict[str, list[str]]:
        seqs: dict[str, list[str]] = {}
        for rec in records:
            if rec.op != "seeded":
                seqs.setdefault(rec.id, []).append(rec.to_json())
        return seqs

    mine, theirs = by_id(source), by_id(dest)
    skip: dict[str, int] = {}
    conflicts = []
    for ident, seq in mine.items():
        have = theirs.get(ident, [])
        if seq[: len(have)] == have:
            skip[ident] = len(have)
        elif have[: len(seq)] == seq:
            skip[ident] = len(seq)
        else:
            conflicts.append(ident)
    if conflicts:
        shown = ", ".join(conflicts[:8]) + (
            f" and {len(conflicts) - 8} more" if len(conflicts) > 8 else ""
        )
        raise LedgerError(
            f"cannot migrate: {dst_where} already has different records for {shown} than "
            f"{src_where}.\n  Nothing was copied. Compare `gitfleet ids list` on both sides; "
            "release or re-allocate the clashing ids on one side, then migrate again"
        )
    seeded = {(r.series, r.number) for r in dest if r.op == "seeded"}
    new: list[Record] = []
    for rec in source:
        if rec.op == "seeded":
            if (rec.series, rec.number) not in seeded:
                seeded.add((rec.series, rec.number))
                new.append(rec)
        elif skip[rec.id] > 0:
            skip[rec.id] -= 1
        else:
            new.append(rec)
    return new
