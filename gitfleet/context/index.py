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
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from itertools import chain
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import numpy.typing as npt

from gitfleet.context import blobs, lexical, repomap, symbols
from gitfleet.context.deftable import Definers, DefTable
from gitfleet.context.graph import FileGraph
from gitfleet.context.symbols import Definition

CACHE_VERSION = 9

# A name defined in more files than this ("get", "run", "__init__") links nothing useful.
MAX_DEFINERS = 5
# Cached indexes kept per repository (the newest by use); each is ~4 KB per file.
KEEP_CACHED = 8
# Below this many files a forked worker costs more than it saves.
PARALLEL_FROM = 800


@dataclass
class Index:
    """Everything retrieval needs about one tree; file ids are positions in ``paths``."""

    tree_id: str
    paths: list[str]
    oids: list[str]
    langs: list[str | None]
    tests: npt.NDArray[np.bool_]
    docs: npt.NDArray[np.bool_]
    defs: DefTable  # file id -> its definitions (line tags)
    content: lexical.Bm25Index
    path_index: lexical.Bm25Index
    definers: Definers  # defined name -> files that define it
    graph: FileGraph
    by_path: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.by_path = {p: i for i, p in enumerate(self.paths)}

    def __len__(self) -> int:
        return len(self.paths)

    def top_level(self, file_id: int) -> list[str]:
        return [d.name for d in self.defs[file_id] if d.depth == 0]


@dataclass
class _Mentions:
    """Every (file, identifier, count) of the tree as arrays, identifiers numbered."""

    files: npt.NDArray[np.int32]
    idents: npt.NDArray[np.int32]
    counts: npt.NDArray[np.float64]
    names: list[str]  # identifier id -> identifier
    numbers: Mapping[str, int]  # identifier -> identifier id


class _Scanner:
    """Reads each file once: its definitions (line tags) and the identifiers it mentions.

    Identifiers are numbered as first met, through a dict whose missing keys number
    themselves (``map`` over it runs in C): one pass, no per-identifier Python code.
    """

    def __init__(self) -> None:
        self.numbers: defaultdict[str, int] = defaultdict()
        self.numbers.default_factory = self.numbers.__len__
        self.defs: list[list[Definition]] = []
        self.idents: list[npt.NDArray[np.int32]] = []
        self.counts: list[npt.NDArray[np.int32]] = []

    def add(self, data: bytes, lang: str | None) -> bool:
        """Scan one blob; False (and nothing kept) for a binary or oversized one."""
        if len(data) > repomap.MAX_INDEX_BYTES or b"\0" in data[:8000]:
            return False
        # Decoding once and counting str matches runs in C; decoding each match does not.
        found = Counter(lexical.IDENT_STR.findall(data.decode("utf-8", "replace")))
        n = len(found)
        self.idents.append(np.fromiter(map(self.numbers.__getitem__, found), np.int32, n))
        self.counts.append(np.fromiter(found.values(), np.int32, n))
        self.defs.append(symbols.tags(data, lang))
        return True

    def scan(self, repo_path: str, files: Sequence[repomap.TreeFile]) -> list[bool]:
        data = blobs.read_blobs(repo_path, [f.oid for f in files])
        return [self.add(blob, f.lang) for f, blob in zip(files, data, strict=True)]

    def mentions(self) -> _Mentions:
        sizes = [len(a) for a in self.idents]
        empty = np.zeros(0, dtype=np.int32)
        return _Mentions(
            files=np.repeat(np.arange(len(sizes), dtype=np.int32), sizes),
            idents=np.concatenate(self.idents) if sizes else empty,
            counts=np.concatenate(self.counts).astype(np.float64) if sizes else np.zeros(0),
            names=list(self.numbers),
            numbers=self.numbers,
        )


class _Part(NamedTuple):
    """What a forked worker found in its share of the files, in a few picklable pieces."""

    kept: list[bool]
    names: str  # its identifiers, NUL-joined, in its own numbering
    sizes: list[int]  # identifiers per kept file
    idents: npt.NDArray[np.int32]
    counts: npt.NDArray[np.int32]
    defs: DefTable


def _scan_part(repo_path: str, files: Sequence[repomap.TreeFile]) -> _Part:
    scanner = _Scanner()
    kept = scanner.scan(repo_path, files)
    empty = np.zeros(0, dtype=np.int32)
    return _Part(
        kept,
        "\0".join(scanner.numbers),
        [len(a) for a in scanner.idents],
        np.concatenate(scanner.idents) if scanner.idents else empty,
        np.concatenate(scanner.counts) if scanner.counts else empty,
        DefTable(scanner.defs),
    )


def _workers(n_files: int) -> int:
    """Processes worth using: one per core, when the tree is big enough to pay for a fork."""
    if n_files < PARALLEL_FROM or sys.platform != "linux":
        return 1
    # fork copies only the calling thread: with other threads alive (spawn's supervisor)
    # a lock one of them holds would stay locked in the child forever, so stay serial.
    if threading.active_count() > 1:
        return 1
    return min(len(os.sched_getaffinity(0)), 2)


