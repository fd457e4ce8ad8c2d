"""The remote ledger read where it lives: ``refs/gitfleet/ledger`` in this repository.

Its format is :mod:`gitfleet.ids.remote`'s: a chain of commits whose tree holds every
record as JSON lines in shards (``000000.jsonl``, ...), read in name order. A server reads
it straight from its own refs: a fetch would write a ref, which git forbids inside the
quarantine of a pre-receive hook.
"""

from __future__ import annotations

from gitfleet.errors import LedgerError
from gitfleet.git import split_z
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
