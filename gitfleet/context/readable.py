"""Which blobs of a tree the index can read: present, small enough, and (when read) text.

A partial clone (``--filter=blob:limit=...``) or a copy made without its largest objects
lacks some blobs, and asking ``git cat-file`` for a blob a partial clone lacks makes git
fetch it from the remote, one round trip per blob, or fail offline. So the missing ones are
found first with ``rev-list --missing=print`` (which never fetches), sizes are read with
``cat-file --batch-check`` (no contents inflated), and only present blobs of a sane size
are read at all. What was left out is counted, for one warning line.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from gitfleet import git
from gitfleet.context import repomap
from gitfleet.errors import GitError


@dataclass(frozen=True)
class Skipped:
    """Files of the tree the index left out, by why."""

    missing: int = 0
    huge: int = 0
    binary: int = 0

    def __bool__(self) -> bool:
        return bool(self.missing or self.huge or self.binary)

    def warning(self) -> str:
        """One line for the user; empty when nothing was skipped."""
        if not self:
            return ""
        why = []
        if self.missing:
            why.append(f"{self.missing} missing from this clone (partial or shallow)")
        if self.huge:
            why.append(f"{self.huge} over {repomap.MAX_INDEX_BYTES // 1024} KB")
        if self.binary:
            why.append(f"{self.binary} binary")
        total = self.missing + self.huge + self.binary
        return f"the index skipped {total} file(s): {', '.join(why)}; they are not searched"


def missing_objects(repo_path: str, tree_id: str) -> set[str]:
    """Objects under ``tree_id`` this repository lacks (never fetched to find out)."""
    done = git.run(
        ["rev-list", "--objects", "--missing=print", "--no-object-names", tree_id],
        repo_path,
        env=git.no_git_env(),
        check=False,
    )
    if done.returncode != 0:  # a tree itself missing: whatever cat-file finds is all there is
        return set()
    return {line[1:] for line in done.stdout.splitlines() if line.startswith("?")}


def blob_sizes(repo_path: str, oids: Sequence[str]) -> dict[str, int]:
    """Sizes of the blobs among ``oids`` that are present (contents are not read)."""
    if not oids:
        return {}
    done = git.run(
        ["cat-file", "--batch-check=%(objectname) %(objecttype) %(objectsize)"],
        repo_path,
        input="".join(f"{oid}\n" for oid in oids),
        env=git.no_git_env(),
        check=False,
    )
    sizes: dict[str, int] = {}
    for line in done.stdout.splitlines():
        fields = line.split()
        if len(fields) == 3 and fields[1] == "blob":  # not "<oid> missing"
            sizes[fields[0]] = int(fields[2])
    return sizes


def readable(
    repo_path: str, tree_id: str, files: Sequence[repomap.TreeFile]
) -> tuple[list[repomap.TreeFile], Skipped]:
    """The listed files worth reading, and how many were missing or too big."""
    try:
        absent = missing_objects(repo_path, tree_id)
        sizes = blob_sizes(repo_path, [f.oid for f in files if f.oid not in absent])
    except GitError:  # git itself would not run: leave it to the reader to say so
        return list(files), Skipped()
    keep: list[repomap.TreeFile] = []
    missing = huge = 0
    for f in files:
        size = sizes.get(f.oid)
        if size is None:
            missing += 1
        elif size > repomap.MAX_INDEX_BYTES:
            huge += 1
        else:
            keep.append(f)
    return keep, Skipped(missing=missing, huge=huge)
