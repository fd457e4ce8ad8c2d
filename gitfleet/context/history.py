"""Past commits as a signal: the files that commits worded like the task changed.

A commit message is a task someone already solved, and its changed files are the answer.
BM25 over past messages finds the commits most like the task; each votes for the files it
changed that still exist, a commit touching few files voting louder than a sweep. The
record of messages and files lives in the common dir, one per repository, and grows
incrementally: asking about a descendant of the recorded head reads only the commits since
(``git log old..new``); anything else is read whole.
"""

from __future__ import annotations

import os
import pickle
import tempfile
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from gitfleet import git
from gitfleet.context import lexical
from gitfleet.errors import GitError

HISTORY_VERSION = 1
# A commit changing more files than this is a sweep (a rename, a reformat): it says nothing
# about any one of them.
MAX_FILES = 40
MESSAGE_CHARS = 1000  # the start of a message carries its task; long bodies add noise
TOP_COMMITS = 30  # the most similar commits that vote
MOVED_FILES = True  # follow a file an old commit changed to where it lives now


@dataclass
class History:
    """Past commits reachable from ``head``: their message terms and changed files."""

    head: str
    commits: list[str] = field(default_factory=list)
    terms: list[tuple[str, ...]] = field(default_factory=list)
    files: list[tuple[str, ...]] = field(default_factory=list)
    _index: lexical.Bm25Index | None = None
    _by_file: dict[str, list[int]] | None = None

    def __len__(self) -> int:
        return len(self.commits)

    def add(self, commits: Sequence[tuple[str, str, tuple[str, ...]]]) -> None:
        for oid, message, files in commits:
            self.commits.append(oid)
            self.terms.append(tuple(lexical.terms_of_text(message[:MESSAGE_CHARS])))
            self.files.append(files)
        self._index = None
        self._by_file = None

    def index(self) -> lexical.Bm25Index:
        """BM25 over the messages, built on first use (idf changes as commits arrive)."""
        if self._index is None:
            vocab: dict[str, int] = {}
            docs: list[int] = []
            term_ids: list[int] = []
            counts: list[int] = []
            for doc, terms in enumerate(self.terms):
                for term, count in Counter(terms).items():
                    term_ids.append(vocab.setdefault(term, len(vocab)))
                    counts.append(count)
                    docs.append(doc)
            self._index = lexical.Bm25Index.from_counts(
                np.asarray(docs, dtype=np.int32),
                np.asarray(term_ids, dtype=np.int32),
                np.asarray(counts, dtype=np.float64),
                n_docs=len(self.terms),
                vocab=vocab,
            )
        return self._index

    def votes(
        self, query: Mapping[str, float], by_path: Mapping[str, int], n_files: int
    ) -> npt.NDArray[np.float64]:
        """Per file id, the summed similarity of the past commits that changed it (0-1)."""
        out = np.zeros(n_files, dtype=np.float64)
        if not self.commits:
            return out
        sims = self.index().score(query)
        top = np.argsort(-sims, kind="stable")[:TOP_COMMITS]
        moved = _tails(by_path) if MOVED_FILES else {}
        for c in top.tolist():
            if sims[c] <= 0:
                break
            present = [
                by_path[p] if p in by_path else moved.get(_tail(p), -1) for p in self.files[c]
            ]
            for fid in (f for f in present if f >= 0):
                out[fid] += sims[c] / np.sqrt(len(self.files[c]))
        top_vote = float(out.max()) if n_files else 0.0
        return out / top_vote if top_vote > 0 else out

    def cochange(
        self, seeds: Mapping[int, float], paths: Sequence[str], by_path: Mapping[str, int]
    ) -> npt.NDArray[np.float64]:
        """Per file id other than the ``seeds`` (file id -> weight), how often it changed
        together with them: the share of each seed's commits that also changed it, summed by
        weight (0-1). Seeds lift no seed: their order is the other signals' to decide."""
        out = np.zeros(len(paths), dtype=np.float64)
        touching = self._touching()
        for fid, weight in seeds.items():
            commits = touching.get(paths[fid], [])
            for c in commits:
                for other in self.files[c]:
                    g = by_path.get(other)
                    if g is not None and g not in seeds:
                        out[g] += weight / len(commits)
        top = float(out.max()) if len(out) else 0.0
        return out / top if top > 0 else out

    def _touching(self) -> dict[str, list[int]]:
        """Path -> the commits (positions) that changed it, built on first use."""
        if self._by_file is None:
            self._by_file = {}
            for c, files in enumerate(self.files):
                for path in files:
                    self._by_file.setdefault(path, []).append(c)
        return self._by_file


