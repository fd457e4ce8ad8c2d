"""The remote ledger where it lives: ``refs/gitfleet/ledger`` in this repository, read,
and guarded against updates that would make it hand out ids again.

Its format is :mod:`gitfleet.ids.remote`'s: a chain of commits whose tree holds every
record as JSON lines in shards (``000000.jsonl``, ...), read in name order. A server reads
it straight from its own refs: a fetch would write a ref, which git forbids inside the
quarantine of a pre-receive hook.
"""

from __future__ import annotations

import json

from gitfleet.errors import LedgerError
from gitfleet.git import ZERO_OID, split_z
from gitfleet.git.blobs import batch_blobs
from gitfleet.git.repo import Repo
from gitfleet.ids.ledger import Folded, IdState, Record
from gitfleet.ids.remote import DEFAULT_REF

LEDGER_REF = DEFAULT_REF


def ledger_commit(repo: Repo, rev: str = LEDGER_REF) -> str | None:
    """The ledger commit ``rev`` names; None when the ref does not exist."""
    found = repo.git("rev-parse", "-q", "--verify", rev, check=False)
    if found.returncode != 0:
        return None
    commit = repo.git("rev-parse", "-q", "--verify", f"{rev}^{{commit}}", check=False)
    if commit.returncode != 0:
        kind = repo.git("cat-file", "-t", found.stdout.strip(), check=False).stdout.strip()
        raise LedgerError(
            f"{rev} points at a {kind or 'missing object'}, not a ledger commit.\n"
            f"  restore it from its last good commit (`git reflog {rev}` on the server, then "
            f"`git update-ref {rev} <commit>`)"
        )
    return commit.stdout.strip()


def shards_at(repo: Repo, commit: str) -> list[tuple[str, str]]:
    """(name, blob oid) of each shard of a ledger commit, in reading order."""
    shards = []
    for entry in split_z(repo.git("ls-tree", "-z", commit).stdout):
        meta, name = entry.split("\t", 1)
        if name.endswith(".jsonl") and meta.split()[1] == "blob":
            shards.append((name, meta.split()[2]))
    return sorted(shards)


def _blobs(repo: Repo, oids: list[str]) -> dict[str, bytes]:
    if not oids:
        return {}
    raw = repo.git("cat-file", "--batch", input="".join(f"{o}\n" for o in oids)).stdout
    return batch_blobs(raw.encode("utf-8", "surrogateescape"), oids)


def _parse(data: bytes, where: str, first_line: int = 1) -> list[Record]:
    """The records of shard bytes; ``where`` names the shard in errors."""
    records = []
    for number, line in enumerate(data.decode("utf-8", "replace").splitlines(), first_line):
        if not line.strip():
            continue
        try:
            records.append(Record.from_json(line))
        except ValueError as exc:
            raise LedgerError(
                f"{where} line {number}, is not a ledger record ({exc}).\n"
                "  restore the ref from its previous commit"
            ) from None
    return records


def records_at(repo: Repo, commit: str) -> list[Record]:
    """Every record of the ledger commit ``commit``, oldest first."""
    shards = shards_at(repo, commit)
    blobs = _blobs(repo, [oid for _, oid in shards])
    where = f"{LEDGER_REF} (commit {commit[:12]}),"
    return [rec for name, oid in shards for rec in _parse(blobs.get(oid, b""), f"{where} {name}")]


class LedgerAt:
    """One ledger commit, asked about a few ids at a time.

    A push claims a handful of ids; folding a long-lived ledger (100k records) on every push
    would cost seconds. Any record of an id holds that id as a JSON string, so git grep
    finds its lines (in shard order), and only they are parsed and folded.
    """

    def __init__(self, repo: Repo, commit: str | None) -> None:
        self.repo, self.commit = repo, commit

    @classmethod
    def of(cls, repo: Repo) -> LedgerAt:
        """This repository's ledger; an empty one when it has no ledger ref."""
        return cls(repo, ledger_commit(repo))

    def get(self, ident: str) -> IdState | None:
        if self.commit is None:
            return None
        needle = json.dumps(ident)
        found = self.repo.git(
            "grep", "--no-color", "-h", "-F", "-e", needle, self.commit, "--", "*.jsonl",
            check=False,
        )  # fmt: skip
        if found.returncode > 1:  # 1: no line holds it
            raise LedgerError(f"cannot read {LEDGER_REF} ({self.commit[:12]}): {found.stderr}")
        records = _parse(found.stdout.encode("utf-8", "surrogateescape"), LEDGER_REF)
        return Folded().apply(r for r in records if r.id == ident).get(ident)


