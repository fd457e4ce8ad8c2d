"""The remote ledger where it lives: ``refs/gitfleet/ledger`` in this repository, read,
and guarded against updates that would make it hand out ids again.

Its format is :mod:`gitfleet.ids.remote`'s: a chain of commits whose tree holds every
record as JSON lines in shards (``000000.jsonl``, ...), read in name order. A server reads
it straight from its own refs: a fetch would write a ref, which git forbids inside the
quarantine of a pre-receive hook.
"""

from __future__ import annotations

from gitfleet.errors import LedgerError
from gitfleet.git import ZERO_OID, split_z
from gitfleet.git.blobs import batch_blobs
from gitfleet.git.repo import Repo
from gitfleet.ids.ledger import Folded, Record
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


def records_at(repo: Repo, commit: str, where: str = LEDGER_REF) -> list[Record]:
    """Every record of the ledger commit ``commit``, oldest first."""
    shards = []
    for entry in split_z(repo.git("ls-tree", "-z", commit).stdout):
        meta, name = entry.split("\t", 1)
        if name.endswith(".jsonl") and meta.split()[1] == "blob":
            shards.append((name, meta.split()[2]))
    shards.sort()
    oids = [oid for _, oid in shards]
    raw = repo.git("cat-file", "--batch", input="".join(f"{o}\n" for o in oids)).stdout
    blobs = batch_blobs(raw.encode("utf-8", "surrogateescape"), oids) if oids else {}
    records: list[Record] = []
    for name, oid in shards:
        text = blobs.get(oid, b"").decode("utf-8", "replace")
        for number, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                records.append(Record.from_json(line))
            except ValueError as exc:
                raise LedgerError(
                    f"{where} (commit {commit[:12]}), {name} line {number}, is not a ledger "
                    f"record ({exc}).\n  restore the ref from its previous commit"
                ) from None
    return records


def ledger_states(repo: Repo) -> Folded | None:
    """What this repository's ledger says; None when it has no ledger ref."""
    commit = ledger_commit(repo)
    if commit is None:
        return None
    return Folded().apply(records_at(repo, commit))


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
    kind = repo.git("cat-file", "-t", new, check=False).stdout.strip()
    if kind != "commit":
        return [f"{LEDGER_REF} must name a ledger commit; this push makes it a {kind}.\n{fix}"]
    try:
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
