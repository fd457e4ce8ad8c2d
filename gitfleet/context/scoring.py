"""Phase 2 offline: score files (and the symbols in them) against the task and its needs.

Three signals, each scaled to 0-1 and fused with fixed weights so the result reads as an
absolute relevance, not just an order (the loop's stopping rule needs that):
- lexical: BM25 over identifier-split contents plus BM25 over path terms (boosted);
- coverage: the share of the query's idf mass a file contains at all (a file with every
  distinctive word of the task is relevant even if another file repeats one word more);
- graph: personalized PageRank over the reference graph, seeded by the lexical hits and
  by the files the task names (paths, identifiers they define).
Files the task names outright score at least NAMED_FLOOR. Tests are down-weighted unless
the task is about tests, and prose (README, docs) unless the task is about documentation.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from gitfleet.context import lexical
from gitfleet.context.history import History
from gitfleet.context.index import Index
from gitfleet.context.needs import Needs, glob_matches
from gitfleet.context.symbols import Definition

PATH_BOOST = 0.6
W_LEXICAL, W_COVERAGE, W_GRAPH = 0.45, 0.35, 0.20
W_HISTORY = 0.3
W_DEFINES = 0.4
W_COCHANGE = 0.15
COCHANGE_SEEDS = 3
NOTE_FROM = 0.3  # a history or co-change signal this strong (of 1) is named in the reason
SQUASH_FROM = 0.9
MIN_DEFINED_NAME = 3  # shorter words ("id", "io") define too much by accident
NAMED_FLOOR = 0.85
MAX_NAMED = 5  # a glob or a name matching more files than this names none of them
TEST_FACTOR = 0.6
DOC_FACTOR = 0.5
EXAMPLE_FACTOR = 0.75
OTHER_FACTOR = 0.6  # configuration, data, styles: changed with code, rarely the point
SEEDS = 20  # lexical hits that seed PageRank
KEEP = 60  # candidates kept per cycle
SYMBOLS_FOR = 30  # the best of them get their matching symbols (output shows 30 at most)

# Contiguous bands (the published skill's bands skip 0.4-0.5 and 0.7-0.8).
BANDS = ((0.7, "high"), (0.4, "medium"), (0.2, "low"), (0.0, "none"))
HIGH = 0.7
RELEVANT = 0.4


def band(score: float) -> str:
    return next(name for floor, name in BANDS if score >= floor)


@dataclass
class Scored:
    """One file's relevance in one cycle."""

    file_id: int
    path: str
    score: float
    reason: str
    symbols: list[str] = field(default_factory=list)
    source: str = "offline"
    cycle: int = 1


