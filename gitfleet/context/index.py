"""The retrieval index of one git tree: lexical indexes, definitions, the file graph; cached.

A tree id names its content exactly, so the index is pickled under
``<state_dir>/context/<tree id>.v<N>.pkl`` and reused by every agent and cycle that asks
about the same tree. Building reads every blob, parses definitions with tree-sitter and
counts identifiers; on a machine with several cores that work is spread over forked
processes, since parsing is most of the cold cost.
"""

from __future__ import annotations

import os
import pickle
import sys
import tempfile
import threading
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from gitfleet.context import lexical, repomap, symbols
from gitfleet.context.graph import FileGraph
from gitfleet.context.symbols import Definition

CACHE_VERSION = 7

# A name defined in more files than this ("get", "run", "__init__") links nothing useful.
MAX_DEFINERS = 5
# Cached indexes kept per repository (the newest by use); each is ~4 KB per file.
KEEP_CACHED = 8
# Below this many files a process pool costs more than it saves.
PARALLEL_FROM = 400


@dataclass
class Index:
    """Everything retrieval needs about one tree; file ids are positions in ``paths``."""

    tree_id: str
    paths: list[str]
    oids: list[str]
    langs: list[str | None]
    tests: npt.NDArray[np.bool_]
    docs: npt.NDArray[np.bool_]
    defs: list[list[Definition]]
    content: lexical.Bm25Index
    path_index: lexical.Bm25Index
    definers: dict[str, list[int]]  # defined name -> files that define it
    graph: FileGraph
    by_path: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.by_path = {p: i for i, p in enumerate(self.paths)}

    def __len__(self) -> int:
        return len(self.paths)

    def top_level(self, file_id: int) -> list[str]:
        return [d.name for d in self.defs[file_id] if d.depth == 0]


@dataclass(frozen=True)
class _Scan:
    defs: list[Definition]
    # The distinct identifiers mentioned, NUL-joined (one string crosses the process pipe
    # far faster than a list of thousands), how often each occurs, and hash(identifier)
    # to number them with numpy.
    idents: str
    counts: npt.NDArray[np.int32]
    hashes: npt.NDArray[np.int64]

    def names(self) -> list[str]:
        return self.idents.split("\0") if self.idents else []


def _scan_blob(data: bytes, lang: str | None) -> _Scan | None:
    if len(data) > repomap.MAX_INDEX_BYTES or b"\0" in data[:8000]:
        return None
    # Decoding once and counting str matches runs in C; decoding each match does not.
    idents = Counter(lexical.IDENT_STR.findall(data.decode("utf-8", "replace")))
    names = list(idents)
    # hash() is the same in forked workers and their parent (the seed is inherited), and a
    # 64-bit collision between two identifiers of one tree is not worth a thought.
    hashes = np.fromiter(map(hash, names), dtype=np.int64, count=len(names))
    counts = np.fromiter(idents.values(), dtype=np.int32, count=len(names))
    return _Scan(symbols.definitions(data, lang), "\0".join(names), counts, hashes)


def _scan_chunk(job: tuple[str, list[tuple[str, str | None]]]) -> list[_Scan | None]:
    """Worker: read and scan blobs (oid, lang) of one repository."""
    repo = repomap.open_repo(job[0])
    return [_scan_blob(repo[oid].data, lang) for oid, lang in job[1]]


def _scan_all(repo_path: str, files: Sequence[repomap.TreeFile]) -> list[_Scan | None]:
    items = [(f.oid, f.lang) for f in files]
    workers = min(os.cpu_count() or 1, 8)
    # fork copies only the calling thread: with other threads alive (spawn's supervisor)
    # a lock one of them holds would stay locked in the child forever, so stay serial.
    forkable = sys.platform == "linux" and threading.active_count() == 1
    if workers < 2 or len(items) < PARALLEL_FROM or not forkable:
        return _scan_chunk((repo_path, items))
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    # Interleaved chunks balance big and small files; fork because the children need
    # nothing but what is already imported (spawn would pay python's start-up again).
    n_chunks = workers * 4
    chunks = [items[i::n_chunks] for i in range(n_chunks)]
    ctx = multiprocessing.get_context("fork")
    with ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as pool:
        results = list(pool.map(_scan_chunk, [(repo_path, c) for c in chunks]))
    out: list[_Scan | None] = [None] * len(items)
    for i, chunk_result in enumerate(results):
        out[i::n_chunks] = chunk_result
    return out


def _module_name(path: str) -> str:
    """The name other files import a file by: its stem, or its folder for an index file."""
    parts = path.split("/")
    stem = parts[-1].rsplit(".", 1)[0]
    if stem in ("__init__", "index", "mod", "lib", "main") and len(parts) > 1:
        return parts[-2]
    return stem


