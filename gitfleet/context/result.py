"""What a context build returns: the ranked files and the pack, with its token use."""

from __future__ import annotations

from dataclasses import dataclass, field
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