def _scan(repo_path: str, listed: Sequence[repomap.TreeFile]) -> tuple[list[bool], _Scanner]:
    """Scan every file, half of them in a forked process when a second core is there.

    The parent scans its half meanwhile (not idle waiting), then renumbers the worker's
    identifiers into its own numbering. Numbering order changes no score: every sum is
    over the same entries in the same (file) order. A worker that fails for any reason is
    replaced by scanning its half here.
    """
    scanner = _Scanner()
    if _workers(len(listed)) < 2:
        return scanner.scan(repo_path, listed), scanner
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    ours, theirs = listed[0::2], listed[1::2]  # interleaved: big and small files balance
    part: _Part | None = None
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("fork")) as pool:
        future = pool.submit(_scan_part, repo_path, theirs)
        kept_ours = scanner.scan(repo_path, ours)
        try:
            part = future.result()
        except Exception:  # any failure there means: do the work here
            part = None
    if part is None:
        part = _scan_part(repo_path, theirs)  # the slow path; correct all the same
    names = part.names.split("\0") if part.names else []
    renumber = np.fromiter(map(scanner.numbers.__getitem__, names), np.int32, len(names))
    bounds = np.cumsum(np.asarray(part.sizes[:-1], dtype=np.int64))
    results = (
        zip(scanner.defs, scanner.idents, scanner.counts, strict=True),
        # not strict: with no file kept, np.split still gives one (empty) piece
        zip(
            (part.defs[i] for i in range(len(part.defs))),
            np.split(renumber[part.idents], bounds),
            np.split(part.counts, bounds),
            strict=False,
        ),
    )
    flags = (iter(kept_ours), iter(part.kept))
    merged = _Scanner()
    merged.numbers = scanner.numbers
    kept: list[bool] = []
    for i in range(len(listed)):  # back into tree order: even files ours, odd theirs
        kept.append(next(flags[i % 2]))
        if kept[-1]:
            defs, idents, counts = next(results[i % 2])
            merged.defs.append(defs)
            merged.idents.append(idents)
            merged.counts.append(counts)
    return kept, merged


def _module_name(path: str) -> str:
    """The name other files import a file by: its stem, or its folder for an index file."""
    parts = path.split("/")
    stem = parts[-1].rsplit(".", 1)[0]
    if stem in ("__init__", "index", "mod", "lib", "main") and len(parts) > 1:
        return parts[-2]
    return stem


def _content_index(m: _Mentions, n_docs: int) -> lexical.Bm25Index:
    """BM25 over the identifier-split terms of each file.

    Each distinct identifier of the tree is split once (all together, lexical.split_many);
    numpy then spreads every (file, identifier, count) over the identifier's terms and sums
    per (file, term). A per-file Python loop over identifiers cost seconds on 5,000 files.
    """
    vocab, ptr, term_of = lexical.split_many(m.names)
    per_ident = np.diff(ptr)
    reps = per_ident[m.idents]
    doc = np.repeat(m.files.astype(np.int64), reps)
    cnt = np.repeat(m.counts, reps)
    first = np.repeat(ptr[m.idents], reps)
    offset = np.arange(len(doc)) - np.repeat(np.cumsum(reps) - reps, reps)
    term = term_of[first + offset] if len(doc) else np.zeros(0, dtype=np.int64)
    width = max(len(vocab), 1)
    uniq, inverse = np.unique(doc * width + term, return_inverse=True)
    tf = np.bincount(inverse, weights=cnt, minlength=len(uniq)).astype(np.float64)
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
    # Walk the defined names (fewer than the mentioned ones) and find each one's number.
    owners: list[int] = []
    holders: list[list[int]] = []
    for name, files in definers.items():
        number = m.numbers.get(name) if len(files) <= MAX_DEFINERS and len(name) >= 3 else None
        if number is not None:
            owners.append(number)
            holders.append(files)
    owner = np.repeat(np.asarray(owners, dtype=np.int64), [len(h) for h in holders])
    order = np.argsort(owner, kind="stable")
    target_of = np.fromiter(chain.from_iterable(holders), np.int64, len(owner))[order]
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
    listed = repomap.list_tree(repomap.open_repo(repo_path), tree_id)
    kept, scanner = _scan(repo_path, listed)
    files = [f for f, ok in zip(listed, kept, strict=True) if ok]
    definers: dict[str, list[int]] = {}
    for fid, (f, defs) in enumerate(zip(files, scanner.defs, strict=True)):
        names = {d.name for d in defs}
        names.add(_module_name(f.path))
        for name in names:
            definers.setdefault(name, []).append(fid)
    for holders in definers.values():
        holders.sort()
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
        defs=DefTable(scanner.defs),
        content=_content_index(mentions, len(files)),
        path_index=lexical.path_index(paths),
        definers=Definers(definers),
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
