"""Reading every file of a tree once: the identifiers it mentions, its definitions, and
its BM25 term counts; in two processes when a second core is there.

This is most of a cold index. Per file: one regex pass counts identifiers (in C), the
line tagger finds definitions. Per tree: every distinct identifier is split into terms
once (lexical.split_many) and numpy spreads the (file, identifier, count) mentions over
the terms. With two cores a forked worker does all of that for every other file while
the parent does the rest, and the parent then renumbers the worker's identifiers and
terms into its own numbering.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import sys
import threading
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from gitfleet.context import lexical, repomap, symbols
from gitfleet.context.symbols import Tagged
from gitfleet.git.blobs import stream_blobs

# Below this many files a forked worker costs more than it saves.
PARALLEL_FROM = 800


class Mentions(NamedTuple):
    """Every (file, identifier, count) of the tree as arrays, identifiers numbered."""

    files: npt.NDArray[np.int32]
    idents: npt.NDArray[np.int32]
    counts: npt.NDArray[np.float64]
    names: list[str]  # identifier id -> identifier
    numbers: Mapping[str, int]  # identifier -> identifier id


class Terms(NamedTuple):
    """BM25 input: one (file, term, count) per distinct pair, and the terms' numbers."""

    vocab: dict[str, int]
    files: npt.NDArray[np.int64]
    terms: npt.NDArray[np.int64]
    counts: npt.NDArray[np.float64]


def _numbering() -> defaultdict[str, int]:
    """A dict whose missing keys number themselves: ``map`` over it numbers in C."""
    numbers: defaultdict[str, int] = defaultdict()
    numbers.default_factory = numbers.__len__
    return numbers


class Scanner:
    """Per-file results, in the order files were added (skipped files leave no trace)."""

    def __init__(self) -> None:
        self.numbers = _numbering()
        self.defs: list[Tagged] = []
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
        self.defs.append(symbols.tag_columns(data, lang))
        return True

    def scan(self, repo_path: str, files: Sequence[repomap.TreeFile]) -> list[bool]:
        data = stream_blobs(repo_path, [f.oid for f in files])
        return [self.add(blob, f.lang) for f, blob in zip(files, data, strict=True)]

    def mentions(self) -> Mentions:
        sizes = [len(a) for a in self.idents]
        empty = np.zeros(0, dtype=np.int32)
        return Mentions(
            files=np.repeat(np.arange(len(sizes), dtype=np.int32), sizes),
            idents=np.concatenate(self.idents) if sizes else empty,
            counts=np.concatenate(self.counts).astype(np.float64) if sizes else np.zeros(0),
            names=list(self.numbers),
            numbers=self.numbers,
        )


