"""Phase 1: what a task needs (keywords, identifiers, path globs, open questions).

The offline reading is deliberately literal: code-shaped words become identifiers, path-
shaped words become globs, the remaining words keywords, and sentences ending in '?' open
questions. An LLM reading (llm.py) adds to it; neither replaces the other.
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass, field
from itertools import pairwise

from gitfleet.context import lexical

_BACKTICKED = re.compile(r"`([^`\n]{1,200})`")
_PATHLIKE = re.compile(r"(?<![\w/.-])((?:[\w.-]+/)+[\w.*-]*|[\w-]+\.(?:[a-z]{1,4}))(?![\w/])")
_CODELIKE = re.compile(
    r"\b([A-Za-z_]\w*(?:\.[A-Za-z_]\w*)+|[a-z]+_[a-z0-9_]+|_\w+"
    r"|[a-z]+[A-Z]\w*|[A-Z][a-z0-9]+[A-Z]\w*|[A-Z]{2,}_[A-Z0-9_]+)\b"
)
_TEST_WORDS = frozenset({"test", "tests", "testing", "pytest", "unittest", "spec", "fixture"})
_DOC_WORDS = frozenset(
    {"doc", "docs", "documentation", "readme", "changelog", "guide", "tutorial", "docstring"}
)

_EXAMPLE_WORDS = frozenset({"example", "examples", "demo", "demos", "sample", "benchmark"})

# A pair of the task's words found run together is the task's words: full weight.
COMPOUND_WEIGHT = 1.0


@dataclass
class Needs:
    """What the retrieval should find; ``critical`` names what must be covered."""

    keywords: list[str] = field(default_factory=list)
    identifiers: list[str] = field(default_factory=list)
    path_globs: list[str] = field(default_factory=list)
    questions: list[str] = field(default_factory=list)
    # Terms added by refinement, weighted below the task's own words.
    expansions: list[str] = field(default_factory=list)

    @property
    def critical(self) -> list[str]:
        """Needs whose absence is a gap: what the task names explicitly."""
        return self.identifiers + self.path_globs

    def weighted_terms(self, task_terms: list[str]) -> dict[str, float]:
        """The query: the task's terms, identifiers (boosted), then expansions (damped)."""
        query = lexical.weighted(task_terms)
        for word in self.keywords:
            for term in lexical.split_identifier(word):
                query.setdefault(term, 0.5)
        for ident in self.identifiers:
            for term in lexical.split_identifier(ident.rsplit(".", 1)[-1]):
                query[term] = query.get(term, 0.0) + 0.5
        for term in self.expansions:
            query.setdefault(term, 0.25)
        # Code runs words together ("id check" -> idcheck.py, "pre push" -> prepush):
        # each pair of neighbouring words is tried as one. A pair no file has scores nothing.
        for first, second in pairwise(task_terms):
            query.setdefault(first + second, COMPOUND_WEIGHT)
        return query

    def merge(self, other: Needs) -> Needs:
        def union(a: list[str], b: list[str]) -> list[str]:
            return list(dict.fromkeys([*a, *b]))

        return Needs(
            keywords=union(self.keywords, other.keywords),
            identifiers=union(self.identifiers, other.identifiers),
            path_globs=union(self.path_globs, other.path_globs),
            questions=union(self.questions, other.questions),
            expansions=union(self.expansions, other.expansions),
        )

    def to_json(self) -> dict[str, list[str]]:
        return {
            "keywords": self.keywords,
            "identifiers": self.identifiers,
            "path_globs": self.path_globs,
            "questions": self.questions,
        }


def wants_tests(task: str) -> bool:
    """Whether the task is about tests (then tests are not down-weighted)."""
    return any(w.lower() in _TEST_WORDS for w in re.findall(r"[A-Za-z]+", task))


def wants_examples(task: str) -> bool:
    """Whether the task is about examples or demos (then they are not down-weighted)."""
    return any(w.lower() in _EXAMPLE_WORDS for w in re.findall(r"[A-Za-z]+", task))


def wants_docs(task: str) -> bool:
    """Whether the task is about documentation (then prose files are not down-weighted)."""
    return any(w.lower() in _DOC_WORDS for w in re.findall(r"[A-Za-z]+", task))


def _glob_for(word: str) -> str:
    word = word.strip("./")
    if "*" in word:
        return word if word.startswith("*") else "*" + word
    return "*" + word + ("*" if "." not in word.rsplit("/", 1)[-1] else "")


def offline(task: str) -> Needs:
    """Needs read from the task's words alone."""
    identifiers: list[str] = []
    globs: list[str] = []
    spans = [m.group(1).strip() for m in _BACKTICKED.finditer(task)]
    for span in spans:
        for word in re.findall(r"[\w./*-]+", span):
            if "/" in word or re.search(r"\.[a-z]{1,4}$", word):
                globs.append(_glob_for(word))
            elif re.fullmatch(r"[A-Za-z_][\w.]*", word) and len(word) > 2:
                identifiers.append(word.strip("."))
    bare = _BACKTICKED.sub(" ", task)
    for m in _PATHLIKE.finditer(bare):
        word = m.group(1)
        # "e.g" and "i.e" have the shape of a file name; "status.py" is one
        if lexical.names_a_file(word) or not re.fullmatch(r"[A-Za-z]+\.[a-z]{1,2}", word):
            globs.append(_glob_for(word))
    for m in _CODELIKE.finditer(bare):
        # a file name is a glob above, not a dotted name (whose last part, "py", would name
        # every file defining `py`)
        if "/" not in m.group(1) and not lexical.names_a_file(m.group(1)):
            identifiers.append(m.group(1))
    ident_terms = {t for i in identifiers for t in lexical.split_identifier(i)}
    keywords = [t for t in dict.fromkeys(lexical.task_terms(bare)) if t not in ident_terms]
    questions = [q.strip() for q in re.findall(r"[^.?!\n]*\?", task) if len(q.strip()) > 3]
    return Needs(
        keywords=keywords,
        identifiers=list(dict.fromkeys(identifiers)),
        path_globs=list(dict.fromkeys(globs)),
        questions=questions,
    )


def glob_matches(pattern: str, path: str) -> bool:
    return fnmatch.fnmatch(path, pattern) or fnmatch.fnmatch(path.rsplit("/", 1)[-1], pattern)