def _scaled(values: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    top = float(values.max()) if len(values) else 0.0
    return values / top if top > 0 else np.zeros_like(values)


def named_files(index: Index, needs: Needs) -> dict[int, str]:
    """Files the task names: by path glob, or as the definer of a named identifier."""
    named: dict[int, str] = {}
    for pattern in needs.path_globs:
        hits = [fid for fid, path in enumerate(index.paths) if glob_matches(pattern, path)]
        # A broad glob ("src/*.py") names a region, not a file: it must not lift them all.
        for fid in hits if len(hits) <= MAX_NAMED else ():
            named.setdefault(fid, f"path matches `{pattern}`")
    for ident in needs.identifiers:
        for name in dict.fromkeys([ident, ident.rsplit(".", 1)[-1]]):
            holders = index.definers.get(name, [])
            for fid in holders if len(holders) <= MAX_NAMED else ():
                named.setdefault(fid, f"defines `{name}`")
    return named


def defined_in_task(index: Index, task: str) -> npt.NDArray[np.float64]:
    """Per file, the share of the task's defined words it defines (0-1): the file defining
    ``echo`` for "add an option to echo", whoever else mentions the word. A task naming one
    defined word lifts its definer fully; prose where many words happen to be defined
    somewhere ("clean", "status") lifts each definer a little."""
    out = np.zeros(len(index), dtype=np.float64)
    words = dict.fromkeys(lexical.IDENT_STR.findall(task))
    named = 0
    for word in words:
        low = word.lower()
        if len(word) < MIN_DEFINED_NAME or low in lexical.STOPWORDS or low in lexical.TASK_VERBS:
            continue
        holders = index.definers.get(word) or index.definers.get(low)
        # The definers also list files by module name ("termio" for termio.py): the path
        # index already rewards those, so only a real definition of the word counts here.
        holders = [f for f in holders if {word, low} & {d.name for d in index.defs[f]}]
        if 0 < len(holders) <= MAX_NAMED:
            out[holders] += 1.0 / len(holders)
            named += 1
    return out / named if named else out


def _idf(index: Index, term: str) -> float:
    df = index.content.doc_freq(term)
    return float(np.log((len(index) + 1) / (df + 0.5))) if df else 0.0


def _coverage(
    index: Index, query: Mapping[str, float]
) -> tuple[npt.NDArray[np.float64], dict[str, float]]:
    mass: dict[str, float] = {t: w * _idf(index, t) for t, w in query.items()}
    total = sum(mass.values())
    cov = np.zeros(len(index), dtype=np.float64)
    for term, m in mass.items():
        if m > 0:
            docs, _ = index.content.term_postings(term)
            cov[docs] += m
    return (cov / total if total > 0 else cov), mass


def symbols_for(
    index: Index,
    file_id: int,
    query: Mapping[str, float],
    needs: Needs,
    *,
    defs: Sequence[Definition] | None = None,
) -> list[str]:
    """The file's definitions (``defs``, else the index's) matching the query, best first
    (at most five)."""
    wanted = {i.rsplit(".", 1)[-1] for i in needs.identifiers}
    ranked: list[tuple[float, int, str]] = []
    for d in index.defs[file_id] if defs is None else defs:
        s = sum(query.get(t, 0.0) for t in set(lexical.split_identifier(d.name)))
        s += 3.0 if d.name in wanted else 0.0
        if s > 0:
            ranked.append((-s, d.line, d.name))
    ranked.sort()
    return list(dict.fromkeys(name for _, _, name in ranked))[:5]


def _reason(
    fid: int,
    present: list[str],
    named: Mapping[int, str],
    graph_led: bool,
    neighbours: list[str],
    is_test: bool,
    notes: list[str],
) -> str:
    bits: list[str] = []
    if fid in named:
        bits.append(named[fid])
    if present:
        bits.append("mentions " + ", ".join(present[:5]))
    if graph_led and neighbours:
        bits.append("linked to " + ", ".join(neighbours[:3]))
    bits.extend(notes)
    if is_test:
        bits.append("test")
    return "; ".join(bits) or "related by the reference graph"


def _evidence(
    fid: int,
    history: npt.NDArray[np.float64] | None,
    defined: npt.NDArray[np.float64] | None,
    cochanged: npt.NDArray[np.float64],
) -> list[str]:
    """The signals beyond the words that lifted a file, for its reason."""
    notes: list[str] = []
    if history is not None and history[fid] >= NOTE_FROM:
        notes.append("changed by past commits like this task")
    if defined is not None and defined[fid] > 0:
        notes.append("defines a word of the task")
    if cochanged[fid] >= NOTE_FROM:
        notes.append("changes together with the top files")
    return notes


def _presence(index: Index, terms: list[str], file_ids: list[int]) -> dict[int, list[str]]:
    """For each file, which of ``terms`` (in the given order) it contains."""
    out: dict[int, list[str]] = {fid: [] for fid in file_ids}
    ids = np.asarray(file_ids, dtype=np.int64)
    for term in terms:
        docs, _ = index.content.term_postings(term)
        for fid in ids[np.isin(ids, docs)].tolist():
            out[fid].append(term)
    return out


def _squash(fused: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """Scores on the 0-1 scale, order kept: above SQUASH_FROM they bend towards 1 instead
    of being clipped there. History and definitions add to a fused score that could already
    be 1, and clipping made the best files tie (broken by path, not by evidence)."""
    over = np.maximum(fused - SQUASH_FROM, 0.0)
    room = 1.0 - SQUASH_FROM
    bent = SQUASH_FROM + room * (1.0 - np.exp(-over / room))
    return np.where(fused > SQUASH_FROM, bent, np.maximum(fused, 0.0))


def _kind_factors(
    index: Index, include_tests: bool, include_docs: bool, include_examples: bool
) -> npt.NDArray[np.float64]:
    """Per file, how much its kind lowers it: tests, prose, examples and non-code files
    mention a task's words as often as the code does, but are rarely what it changes."""
    factor = np.ones(len(index), dtype=np.float64)
    if not include_tests:
        factor[index.tests] *= TEST_FACTOR
    if not include_docs:
        factor[index.docs] *= DOC_FACTOR
    if not include_examples:
        factor[index.examples & ~index.tests] *= EXAMPLE_FACTOR
    factor[~index.code & ~index.docs] *= OTHER_FACTOR
    return factor


def score_files(
    index: Index,
    task_terms: list[str],
    needs: Needs,
    *,
    include_tests: bool,
    include_docs: bool = False,
    include_examples: bool = False,
    prior: Mapping[int, float] | None = None,
    cycle: int = 1,
    history: npt.NDArray[np.float64] | None = None,
    defined: npt.NDArray[np.float64] | None = None,
    past: History | None = None,
) -> list[Scored]:
    """Rank files for one cycle; ``prior`` (file -> score) seeds PageRank from a past cycle;
    ``history`` (0-1 per file) is the vote of past commits like the task."""
    n = len(index)
    if n == 0:
        return []
    query = needs.weighted_terms(task_terms)
    lex = _scaled(
        _scaled(index.content.score(query)) + PATH_BOOST * _scaled(index.path_index.score(query))
    )
    coverage, mass = _coverage(index, query)
    named = named_files(index, needs)

    seeds = np.zeros(n, dtype=np.float64)
    top_lex = np.argsort(-lex, kind="stable")[:SEEDS]
    seeds[top_lex] = lex[top_lex] ** 2
    for fid in named:
        seeds[fid] += 1.0
    for fid, s in (prior or {}).items():
        seeds[fid] += s
    graph = _scaled(index.graph.pagerank(seeds)) if seeds.sum() > 0 else np.zeros(n)

    fused = W_LEXICAL * lex + W_COVERAGE * coverage + W_GRAPH * graph
    if history is not None:
        fused = fused + W_HISTORY * history
    if defined is not None:
        fused = fused + W_DEFINES * defined
    cochanged = np.zeros(n)
    if past is not None and W_COCHANGE > 0:
        # Files changed together with the best candidates: the other half of a change.
        top = np.argsort(-fused, kind="stable")[:COCHANGE_SEEDS]
        anchors = {int(i): float(fused[i]) for i in top if fused[i] > 0}
        cochanged = past.cochange(anchors, index.paths, index.by_path)
        fused = fused + W_COCHANGE * cochanged
    fused = fused * _kind_factors(index, include_tests, include_docs, include_examples)
    for fid in named:  # a file the task names counts whatever its kind
        fused[fid] = max(fused[fid], NAMED_FLOOR + 0.1 * fused[fid])
    fused = _squash(fused)

    order = [int(i) for i in np.lexsort((np.arange(n), -fused))[:KEEP] if fused[i] > 0]
    by_mass = [t for t, m in sorted(mass.items(), key=lambda kv: (-kv[1], kv[0])) if m > 0]
    present = _presence(index, by_mass[:12], order)
    top5 = set(order[:5])
    out: list[Scored] = []
    for rank, fid in enumerate(order):
        graph_led = W_GRAPH * graph[fid] > W_LEXICAL * lex[fid]
        neighbours: list[str] = []
        if graph_led and rank < 20:
            near = set(index.graph.neighbours(fid).tolist()) & top5
            neighbours = [index.paths[i] for i in order[:5] if i in near]
        notes = _evidence(fid, history, defined, cochanged)
        reason = _reason(
            fid, present[fid], named, graph_led, neighbours, bool(index.tests[fid]), notes
        )
        out.append(
            Scored(
                fid,
                index.paths[fid],
                round(float(fused[fid]), 4),
                reason,
                symbols_for(index, fid, query, needs) if rank < SYMBOLS_FOR else [],
                cycle=cycle,
            )
        )
    return out
