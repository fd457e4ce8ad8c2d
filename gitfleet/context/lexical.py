"""Lexical retrieval: identifier-aware tokens and BM25 (bm25s) over contents and paths.

Code and task text share few literal words, so both sides are cut into the same subwords:
``parseHTTPHeader`` and ``parse_http_header`` both give ``parse http header`` (and the
whole name, so an exact identifier in a task still matches best). Paths get an index of
their own, fused with a boost: a file named for the task's words is usually the one.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from itertools import chain
from typing import Any

import numpy as np
import numpy.typing as npt

IDENT_STR = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")

# English function words plus the keywords and names every file of a language repeats;
# they carry no signal about *which* file a task is about.
_STOPWORDS_TEXT = """
a about above after again all also am an and any are as at be been before being below
between both but by can could did do does doing down during each few for from further
had has have having he her here hers him his how i if in into is it its itself just me
more most my no nor not now of off on once only or other our out over own same she
should so some such than that the their them then there these they this those through
to too under until up very was we were what when where which while who whom why will
with would you your yours
def self cls return import none true false null undefined elif else pass var let const
func fn pub use mut impl lambda yield async await try except finally raise throw catch
end begin then new typeof instanceof void
"""
STOPWORDS = frozenset(_STOPWORDS_TEXT.split())

# A term repeated more often than this in one file adds nothing: BM25 saturates long
# before, and the cap keeps the index small and fast to build.
TF_CAP = 12


def _normalize(word: str) -> str:
    """Fold plurals so "agents" meets "agent"; deliberately nothing cleverer."""
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


# Where a name breaks into words besides "_": before an upper-case letter that follows a
# lower-case one or a digit (parseHttp, utf8Decode), and before the last capital of a run
# followed by lower case (HTTPHeader). Digits stay with the word they follow (sha256).
_BOUNDARY = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")
# The same boundaries as a match of the character before them (lookbehind at every
# position made the bulk substitution slower).
_BOUNDARY_BEFORE = re.compile(r"[a-z0-9](?=[A-Z])|[A-Z](?=[A-Z][a-z])")


def _mark(match: re.Match[str]) -> str:
    return match.group() + "_"


@lru_cache(maxsize=1 << 16)
def _term(part: str) -> str:
    """The index term of one lower-case word of a name; "" when it carries no signal."""
    word = _normalize(part)
    return word if len(word) > 1 and word not in STOPWORDS and not word.isdigit() else ""


def split_uncached(ident: str) -> tuple[str, ...]:
    """Subword terms of one identifier, plus the whole name when it has several parts."""
    parts = [p for p in _BOUNDARY.sub("_", ident).lower().split("_") if p]
    terms = [t for t in map(_term, parts) if t]
    whole = ident.lower().strip("_")
    if len(parts) > 1 and len(whole) > 2:
        terms.append(whole)
    return tuple(terms)


def split_many(
    names: Sequence[str],
) -> tuple[dict[str, int], npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """``split_uncached`` of every name at once: (vocabulary, ptr, term ids).

    Name i's terms are ``term_ids[ptr[i]:ptr[i + 1]]``, in ``split_uncached``'s order. A
    tree has ~200,000 distinct names: splitting them one by one in Python took most of a
    second, while here the splitting runs in C over one joined string and each distinct
    word is normalized once.
    """
    n = len(names)
    joined = "\0".join(names)
    # One flat list of words; a "\0" item closes each name, so a running count of them
    # says which name a word belongs to.
    spaced = _BOUNDARY_BEFORE.sub(_mark, joined).lower() + "\0"
    flat = spaced.replace("\0", "_\0_").split("_")
    ends = np.fromiter(map("\0".__eq__, flat), dtype=np.bool_, count=len(flat))
    owner: npt.NDArray[np.int64] = np.cumsum(ends, dtype=np.int64) - ends
    vocab: dict[str, int] = {}
    # sorted: term ids must not depend on the hash seed
    part_id = {
        p: vocab.setdefault(t, len(vocab)) if (t := _term(p)) else -1 for p in sorted(set(flat))
    }
    ids = np.fromiter(map(part_id.__getitem__, flat), dtype=np.int64, count=len(flat))
    is_part = np.fromiter(map(bool, flat), dtype=np.bool_, count=len(flat)) & ~ends
    n_parts = np.bincount(owner[is_part], minlength=n)
    lowered = joined.lower().split("\0") if n else []
    whole_owner = [
        i for i in np.flatnonzero(n_parts > 1).tolist() if len(lowered[i].strip("_")) > 2
    ]
    whole_ids = [vocab.setdefault(lowered[i].strip("_"), len(vocab)) for i in whole_owner]
    keep = ids >= 0
    # parts first, then each name's whole: a stable sort by name keeps that order
    all_owner = np.concatenate([owner[keep], np.asarray(whole_owner, dtype=np.int64)])
    all_ids = np.concatenate([ids[keep], np.asarray(whole_ids, dtype=np.int64)])
    order = np.argsort(all_owner, kind="stable")
    ptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(all_owner, minlength=n), out=ptr[1:])
    return vocab, ptr, all_ids[order]


split_identifier = lru_cache(maxsize=1 << 16)(split_uncached)


# The extension of a file named in a task says its language, not its topic: "status.py"
# asks for status, and "py" would match every Python path (and py.typed best of all).
_EXTENSIONS = (
    "py|pyi|js|jsx|mjs|cjs|ts|tsx|go|rs|c|h|cc|cpp|hpp|java|kt|rb|php|md|rst|txt|toml|json"
    "|ya?ml|cfg|ini|sh|lock"
)
_FILE_EXTENSION = re.compile(rf"(?<=\w)\.(?:{_EXTENSIONS})\b(?![.(])")
_FILE_NAME = re.compile(rf"[\w./-]*\w\.(?:{_EXTENSIONS})")


def names_a_file(word: str) -> bool:
    """Whether a word of a task is a file name ("idcheck.py"), not code ("cart.total")."""
    return _FILE_NAME.fullmatch(word) is not None


# The verbs a task or a commit message opens with ("Add support for...", "Fix ...") and
# its filler words ("bug", "issue", "correctly") say
# what to do, not where: in a task they matched every file that mentions "support".
_TASK_VERBS_TEXT = """
add added adds adding fix fixed fixes fixing support supported supporting update updated updating
remove removed removing allow allowed make made use used using change changed improve
improved handle handled implement implemented ensure correctly properly new now issue bug
"""
TASK_VERBS = frozenset(_normalize(w) for w in _TASK_VERBS_TEXT.split())


def task_terms(text: str) -> list[str]:
    """Terms of a task: ``terms_of_text`` without the task verbs."""
    return [t for t in terms_of_text(text) if t not in TASK_VERBS]


def terms_of_text(text: str) -> list[str]:
    """Terms of free text (a task, a commit message), in order, repeats kept."""
    out: list[str] = []
    for ident in IDENT_STR.findall(_FILE_EXTENSION.sub("", text)):
        out.extend(split_identifier(ident))
    return out


_PATH_SEPARATORS = re.compile(r"[/\\.\-\s]+")


def path_index(paths: Sequence[str]) -> Bm25Index:
    """BM25 over the terms of each path: every folder and the file name, split like
    identifiers (all the distinct parts at once)."""
    parts = [[p for p in _PATH_SEPARATORS.split(path) if p] for path in paths]
    distinct = sorted(set(chain.from_iterable(parts)))
    vocab, ptr, term_of = split_many(distinct)
    number = {p: i for i, p in enumerate(distinct)}
    part_ids = np.fromiter(map(number.__getitem__, chain.from_iterable(parts)), np.int64)
    doc_of_part = np.repeat(np.arange(len(paths), dtype=np.int64), [len(p) for p in parts])
    reps = np.diff(ptr)[part_ids]
    doc = np.repeat(doc_of_part, reps)
    offset = np.arange(len(doc)) - np.repeat(np.cumsum(reps) - reps, reps)
    term = term_of[np.repeat(ptr[part_ids], reps) + offset] if len(doc) else doc
    width = max(len(vocab), 1)
    uniq, counts = np.unique(doc * width + term, return_counts=True)
    return Bm25Index.from_counts(
        (uniq // width).astype(np.int32),
        (uniq % width).astype(np.int32),
        counts.astype(np.float64),
        n_docs=len(paths),
        vocab=vocab,
    )


@dataclass
class Bm25Index:
    """A BM25 index in bm25s's layout (term-major CSC of weights) and its vocabulary.

    Only the arrays are kept (and pickled): loading bm25s itself costs a warm query a third
    of its time, and scoring weighted terms is a slice and an add per term. ``to_bm25s``
    gives the equivalent bm25s model when one is wanted.
    """

    data: npt.NDArray[np.float32]
    indices: npt.NDArray[np.int32]
    indptr: npt.NDArray[np.int64]
    vocab: dict[str, int]
    n_docs: int
    k1: float = 1.5
    b: float = 0.75

    @classmethod
    def build(cls, docs: Sequence[Mapping[str, int]]) -> Bm25Index:
        """Index documents given as term -> frequency maps."""
        vocab: dict[str, int] = {}
        doc_col: list[int] = []
        term_col: list[int] = []
        tf_col: list[int] = []
        for doc_id, doc in enumerate(docs):
            for term, count in doc.items():
                term_col.append(vocab.setdefault(term, len(vocab)))
                tf_col.append(count)
            doc_col.extend([doc_id] * len(doc))
        return cls.from_counts(
            np.asarray(doc_col, dtype=np.int32),
            np.asarray(term_col, dtype=np.int32),
            np.asarray(tf_col, dtype=np.float64),
            n_docs=len(docs),
            vocab=vocab,
        )

    @classmethod
    def from_counts(
        cls,
        doc_ids: npt.NDArray[np.int32],
        term_ids: npt.NDArray[np.int32],
        counts: npt.NDArray[np.float64],
        *,
        n_docs: int,
        vocab: dict[str, int],
        k1: float = 1.5,
        b: float = 0.75,
    ) -> Bm25Index:
        """Index from (document, term, frequency) triples, one per distinct pair.

        The weights are bm25s's "lucene" BM25 (a test checks them against bm25s's own
        builder), computed here with numpy from the counts we already have: bm25s's builder
        wants every occurrence as a list element and counts them again in Python, which was
        most of a cold index.
        """
        n_terms = len(vocab)
        tf = np.minimum(counts.astype(np.float64), TF_CAP)
        doc_len = np.bincount(doc_ids, weights=tf, minlength=n_docs)
        avg_len = float(doc_len.mean()) if n_docs and doc_len.sum() > 0 else 1.0
        df = np.bincount(term_ids, minlength=n_terms).astype(np.float64)
        idf = np.log(1.0 + (n_docs - df + 0.5) / (df + 0.5))
        tfc = tf / (tf + k1 * (1.0 - b + b * doc_len[doc_ids] / avg_len))
        weights = (idf[term_ids] * tfc).astype(np.float32)
        order = np.lexsort((doc_ids, term_ids))
        indptr = np.zeros(n_terms + 1, dtype=np.int64)
        np.cumsum(np.bincount(term_ids, minlength=n_terms), out=indptr[1:])
        return cls(
            data=weights[order],
            indices=doc_ids[order].astype(np.int32),
            indptr=indptr,
            vocab=vocab,
            n_docs=n_docs,
            k1=k1,
            b=b,
        )

    def to_bm25s(self) -> Any:
        """The same index as a ``bm25s.BM25`` model (for its own retrieval API)."""
        import bm25s

        model = bm25s.BM25(method="lucene", k1=self.k1, b=self.b)
        model.scores = {
            "data": self.data,
            "indices": self.indices,
            "indptr": self.indptr,
            "num_docs": self.n_docs,
        }
        model.vocab_dict = dict(self.vocab)
        model.nonoccurrence_array = None  # set by bm25s.index() for the lucene method too
        return model

    def term_postings(self, term: str) -> tuple[npt.NDArray[np.int32], npt.NDArray[np.float32]]:
        """(documents, BM25 weights) of one term; empty when the term is unknown."""
        tid = self.vocab.get(term)
        if tid is None:
            return np.zeros(0, dtype=np.int32), np.zeros(0, dtype=np.float32)
        lo, hi = int(self.indptr[tid]), int(self.indptr[tid + 1])
        return self.indices[lo:hi], self.data[lo:hi]

    def doc_freq(self, term: str) -> int:
        return len(self.term_postings(term)[0])

    def score(self, weighted_terms: Mapping[str, float]) -> npt.NDArray[np.float64]:
        """Sum over terms of weight x BM25(term, doc), for every document."""
        total = np.zeros(self.n_docs, dtype=np.float64)
        for term, weight in weighted_terms.items():
            docs, values = self.term_postings(term)
            if len(docs):
                np.add.at(total, docs, weight * values.astype(np.float64))
        return total


def weighted(terms: Iterable[str], weight: float = 1.0) -> dict[str, float]:
    """Terms to a weight map; a repeated term counts once more each time, with damping."""
    out: dict[str, float] = {}
    for term in terms:
        out[term] = out[term] + weight / 2 if term in out else weight
    return out