def term_counts(m: Mentions) -> Terms:
    """The identifier-split term counts of each file.

    Each distinct identifier is split once; numpy then spreads every (file, identifier,
    count) over the identifier's terms and sums per (file, term). A per-file Python loop
    over identifiers cost seconds on a 5,000-file tree.
    """
    vocab, ptr, term_of = lexical.split_many(m.names)
    reps = np.diff(ptr)[m.idents]
    doc = np.repeat(m.files.astype(np.int64), reps)
    cnt = np.repeat(m.counts, reps)
    offset = np.arange(len(doc)) - np.repeat(np.cumsum(reps) - reps, reps)
    term = term_of[np.repeat(ptr[m.idents], reps) + offset] if len(doc) else doc
    width = max(len(vocab), 1)
    uniq, inverse = np.unique(doc * width + term, return_inverse=True)
    tf = np.bincount(inverse, weights=cnt, minlength=len(uniq)).astype(np.float64)
    return Terms(vocab, uniq // width, uniq % width, tf)


class Scanned(NamedTuple):
    """The whole tree: which listed files were kept, their results, their term counts."""

    kept: list[bool]
    scanner: Scanner
    terms: Terms


class _Part(NamedTuple):
    """What the worker found in its share, in a few pieces that pickle fast."""

    kept: list[bool]
    names: str  # its identifiers, NUL-joined, in its own numbering
    sizes: list[int]  # identifiers per kept file
    idents: npt.NDArray[np.int32]
    counts: npt.NDArray[np.int32]
    defs: list[Tagged]
    vocab: str  # its terms, NUL-joined, in its own numbering
    terms: Terms  # with an empty vocab (sent as ``vocab``); files are its kept files


def _scan_part(repo_path: str, files: Sequence[repomap.TreeFile]) -> _Part:
    scanner = Scanner()
    kept = scanner.scan(repo_path, files)
    terms = term_counts(scanner.mentions())
    empty = np.zeros(0, dtype=np.int32)
    return _Part(
        kept,
        "\0".join(scanner.numbers),
        [len(a) for a in scanner.idents],
        np.concatenate(scanner.idents) if scanner.idents else empty,
        np.concatenate(scanner.counts) if scanner.counts else empty,
        scanner.defs,
        "\0".join(terms.vocab),
        terms._replace(vocab={}),
    )


def _workers(n_files: int) -> int:
    """Processes worth using: two when the tree pays for a fork and a second core exists."""
    if n_files < PARALLEL_FROM or sys.platform != "linux":
        return 1
    # fork copies only the calling thread: with other threads alive (spawn's supervisor)
    # a lock one of them holds would stay locked in the child forever, so stay serial.
    if threading.active_count() > 1:
        return 1
    return min(len(os.sched_getaffinity(0)), 2)


def scan(repo_path: str, listed: Sequence[repomap.TreeFile]) -> Scanned:
    """Scan every listed file (the same answer however many processes do it)."""
    scanner = Scanner()
    if _workers(len(listed)) < 2:
        kept = scanner.scan(repo_path, listed)
        return Scanned(kept, scanner, term_counts(scanner.mentions()))

    ours, theirs = listed[0::2], listed[1::2]  # interleaved: big and small files balance
    part: _Part | None = None
    with contextlib.ExitStack() as stack:
        future: Future[_Part] | None = None
        try:
            context = multiprocessing.get_context("fork")
            pool = stack.enter_context(ProcessPoolExecutor(1, mp_context=context))
            future = pool.submit(_scan_part, repo_path, theirs)
        except Exception:  # no worker to be had (no /dev/shm for its locks...): no matter
            future = None
        kept_ours = scanner.scan(repo_path, ours)
        our_terms = term_counts(scanner.mentions())
        try:
            part = future.result() if future is not None else None
        except Exception:  # any failure there (a killed worker...): do the work here
            part = None
    if part is None:
        part = _scan_part(repo_path, theirs)
    return _merge(listed, kept_ours, scanner, our_terms, part)


def _merge(
    listed: Sequence[repomap.TreeFile],
    kept_ours: list[bool],
    scanner: Scanner,
    our_terms: Terms,
    part: _Part,
) -> Scanned:
    """Put both halves back in tree order, in the parent's numbering.

    Numbering changes no score: every sum runs over the same entries in the same order
    (files in tree order, a file's identifiers in the order it mentions them).
    """
    names = part.names.split("\0") if part.names else []
    renumber = np.fromiter(map(scanner.numbers.__getitem__, names), np.int32, len(names))
    bounds = np.cumsum(np.asarray(part.sizes[:-1], dtype=np.int64))
    results = (
        zip(scanner.defs, scanner.idents, scanner.counts, strict=True),
        # not strict: with no file kept, np.split still gives one (empty) piece
        zip(
            part.defs,
            np.split(renumber[part.idents], bounds),
            np.split(part.counts, bounds),
            strict=False,
        ),
    )
    flags = (iter(kept_ours), iter(part.kept))
    merged = Scanner()
    merged.numbers = scanner.numbers
    kept: list[bool] = []
    position: tuple[list[int], list[int]] = ([], [])  # each half's kept files, tree order
    for i in range(len(listed)):  # even files ours, odd theirs
        kept.append(next(flags[i % 2]))
        if kept[-1]:
            position[i % 2].append(len(merged.defs))
            defs, idents, counts = next(results[i % 2])
            merged.defs.append(defs)
            merged.idents.append(idents)
            merged.counts.append(counts)
    vocab = _numbering()
    vocab.update(our_terms.vocab)
    their_vocab = part.vocab.split("\0") if part.vocab else []
    term_ids = np.fromiter(map(vocab.__getitem__, their_vocab), np.int64, len(their_vocab))
    ours_at = np.asarray(position[0], dtype=np.int64)
    theirs_at = np.asarray(position[1], dtype=np.int64)
    terms = Terms(
        dict(vocab),
        np.concatenate([ours_at[our_terms.files], theirs_at[part.terms.files]]),
        np.concatenate([our_terms.terms, term_ids[part.terms.terms]]),
        np.concatenate([our_terms.counts, part.terms.counts]),
    )
    return Scanned(kept, merged, terms)
