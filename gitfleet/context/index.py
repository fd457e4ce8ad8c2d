"""The retrieval index of one git tree: lexical indexes, definitions, the file graph; cached.

A tree id names its content exactly, so the index is pickled under
``<state_dir>/context/<tree id>.v<N>.pkl`` and reused by every agent and cycle that asks
about the same tree. Building reads every blob once (scan.py: identifiers, line-tagged
definitions, term counts; in two processes on two cores), then links files that mention
names defined elsewhere. Parsing with tree-sitter waits until a file is shown (build.py).
"""

from __future__ import annotations

import os
import pickle
import tempfile
from dataclasses import dataclass, field, replace
from itertools import repeat
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from gitfleet.context import lexical, readable, repomap, scan
from gitfleet.context.deftable import Definers, DefTable
from gitfleet.context.graph import FileGraph
from gitfleet.context.readable import Skipped

CACHE_VERSION = 11

# A name defined in more files than this ("get", "run", "__init__") links nothing useful.
MAX_DEFINERS = 5
# Cached indexes kept per repository (the newest by use); each is ~4 KB per file.
KEEP_CACHED = 8


@dataclass
class Index:
    """Everything retrieval needs about one tree; file ids are positions in ``paths``."""

    tree_id: str
    paths: list[str]
    oids: list[str]
    langs: list[str | None]
    tests: npt.NDArray[np.bool_]
    docs: npt.NDArray[np.bool_]
    examples: npt.NDArray[np.bool_]
    code: npt.NDArray[np.bool_]
    defs: DefTable  # file id -> its definitions (line tags)
    content: lexical.Bm25Index
    path_index: lexical.Bm25Index
    definers: Definers  # defined name -> files that define it
    graph: FileGraph
    skipped: Skipped = field(default_factory=Skipped)  # files of the tree left out, and why
    by_path: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.by_path = {p: i for i, p in enumerate(self.paths)}

    def __len__(self) -> int:
        return len(self.paths)

    def top_level(self, file_id: int) -> list[str]:
        return [d.name for d in self.defs[file_id] if d.depth == 0]


def _module_name(path: str) -> str:
    """The name other files import a file by: its stem, or its folder for an index file."""
    parts = path.split("/")
    stem = parts[-1].rsplit(".", 1)[0]
    if stem in ("__init__", "index", "mod", "lib", "main") and len(parts) > 1:
        return parts[-2]
    return stem


def _edges(
    m: scan.Mentions, definers: Definers, n_files: int
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.float64]]:
    """Reference edges: file -> each file defining a name it mentions (few definers only).

    Weighted 1/definers per name and summed per file pair; spread with numpy like the
    terms in scan.term_counts, since a tree has around a million (file, name) mentions.
    """
    names = definers.names()
    sizes = definers.sizes()
    lengths = np.fromiter(map(len, names), np.int64, len(names))
    number = np.fromiter(map(m.numbers.get, names, repeat(-1)), np.int64, len(names))
    linking = (sizes <= MAX_DEFINERS) & (lengths >= 3) & (number >= 0)
    row = np.repeat(np.arange(len(names)), sizes)  # the defined name of each entry
    chosen = linking[row]
    owner = number[row[chosen]]  # as a mentioned identifier's number
    order = np.argsort(owner, kind="stable")
    target_of = definers.files[chosen].astype(np.int64)[order]
    ptr = np.zeros(len(m.names) + 1, dtype=np.int64)
    np.cumsum(np.bincount(owner, minlength=len(m.names)), out=ptr[1:])
    per_ident = np.diff(ptr)
    reps = per_ident[m.idents]
    src = np.repeat(m.files.astype(np.int64), reps)
    w = np.repeat(1.0 / np.maximum(per_ident[m.idents], 1), reps)
    first = np.repeat(ptr[m.idents], reps)
    offset = np.arange(len(src)) - np.repeat(np.cumsum(reps) - reps, reps)
    dst = target_of[first + offset] if len(src) else np.zeros(0, dtype=np.int64)
    keep = src != dst
    key = src[keep] * max(n_files, 1) + dst[keep]
    uniq, inverse = np.unique(key, return_inverse=True)
    weights = np.bincount(inverse, weights=w[keep], minlength=len(uniq)).astype(np.float64)
    return uniq // max(n_files, 1), uniq % max(n_files, 1), weights


