"""Progressive context: a small, relevant pack per agent, built by iterative retrieval.

``build_pack`` is the one entry point (``gitfleet context`` and ``gitfleet spawn --context``
call it). Nothing heavy is imported until it runs: the hooks import ``gitfleet`` on every
commit and must not pay for numpy, bm25s or tree-sitter.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DEFAULT_BUDGET = 6000
MIN_BUDGET = 100


@dataclass(frozen=True)
class RankedFile:
    path: str
    score: float
    reason: str
    symbols: tuple[str, ...] = ()


@dataclass
class ContextResult:
    """A context pack and how it was found."""

    task: str
    markdown: str
    files: list[RankedFile]
    cycles: int
    mode: str  # "offline" or "llm"
    tree_id: str
    budget: int
    pack_tokens: int
    llm_input_tokens: int = 0
    llm_output_tokens: int = 0
    llm_calls: int = 0
    gaps: list[str] = field(default_factory=list)
    needs: dict[str, list[str]] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """The machine-readable form: files ranked best first, cycles, token use."""
        return {
            "files": [
                {"path": f.path, "score": f.score, "reason": f.reason, "symbols": list(f.symbols)}
                for f in self.files
            ],
            "cycles": self.cycles,
            "tokens": {
                "pack": self.pack_tokens,
                "budget": self.budget,
                "llm_input": self.llm_input_tokens,
                "llm_output": self.llm_output_tokens,
                "llm_calls": self.llm_calls,
            },
            "mode": self.mode,
            "tree": self.tree_id,
            "gaps": self.gaps,
            "needs": self.needs,
            "warnings": self.warnings,
        }


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
    from gitfleet.context.build import build

    return build(
        Path(repo_root), task, budget=budget, offline=offline, model=model, treeish=treeish
    )


__all__ = ["DEFAULT_BUDGET", "ContextResult", "RankedFile", "build_pack"]