def _appended(repo: Repo, old: str, new: str) -> list[Record] | None:
    """The records ``new`` appends to ``old``; None unless it only appends (every old shard
    still there, each the same bytes or those bytes with lines added)."""
    before, after = dict(shards_at(repo, old)), dict(shards_at(repo, new))
    if any(name not in after for name in before):
        return None
    touched = {name: oid for name, oid in after.items() if before.get(name) != oid}
    blobs = _blobs(repo, [*touched.values(), *(before[n] for n in touched if n in before)])
    records = []
    for name in sorted(touched):
        grown, kept = blobs.get(touched[name], b""), blobs.get(before.get(name, ""), b"")
        if not grown.startswith(kept):
            return None
        first = kept.count(b"\n") + 1
        records += _parse(grown[len(kept) :], f"{LEDGER_REF} (commit {new[:12]}), {name}", first)
    return records


def ledger_update_problems(repo: Repo, old: str, new: str) -> list[str]:
    """Why the update ``old`` -> ``new`` of the ledger ref is refused (empty: accepted).

    Ids are never reissued as long as no series' high-water mark drops, so that is the rule:
    appends pass; deleting the ref or rewinding it (a ``git push --mirror`` from an old
    clone does either) is refused. A restore from a clone that saw more (``git push
    --force <url> refs/gitfleet/ledger-seen:refs/gitfleet/ledger``) raises the marks, and
    passes. A commit with a malformed record is refused: it would break every reader.
    """
    fix = (
        f"    to change it on purpose, run `git update-ref {LEDGER_REF} <commit>` (or `-d`) in "
        f"{repo.git_dir} on the server"
    )
    if new == ZERO_OID:
        return [f"deleting {LEDGER_REF} would let every id it holds be handed out again.\n{fix}"]
    kind = _kind(repo, new)
    if kind != "commit":
        return [f"{LEDGER_REF} must name a ledger commit; this push makes it a {kind}.\n{fix}"]
    try:
        # The common case, an allocation: every old record kept in place, so no mark can
        # drop, and only the appended lines need reading.
        if _kind(repo, old) == "commit" and _appended(repo, old, new) is not None:
            return []
        after = Folded().apply(records_at(repo, new)).high
    except LedgerError as exc:
        return [f"{exc}\n    the pushed ledger commit is malformed; nothing was recorded"]
    before = _marks_or_none(repo, old)
    lower = {s: n for s, n in (before or {}).items() if after.get(s, -1) < n}
    if not lower:
        return []
    shown = ", ".join(f"{s} from {n} to {after.get(s, 'none')}" for s, n in sorted(lower.items()))
    return [
        f"this push would lower the ledger's high-water marks ({shown}): those ids would be "
        "handed out again. The ledger only grows.\n"
        f"    fetch it and allocate again (`gitfleet ids allocate SERIES`).\n{fix}"
    ]


def _kind(repo: Repo, oid: str) -> str:
    if oid == ZERO_OID:
        return ""
    return repo.git("cat-file", "-t", oid, check=False).stdout.strip()


def _marks_or_none(repo: Repo, old: str) -> dict[str, int] | None:
    """The high-water marks of the ledger as it is; None when there is none to keep (no
    ref, or a damaged one: then any well-formed ledger may replace it)."""
    if old == ZERO_OID:
        return None
    try:
        commit = ledger_commit(repo, old)
        return Folded().apply(records_at(repo, commit)).high if commit else None
    except LedgerError:
        return None