def _tail(path: str) -> str:
    return "/".join(path.rsplit("/", 2)[-2:])


def _tails(by_path: Mapping[str, int]) -> dict[str, int]:
    """Folder-and-name -> file, for the names only one file has: where a file an old commit
    changed lives now, after its project moved it (``src/x/a.ts`` -> ``packages/x/a.ts``)."""
    seen: dict[str, int] = {}
    shared: set[str] = set()
    for path, fid in by_path.items():
        tail = _tail(path)
        if tail in seen:
            shared.add(tail)
        seen[tail] = fid
    return {t: f for t, f in seen.items() if t not in shared}


def read_log(repo_path: str, revs: Sequence[str]) -> list[tuple[str, str, tuple[str, ...]]]:
    """(commit, message, changed paths) of the non-merge commits ``revs`` selects.

    No rename detection: it reads blobs, which a partial clone may not have, and a renamed
    file's old path is gone from the tree anyway.
    """
    text = git.run(
        [
            *("log", "--no-merges", "--no-renames", "-z", "--name-only"),
            *("--format=%x1e%H%x1f%B%x1f", *revs, "--"),
        ],
        repo_path,
        env=_env(),
    ).stdout
    out: list[tuple[str, str, tuple[str, ...]]] = []
    for record in text.split("\x1e")[1:]:
        oid, message, names = record.split("\x1f", 2)
        files = tuple(f for f in names.strip("\0\n").split("\0") if f)
        if 0 < len(files) <= MAX_FILES:
            out.append((oid, message, files))
    return out


def _env() -> dict[str, str]:
    # A partial clone without trees (--filter=tree:0) would fetch each old commit's trees
    # to list its files; with this, git fails instead, and there is no history to use.
    return {**git.no_git_env(), "GIT_NO_LAZY_FETCH": "1"}


def _cache_path(state_dir: Path) -> Path:
    return state_dir / "context" / f"history.v{HISTORY_VERSION}.pkl"


def _load_cached(path: Path) -> History | None:
    try:
        with path.open("rb") as fh:
            loaded: Any = pickle.load(fh)
    except Exception:  # missing, torn or foreign: read the log again
        return None
    return loaded if isinstance(loaded, History) else None


def _is_ancestor(repo_path: str, old: str, new: str) -> bool:
    done = git.run(["merge-base", "--is-ancestor", old, new], repo_path, env=_env(), check=False)
    return done.returncode == 0


def _store(path: Path, history: History) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    history._by_file = None  # cheap to rebuild; the BM25 arrays are kept for warm queries
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".pkl")
    try:
        with os.fdopen(fd, "wb") as fh:
            pickle.dump(history, fh, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load(repo_path: str, commit: str, state_dir: Path | None) -> History | None:
    """The history up to ``commit`` (inclusive), extending the cached one when it can.

    None when git cannot read it (no such commit); a shallow clone gives what it has.
    """
    path = _cache_path(state_dir) if state_dir is not None else None
    cached = _load_cached(path) if path is not None else None
    try:
        if cached is not None and cached.head == commit:
            return cached
        if cached is not None and _is_ancestor(repo_path, cached.head, commit):
            history = cached
            history.add(read_log(repo_path, [f"{cached.head}..{commit}"]))
        else:
            history = History(commit)
            history.add(read_log(repo_path, [commit]))
    except GitError:
        return None
    history.head = commit
    history.index()
    if path is not None:
        _store(path, history)
    return history
