"""The retrieval loop: broad needs -> scoring -> refined needs, up to three cycles.

Two fixes over the published prompt-only loop: scores live on one contiguous 0-1 scale
(scoring.BANDS), and the answer is the best context seen in *any* cycle (each file keeps
its best score and the reason that earned it), so an early exit or a worse refinement
never throws away what an earlier cycle found.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Protocol

from gitfleet.context import lexical, scoring
from gitfleet.context import needs as needs_mod
from gitfleet.context.history import History
from gitfleet.context.index import Index
from gitfleet.context.needs import Needs
from gitfleet.context.scoring import Scored

MAX_CYCLES = 3
ENOUGH_HIGH = 3  # stop at this many files scoring >= scoring.HIGH ...
SELECTED = 10  # ... with no critical gap among the needs the top files must cover
RERANK = 12  # candidates an LLM reranks per cycle
# Offline scores of a refined cycle count for a little less than the first cycle's: its
# query carries guessed expansions, and (scores being scaled to each cycle's best file) an
# unchecked max across cycles let noise from the guesses outrank the task's own hits. On
# the history benchmark this kept Acc@5 and recovered the first cycle's MRR. Claude's
# scores are absolute judgements and are not discounted.
REFINED_TRUST = 0.9


@dataclass(frozen=True)
class Judgement:
    """An LLM's score of one candidate."""

    path: str
    score: float
    reason: str


class Ranker(Protocol):
    """What the loop needs from an LLM (llm.py); absent offline."""

    def needs(self, task: str, repo_map: str) -> Needs: ...

    def rerank(
        self, task: str, needs: Needs, candidates: Sequence[tuple[str, str]]
    ) -> tuple[list[Judgement], list[str]]: ...


@dataclass(frozen=True)
class Cycle:
    """What one cycle saw: its scores (path -> score), high-scoring files, gaps."""

    number: int
    scores: dict[str, float]
    high: int
    gaps: list[str]


@dataclass
class LoopResult:
    files: list[Scored]
    cycles: int
    needs: Needs
    gaps: list[str]
    history: list[Cycle] = field(default_factory=list)


def covered(index: Index, need: str, selection: Sequence[Scored]) -> bool:
    """Whether a selected file satisfies one critical need (identifier or glob)."""
    if "*" in need or "/" in need:
        return any(needs_mod.glob_matches(need, s.path) for s in selection)
    name = need.rsplit(".", 1)[-1]
    term = name.lower().strip("_")
    docs, _ = index.content.term_postings(term)
    holders = set(docs.tolist()) | set(index.definers.get(name, ()))
    return any(s.file_id in holders for s in selection)


def fillable(index: Index, need: str) -> bool:
    """Whether anything in the tree could cover the need (a new name cannot be found)."""
    if "*" in need or "/" in need:
        return any(needs_mod.glob_matches(need, p) for p in index.paths)
    name = need.rsplit(".", 1)[-1]
    return bool(index.definers.get(name)) or index.content.doc_freq(name.lower().strip("_")) > 0


def gaps_of(index: Index, needs: Needs, selection: Sequence[Scored]) -> list[str]:
    return [n for n in needs.critical if fillable(index, n) and not covered(index, n, selection)]


def _refine(index: Index, needs: Needs, ranked: Sequence[Scored], gaps: Sequence[str]) -> Needs:
    """Next cycle's needs: the names the best files define that share the task's words."""
    query_terms = set(needs.weighted_terms([]))
    extra: list[str] = []
    for s in ranked[:3]:
        for d in index.defs[s.file_id]:
            terms = lexical.split_identifier(d.name)
            if d.depth == 0 and query_terms.intersection(terms):
                extra.extend(t for t in terms if t not in query_terms)
    gap_idents = [g for g in gaps if "*" not in g]
    return needs.merge(Needs(expansions=list(dict.fromkeys(extra))[:12], keywords=gap_idents))


def _discounted(ranked: list[Scored], cycle: int) -> list[Scored]:
    factor = REFINED_TRUST ** (cycle - 1)
    if factor == 1.0:
        return ranked
    return [replace(s, score=round(s.score * factor, 4)) for s in ranked]


def _apply_judgements(
    ranked: list[Scored], judged: Sequence[Judgement], cycle: int
) -> list[Scored]:
    by_path = {j.path: j for j in judged}
    out: list[Scored] = []
    for s in ranked:
        j = by_path.get(s.path)
        if j is not None:
            out.append(Scored(s.file_id, s.path, j.score, j.reason, s.symbols, "llm", cycle))
        else:
            # Not reranked: it ranked below the candidates, so it stays below them.
            out.append(
                Scored(s.file_id, s.path, s.score * 0.5, s.reason, s.symbols, s.source, cycle)
            )
    out.sort(key=lambda s: (-s.score, s.path))
    return out


def run(
    index: Index,
    task: str,
    *,
    ranker: Ranker | None = None,
    repo_map: str = "",
    skeleton: Callable[[int], str] | None = None,
    history: History | None = None,
) -> LoopResult:
    """Run up to MAX_CYCLES cycles and return the best context seen across them."""
    task_terms = lexical.task_terms(task)
    include_tests = needs_mod.wants_tests(task)
    include_docs = needs_mod.wants_docs(task)
    include_examples = needs_mod.wants_examples(task)
    needs = needs_mod.offline(task)
    if ranker is not None:
        needs = needs.merge(ranker.needs(task, repo_map))
    votes = (
        history.votes(needs.weighted_terms(task_terms), index.by_path, len(index))
        if history is not None
        else None
    )
    defined = scoring.defined_in_task(index, task)
    best: dict[int, Scored] = {}
    prior: dict[int, float] = {}
    seen: list[Cycle] = []
    gaps: list[str] = []
    cycle = 0
    for cycle in range(1, MAX_CYCLES + 1):
        ranked = _discounted(
            scoring.score_files(
                index,
                task_terms,
                needs,
                include_tests=include_tests,
                include_docs=include_docs,
                include_examples=include_examples,
                prior=prior,
                cycle=cycle,
                history=votes,
                defined=defined,
                past=history,
            ),
            cycle,
        )
        if ranker is not None and ranked and skeleton is not None:
            candidates = [(s.path, skeleton(s.file_id)) for s in ranked[:RERANK]]
            judged, missing = ranker.rerank(task, needs, candidates)
            ranked = _apply_judgements(ranked, judged, cycle)
            if missing:
                needs = needs.merge(Needs(keywords=missing))
        for s in ranked:
            if s.file_id not in best or s.score > best[s.file_id].score:
                best[s.file_id] = s
        selection = ranked[:SELECTED]
        gaps = gaps_of(index, needs, selection)
        high = sum(1 for s in selection if s.score >= scoring.HIGH)
        seen.append(Cycle(cycle, {s.path: s.score for s in ranked}, high, list(gaps)))
        if high >= ENOUGH_HIGH and not gaps:
            break
        prior = {s.file_id: s.score for s in ranked[:5]}
        needs = _refine(index, needs, ranked, gaps)
    files = sorted(best.values(), key=lambda s: (-s.score, s.path))
    final_gaps = gaps_of(index, needs, files[:SELECTED])
    return LoopResult(files, cycle, needs, final_gaps, seen)