def build(repo_path: str, tree_id: str) -> Index:
    """Index the tree ``tree_id`` of the repository at ``repo_path`` (no cache)."""
    listed, skipped = readable.readable(
        repo_path, tree_id, repomap.list_tree(repomap.open_repo(repo_path), tree_id)
    )
    scanned = scan.scan(repo_path, listed)
    files = [f for f, ok in zip(listed, scanned.kept, strict=True) if ok]
    skipped = replace(skipped, binary=len(listed) - len(files))
    scanner, terms = scanned.scanner, scanned.terms
    definers = Definers.of(
        [
            [*tagged.names, _module_name(f.path)]
            for f, tagged in zip(files, scanner.defs, strict=True)
        ]
    )
    mentions = scanner.mentions()
    srcs, dsts, ws = _edges(mentions, definers, len(files))
    paths = [f.path for f in files]
    return Index(
        tree_id=tree_id,
        paths=paths,
        oids=[f.oid for f in files],
        langs=[f.lang for f in files],
        tests=np.array([repomap.is_test(p) for p in paths], dtype=np.bool_),
        docs=np.array([repomap.is_doc(p) for p in paths], dtype=np.bool_),
        examples=np.array([repomap.is_example(p) for p in paths], dtype=np.bool_),
        code=np.array([repomap.is_code(p) for p in paths], dtype=np.bool_),
        defs=DefTable(scanner.defs),
        content=lexical.Bm25Index.from_counts(
            terms.files.astype(np.int32),
            terms.terms.astype(np.int32),
            terms.counts,
            n_docs=len(files),
            vocab=terms.vocab,
        ),
        path_index=lexical.path_index(paths),
        definers=definers,
        graph=FileGraph.from_edges(len(files), srcs, dsts, ws),
        skipped=skipped,
    )


def cache_path(state_dir: Path, tree_id: str) -> Path:
    return state_dir / "context" / f"{tree_id}.v{CACHE_VERSION}.pkl"


def _write_atomic(path: Path, payload: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".pkl")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(payload)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load_or_build(repo_path: str, tree_id: str, state_dir: Path | None) -> Index:
    """The cached index of ``tree_id``, built and stored when missing or unreadable."""
    path = cache_path(state_dir, tree_id) if state_dir is not None else None
    if path is not None and path.exists():
        try:
            with path.open("rb") as fh:
                loaded: Any = pickle.load(fh)
            if isinstance(loaded, Index) and loaded.tree_id == tree_id:
                os.utime(path)  # most recently used: the last to be pruned
                return loaded
        except Exception:  # a torn or foreign cache file is rebuilt, never trusted
            pass
    index = build(repo_path, tree_id)
    if path is not None:
        # Two agents may build the same index at once; both write whole files atomically,
        # and whichever lands last is as good as the other.
        _write_atomic(path, pickle.dumps(index, protocol=pickle.HIGHEST_PROTOCOL))
        _prune(path.parent)
    return index


def _prune(folder: Path) -> None:
    """Drop all but the KEEP_CACHED most recently used indexes (agents come and go)."""
    cached = []
    for entry in folder.glob("*.pkl"):
        try:
            cached.append((entry.stat().st_mtime, entry))
        except FileNotFoundError:  # another process pruned it first
            continue
    for _, stale in sorted(cached, reverse=True)[KEEP_CACHED:]:
        stale.unlink(missing_ok=True)


def read_text(repo_path: str, index: Index, file_id: int) -> str:
    """The committed text of one indexed file."""
    repo = repomap.open_repo(repo_path)
    data: bytes = repo[index.oids[file_id]].data
    return data.decode("utf-8", "replace")
