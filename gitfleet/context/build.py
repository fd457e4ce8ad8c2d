"""Putting the phases together: index -> loop (with or without Claude) -> pack."""

from __future__ import annotations

from pathlib import Path

from gitfleet.context import history, lexical, loop, pack, repomap, scoring, symbols
from gitfleet.context import index as index_mod
from gitfleet.context.history import History
from gitfleet.context.index import Index
from gitfleet.context.llm import ClaudeRanker, LlmError, connect
from gitfleet.context.result import DEFAULT_BUDGET, MIN_BUDGET, ContextResult, RankedFile
from gitfleet.context.symbols import Definition
from gitfleet.errors import UsageError
from gitfleet.git.repo import discover, require_commits

MAP_CHARS = 12_000  # the repository map sent to Claude in phase 1
CODE_FILES = 8  # files whose code goes into the pack, at most


class _Texts:
    """Blob texts of the indexed tree, read once each."""

    def __init__(self, repo_path: str, index: Index) -> None:
        self.repo = repomap.open_repo(repo_path)
        self.index = index
        self.cache: dict[int, str] = {}
        self.full_defs: dict[int, list[Definition]] = {}

    def __call__(self, file_id: int) -> str:
        if file_id not in self.cache:
            data: bytes = self.repo[self.index.oids[file_id]].data
            self.cache[file_id] = data.decode("utf-8", "replace")
        return self.cache[file_id]

    def defs(self, file_id: int) -> list[Definition]:
        """Definitions for a pack or a skeleton, parsed with tree-sitter (exact spans and
        members); the index holds only line tags, which are enough to rank and link files."""
        lang = self.index.langs[file_id]
        if not symbols.supported(lang):
            return self.index.defs[file_id]
        if file_id not in self.full_defs:
            data = self(file_id).encode("utf-8", "surrogateescape")
            self.full_defs[file_id] = symbols.definitions(
                data, lang, max_parse=symbols.FULL_PARSE_BYTES
            )
        return self.full_defs[file_id]

    def skeleton(self, file_id: int) -> str:
        return pack.skeleton(self(file_id), self.defs(file_id))


def _repo_map(index: Index, task: str, past: History | None) -> str:
    """Paths and top-level symbols, the files most like the task first (big repos get cut)."""
    first = loop.run(index, task, history=past).files[:80]
    seen = {s.file_id for s in first}
    order = [s.file_id for s in first] + [i for i in range(len(index)) if i not in seen]
    return repomap.render_map([(index.paths[i], index.top_level(i)) for i in order], MAP_CHARS)


def _run_loop(
    index: Index,
    task: str,
    texts: _Texts,
    offline: bool | None,
    model: str | None,
    past: History | None,
) -> tuple[loop.LoopResult, ClaudeRanker | None, list[str]]:
    if offline:
        return loop.run(index, task, history=past), None, []
    ranker, why = connect(model)
    if ranker is None:
        return loop.run(index, task, history=past), None, [f"{why}; using the offline scorer"]
    try:
        result = loop.run(
            index,
            task,
            ranker=ranker,
            repo_map=_repo_map(index, task, past),
            skeleton=texts.skeleton,
            history=past,
        )
    except LlmError as exc:
        warning = f"Claude unavailable: {exc}; using the offline result"
        return loop.run(index, task, history=past), ranker, [warning]
    return result, ranker, []


def _distinctive(query: dict[str, float]) -> list[str]:
    """The query terms an excerpt looks for: the task's own words, not the guesses."""
    return [t for t, w in query.items() if w >= 0.5]


def build(
    repo_root: Path,
    task: str,
    *,
    budget: int,
    offline: bool | None,
    model: str | None,
    treeish: str = "HEAD",
) -> ContextResult:
    if budget < MIN_BUDGET:
        raise UsageError(f"--budget {budget} is too small for a pack; use at least {MIN_BUDGET}.")
    if not task.strip():
        raise UsageError(
            "the task is empty; say what the agent is to do, e.g. "
            '`gitfleet context "fix the retry loop in the push gate"`.'
        )
    repo = discover(repo_root)
    require_commits(repo)
    pg = repomap.open_repo(str(repo.toplevel))
    tree_id = repomap.resolve_tree(pg, treeish)
    index = index_mod.load_or_build(str(repo.toplevel), tree_id, repo.state_dir)
    texts = _Texts(str(repo.toplevel), index)
    commit = repomap.resolve_commit(pg, treeish)
    past = history.load(str(repo.toplevel), commit, repo.state_dir) if commit else None
    result, ranker, warnings = _run_loop(index, task, texts, offline, model, past)
    if index.skipped:
        warnings.insert(0, index.skipped.warning())
    used_llm = ranker is not None and not warnings

    relevant = [s for s in result.files if s.score >= scoring.RELEVANT] or result.files[:3]
    query = result.needs.weighted_terms(lexical.task_terms(task))
    code = []
    for s in relevant[:CODE_FILES]:
        text = texts(s.file_id)
        defs = texts.defs(s.file_id)
        # The parsed definitions may name members the line tags missed (JS methods...).
        wanted = scoring.symbols_for(index, s.file_id, query, result.needs, defs=defs)
        code.append(
            (
                s,
                index.langs[s.file_id],
                pack.excerpt(
                    text, defs, list(dict.fromkeys([*s.symbols, *wanted])), _distinctive(query)
                ),
                pack.skeleton(text, defs),
            )
        )
    notes = [f"Not found in any selected file: {', '.join(result.gaps)}"] if result.gaps else []
    markdown = pack.render(task, result.files[:20], code, budget=budget, notes=notes)
    usage = ranker.usage if ranker is not None else None
    return ContextResult(
        task=task,
        markdown=markdown,
        files=[RankedFile(s.path, s.score, s.reason, tuple(s.symbols)) for s in result.files[:30]],
        cycles=result.cycles,
        mode="llm" if used_llm else "offline",
        tree_id=tree_id,
        budget=budget,
        pack_tokens=pack.estimate_tokens(markdown),
        llm_input_tokens=usage.input_tokens if usage else 0,
        llm_output_tokens=usage.output_tokens if usage else 0,
        llm_calls=usage.calls if usage else 0,
        gaps=result.gaps,
        needs=result.needs.to_json(),
        warnings=warnings,
    )


def build_pack(
    repo_root: Path,
    task: str,
    *,
    budget: int = DEFAULT_BUDGET,
    offline: bool | None = None,
    model: str | None = None,
    treeish: str = "HEAD",
) -> ContextResult:
    """Find what ``task`` needs in the repository at ``repo_root`` and pack it in ``budget``.

    ``offline=True`` never calls the API. Otherwise Claude is used when the SDK finds
    credentials, and any failure (no key, network, rate limit, a bad answer) falls back to
    the offline result with one line in ``.warnings``. The index covers the committed
    content of ``treeish`` (uncommitted edits are not seen).
    """
    return build(
        Path(repo_root), task, budget=budget, offline=offline, model=model, treeish=treeish
    )
