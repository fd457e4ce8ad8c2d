"""Rebase a range of commits onto another commit in memory, with pygit2.

``git rebase`` needs a worktree and an index, and an agent's worktree is busy. Like
git-revise, this replays each commit with ``merge_trees`` (ancestor = the commit's parent,
ours = the tip built so far, theirs = the commit) and writes only new objects: no ref,
no index file and no worktree is touched, so a failed rebase leaves nothing behind but
unreachable objects that ``git gc`` collects.

It follows plain ``git rebase`` (no ``--rebase-merges``) where choices arise:
- merge commits in the range are dropped and the commits they brought in are replayed in
  topological order (a branch that merged the target mid-way still lands linearly);
- commits whose patch is already on ``onto`` since the merge base are skipped, by
  patch-id as ``git cherry`` does, and so are commits that become empty once replayed;
- a commit whose parent is already the tip being built is kept as it is (a fast-forward),
  so an up-to-date branch keeps its commit ids;
- author and message are preserved; the committer is who runs gitfleet (``git var``).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from gitfleet.errors import UsageError
from gitfleet.git import no_git_env, run

if TYPE_CHECKING:
    import pygit2


class Rebased(NamedTuple):
    """The rebase worked: ``new_tip`` holds ``applied`` (original ids) on top of ``onto``."""

    new_tip: str
    applied: list[str]
    skipped: list[str]  # original ids whose change ``onto`` already has
    created: Sequence[str] = ()  # the new commits, oldest first
    resolved: Sequence[tuple[str, str]] = ()  # (path, rung) the resolver settled, in order


class Conflict(NamedTuple):
    """Replaying ``commit`` onto the tip built so far conflicts in ``paths``."""

    commit: str
    paths: list[str]
    declined: Sequence[tuple[str, str]] = ()  # (path, why the resolver left it), in order


Outcome = Rebased | Conflict

# Settles what it can of a merge index's conflicts, in place: given the repository, the
# index and the tree being landed onto (whose .gitattributes speak for the owner), it
# answers (path, rung) for each file settled and (path, reason) for each one left.
Resolver = Callable[
    ["pygit2.Repository", "pygit2.Index", "pygit2.Tree"],
    tuple[Sequence[tuple[str, str]], Sequence[tuple[str, str]]],
]


def rebase_range(
    repo_path: Path,
    upstream: str,
    head: str,
    onto: str,
    committer: str | None = None,
    resolver: Resolver | None = None,
) -> Outcome:
    """Replay the commits of ``upstream..head`` onto ``onto``, creating commit objects only.

    ``committer``: a ``git var GIT_COMMITTER_IDENT`` line to commit as (default: asked of
    git here, in this process's environment, when the first commit is written).
    ``resolver``: tried on a commit's conflicts before they stop the rebase (the landing's
    synthesis ladder); the rebase goes on when it settles every file.
    """
    import pygit2

    with _known_objects():
        repo = pygit2.Repository(str(repo_path))
        return _replay(repo, repo_path, upstream, head, onto, committer, resolver)


_strict_lock = threading.Lock()
_strict_off = 0  # rebases running with the check off (the queue daemon runs several at once)


@contextlib.contextmanager
def _known_objects() -> Iterator[None]:
    """Skip libgit2's per-entry existence check while writing trees.

    Every entry of a merged tree is an object already in the repository (or a blob the
    merge just wrote), so the check (one odb lookup per file of the tree) proves nothing,
    yet it made writing a 2000-file tree take ~35 ms instead of ~3. The setting is process
    wide: it is restored to libgit2's default once the last rebase running ends.
    """
    import pygit2

    global _strict_off
    with _strict_lock:
        if _strict_off == 0:
            pygit2.settings.enable_strict_object_creation(False)
        _strict_off += 1
    try:
        yield
    finally:
        with _strict_lock:
            _strict_off -= 1
            if _strict_off == 0:
                pygit2.settings.enable_strict_object_creation(True)


def _replay(
    repo: pygit2.Repository,
    repo_path: Path,
    upstream: str,
    head: str,
    onto: str,
    ident: str | None,
    resolver: Resolver | None = None,
) -> Outcome:
    head_c = _commit(repo, head)
    onto_c = _commit(repo, onto)
    todo = _range(repo, [_commit(repo, upstream).id, onto_c.id], head_c.id)
    upstream_patches = _PatchIds(repo, _commits_only_in(repo, onto_c.id, head_c.id))
    committer: pygit2.Signature | None = None
    tip = onto_c
    applied: list[str] = []
    skipped: list[str] = []
    created: list[str] = []
    resolved: list[tuple[str, str]] = []
    for commit in todo:
        parent_tree = commit.parents[0].tree if commit.parents else _empty_tree(repo)
        if commit.parent_ids and commit.parent_ids[0] == tip.id:
            tip = commit  # nothing below it changed: keep the commit as it is
            applied.append(str(commit.id))
            continue
        if upstream_patches.contains(commit, parent_tree):
            skipped.append(str(commit.id))
            continue
        index = repo.merge_trees(parent_tree, tip.tree, commit.tree)
        if index.conflicts is not None:
            paths = _conflict_paths(index.conflicts)
            if resolver is None:
                return Conflict(str(commit.id), paths)
            settled, declined = resolver(repo, index, onto_c.tree)
            if index.conflicts is not None:  # the files it left are the conflict
                return Conflict(str(commit.id), _conflict_paths(index.conflicts), tuple(declined))
            resolved.extend(settled)
        tree_id = index.write_tree(repo)
        if tree_id == tip.tree_id and commit.tree_id != parent_tree.id:
            skipped.append(str(commit.id))  # became empty: its change is already there
            continue
        if committer is None:
            committer = _signature(ident or committer_ident(repo_path))
        # Only a commit that names an encoding gets one (pygit2 refuses None for UTF-8).
        encoding = [commit.message_encoding] if commit.message_encoding else []
        new_id = repo.create_commit(
            None, commit.author, committer, commit.raw_message, tree_id, [tip.id], *encoding
        )
        tip = _commit(repo, str(new_id))
        applied.append(str(commit.id))
        created.append(str(new_id))
    return Rebased(str(tip.id), applied, skipped, created, tuple(resolved))


def _commit(repo: pygit2.Repository, rev: str) -> pygit2.Commit:
    import pygit2

    try:
        obj = repo.revparse_single(rev)
        commit = obj.peel(pygit2.Commit)
    except (KeyError, ValueError, pygit2.GitError, pygit2.InvalidSpecError):
        raise UsageError(
            f"{rev!r} does not name a commit in {repo.path}; check the name with "
            f"`git rev-parse --verify {rev}`"
        ) from None
    return commit


def _empty_tree(repo: pygit2.Repository) -> pygit2.Tree:
    import pygit2

    tree = repo.get(repo.TreeBuilder().write())
    assert isinstance(tree, pygit2.Tree)
    return tree


def _range(
    repo: pygit2.Repository, hide: Iterable[pygit2.Oid], head: pygit2.Oid
) -> list[pygit2.Commit]:
    """Non-merge commits reachable from ``head`` and none of ``hide``, oldest first."""
    from pygit2.enums import SortMode

    walker = repo.walk(head, SortMode.TOPOLOGICAL | SortMode.REVERSE)
    for oid in hide:
        walker.hide(oid)
    return [c for c in walker if len(c.parent_ids) <= 1]


def _commits_only_in(
    repo: pygit2.Repository, tip: pygit2.Oid, other: pygit2.Oid
) -> list[pygit2.Commit]:
    """Non-merge commits of ``tip`` since its merge base with ``other``."""
    from pygit2.enums import SortMode

    walker = repo.walk(tip, SortMode.TOPOLOGICAL)
    walker.hide(other)
    return [c for c in walker if len(c.parent_ids) == 1]


class _PatchIds:
    """Patch-ids of the upstream side, computed lazily.

    A patch-id costs a full diff; like git's ``patch-ids.c`` a cheap key comes first (here
    the set of paths a commit changes) and full patch-ids are only computed for upstream
    commits touching exactly the same paths as a commit being replayed.
    """

    def __init__(self, repo: pygit2.Repository, commits: list[pygit2.Commit]) -> None:
        self._repo = repo
        self._by_paths: dict[frozenset[str], list[pygit2.Commit]] = {}
        self._commits = commits
        self._indexed = False
        self._patch_ids: dict[str, pygit2.Oid | None] = {}

    def contains(self, commit: pygit2.Commit, parent_tree: pygit2.Tree) -> bool:
        if not self._commits:
            return False
        if not self._indexed:
            for c in self._commits:
                diff = c.parents[0].tree.diff_to_tree(c.tree)
                self._by_paths.setdefault(_paths(diff), []).append(c)
            self._indexed = True
        diff = parent_tree.diff_to_tree(commit.tree)
        same_paths = self._by_paths.get(_paths(diff), [])
        if not same_paths:
            return False
        mine = diff.patchid
        return any(self._patch_id(c) == mine for c in same_paths)

    def _patch_id(self, commit: pygit2.Commit) -> pygit2.Oid | None:
        key = str(commit.id)
        if key not in self._patch_ids:
            self._patch_ids[key] = commit.parents[0].tree.diff_to_tree(commit.tree).patchid
        return self._patch_ids[key]


def _paths(diff: pygit2.Diff) -> frozenset[str]:
    return frozenset(
        path for d in diff.deltas for path in (d.old_file.path, d.new_file.path) if path
    )


def _conflict_paths(conflicts: pygit2.index.ConflictCollection) -> list[str]:
    paths: set[str] = set()
    for entries in conflicts:
        paths.update(e.path for e in entries if e is not None)
    return sorted(paths)


def committer_ident(repo_path: Path) -> str:
    """Who commits, as git itself decides (GIT_COMMITTER_* variables, then config)."""
    return run(["var", "GIT_COMMITTER_IDENT"], repo_path, env=no_git_env()).stdout.strip()


def _signature(ident: str) -> pygit2.Signature:
    """``Name <email> 1700000000 +0100`` as a pygit2 signature."""
    import pygit2

    person, _, when = ident.rpartition(">")
    name, _, email = person.partition("<")
    stamp, _, zone = when.strip().partition(" ")
    sign = -1 if zone.startswith("-") else 1
    offset = sign * (int(zone[1:3]) * 60 + int(zone[3:5])) if len(zone) == 5 else 0
    return pygit2.Signature(name.strip(), email.strip(), int(stamp), offset)


def is_ancestor(repo_path: Path, ancestor: str, descendant: str) -> bool:
    """Whether ``ancestor`` is reachable from (or equal to) ``descendant``."""
    import pygit2

    repo = pygit2.Repository(str(repo_path))
    a, d = _commit(repo, ancestor).id, _commit(repo, descendant).id
    return a == d or bool(repo.descendant_of(d, a))


def merge_base(repo_path: Path, one: str, two: str) -> str | None:
    """The best common ancestor of two commits, as ``git merge-base`` (None: unrelated).

    Raises KeyError when either commit is not in the repository (a fetch is missing).
    """
    import pygit2

    repo = pygit2.Repository(str(repo_path))
    ids = []
    for rev in (one, two):
        try:
            ids.append(repo.revparse_single(rev).peel(pygit2.Commit).id)
        except (KeyError, ValueError, pygit2.GitError, pygit2.InvalidSpecError):
            raise KeyError(rev) from None
    found = repo.merge_base(ids[0], ids[1])
    return str(found) if found is not None else None


def preload() -> None:
    """Import pygit2 now (the queue daemon does, in the background, when it starts)."""
    import pygit2  # noqa: F401


__all__ = [
    "Conflict",
    "Outcome",
    "Rebased",
    "Resolver",
    "committer_ident",
    "is_ancestor",
    "merge_base",
    "rebase_range",
]