@dataclass
class _Mentions:
    """Every (file, identifier, count) of the tree as arrays, identifiers numbered."""

    files: npt.NDArray[np.int32]
    idents: npt.NDArray[np.int32]
    counts: npt.NDArray[np.float64]
    names: list[str]  # identifier id -> identifier

    @classmethod
    def of(cls, scans: Sequence[_Scan]) -> _Mentions:
        if not scans:
            empty = np.zeros(0, dtype=np.int32)
            return cls(empty, empty, np.zeros(0), [])
        hashes = np.concatenate([scan.hashes for scan in scans])
        _, first, inverse = np.unique(hashes, return_index=True, return_inverse=True)
        flat = "\0".join(scan.idents for scan in scans if scan.idents).split("\0")
        return cls(
            files=np.repeat(np.arange(len(scans), dtype=np.int32), [len(s.hashes) for s in scans]),
            idents=inverse.astype(np.int32).ravel(),
            counts=np.concatenate([scan.counts for scan in scans]).astype(np.float64),
            names=[flat[i] for i in first.tolist()],
        )


def _content_index(m: _Mentions, n_docs: int) -> lexical.Bm25Index:
    """BM25 over the identifier-split terms of each file.

    Each distinct identifier of the tree is split once; numpy then spreads every (file,
    identifier, count) over the identifier's terms and sums per (file, term). A per-file
    Python loop over identifiers cost seconds on a 5,000-file tree.
    """
    vocab: dict[str, int] = {}
    ptr = np.zeros(len(m.names) + 1, dtype=np.int64)
    flat: list[int] = []
    for i, name in enumerate(m.names):
        flat.extend(vocab.setdefault(t, len(vocab)) for t in lexical.split_uncached(name))
        ptr[i + 1] = len(flat)
    term_of = np.asarray(flat, dtype=np.int64)
    per_ident = np.diff(ptr)
    reps = per_ident[m.idents]
    doc = np.repeat(m.files.astype(np.int64), reps)
    cnt = np.repeat(m.counts, reps)
    first = np.repeat(ptr[m.idents], reps)
    offset = np.arange(len(doc)) - np.repeat(np.cumsum(reps) - reps, reps)
    term = term_of[first + offset] if len(doc) else np.zeros(0, dtype=np.int64)
    key = doc * max(len(vocab), 1) + term
    uniq, inverse = np.unique(key, return_inverse=True)
    tf = np.bincount(inverse, weights=cnt, minlength=len(uniq)).astype(np.float64)
    width = max(len(vocab), 1)
    return lexical.Bm25Index.from_counts(
        (uniq // width).astype(np.int32),
        (uniq % width).astype(np.int32),
        tf,
        n_docs=n_docs,
        vocab=vocab,
    )


def _edges(
    m: _Mentions, definers: dict[str, list[int]], n_files: int
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.float64]]:
    """Reference edges: file -> each file defining a name it mentions (few definers only).

    Weighted 1/definers per name and summed per file pair; spread with numpy like the
    terms in _content_index, since a tree has around a million (file, name) mentions.
    """
    ptr = np.zeros(len(m.names) + 1, dtype=np.int64)
    flat: list[int] = []
    for i, name in enumerate(m.names):
        targets = definers.get(name, ()) if len(name) >= 3 else ()
        if len(targets) <= MAX_DEFINERS:
            flat.extend(targets)
        ptr[i + 1] = len(flat)
    target_of = np.asarray(flat, dtype=np.int64)
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
    repo = repomap.open_repo(repo_path)
    listed = repomap.list_tree(repo, tree_id)
    scanned = _scan_all(repo_path, listed)
    files = [f for f, s in zip(listed, scanned, strict=True) if s is not None]
    scans = [s for s in scanned if s is not None]
    definers: dict[str, list[int]] = {}
    for fid, (f, scan) in enumerate(zip(files, scans, strict=True)):
        names = {d.name for d in scan.defs}
        names.add(_module_name(f.path))
        for name in names:
            definers.setdefault(name, []).append(fid)
    for holders in definers.values():
        holders.sort()
    mentions = _Mentions.of(scans)
    srcs, dsts, ws = _edges(mentions, definers, len(files))
    paths = [f.path for f in files]
    return Index(
        tree_id=tree_id,
        paths=paths,
        oids=[f.oid for f in files],
        langs=[f.lang for f in files],
        tests=np.array([repomap.is_test(p) for p in paths], dtype=np.bool_),
        docs=np.array([repomap.is_doc(p) for p in paths], dtype=np.bool_),
        defs=[s.defs for s in scans],
        content=_content_index(mentions, len(files)),
        path_index=lexical.Bm25Index.build([Counter(lexical.path_terms(p)) for p in paths]),
        definers=definers,
        graph=FileGraph.from_edges(len(files), srcs, dsts, ws),
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
