"""What an agent spent, read from its own log where its CLI reports it.

- Claude Code with ``--output-format json`` or ``stream-json`` ends with one JSON object of
  ``"type": "result"``: ``total_cost_usd``, ``usage`` (tokens), ``num_turns``, ``duration_ms``.
- Gemini CLI with ``--output-format stream-json`` ends with ``"type": "result"`` too, its
  figures under ``stats``: tokens in and out, ``duration_ms`` (no cost).
- Aider prints after each model answer ``Tokens: 2.4k sent, 19 received. Cost: $0.0062
  message, $0.0062 session.`` (the cost part only when it knows the model's prices).

Other CLIs report nothing gitfleet can read; their usage is simply unknown (None).
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from gitfleet.fleet.words import plural

# A log is read from its end; a run's usage is in its last lines (Claude) or spread over
# a log that stays small (aider prints two lines per turn).
READ_LIMIT = 4 * 1024 * 1024

_TOKENS_RE = re.compile(
    r"Tokens: ([\d.]+k?) sent(?:, [\d.]+k? cache write)?(?:, [\d.]+k? cache hit)?"
    r", ([\d.]+k?) received\."
)
_COST_RE = re.compile(r"Cost: \$([\d.]+) message, \$([\d.]+) session\.")


@dataclass
class Usage:
    cost_usd: float | None = None
    input_tokens: int = 0
    output_tokens: int = 0
    turns: int = 0
    duration_s: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> Usage | None:
        if not data:
            return None
        names = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in data.items() if k in names})

    def __add__(self, other: Usage) -> Usage:
        def plus(a: float | None, b: float | None) -> float | None:
            return None if a is None and b is None else (a or 0.0) + (b or 0.0)

        return Usage(
            cost_usd=plus(self.cost_usd, other.cost_usd),
            input_tokens=self.input_tokens + other.input_tokens,
            output_tokens=self.output_tokens + other.output_tokens,
            turns=self.turns + other.turns,
            duration_s=plus(self.duration_s, other.duration_s),
        )

    def short(self) -> str:
        """For a table cell: the cost when known, else the tokens."""
        if self.cost_usd is not None:
            return f"${self.cost_usd:.4f}" if self.cost_usd < 1 else f"${self.cost_usd:.2f}"
        return f"{tokens(self.input_tokens + self.output_tokens)} tok"

    def line(self) -> str:
        """For a report: every figure there is."""
        parts = [] if self.cost_usd is None else [f"${self.cost_usd:.4f}"]
        parts.append(f"{tokens(self.input_tokens)} tokens in, {tokens(self.output_tokens)} out")
        if self.turns:
            parts.append(plural(self.turns, "turn"))
        if self.duration_s is not None:
            parts.append(f"{self.duration_s:.1f}s of model time")
        return ", ".join(parts)


def tokens(count: int) -> str:
    return f"{count}" if count < 1000 else f"{count / 1000:.1f}k"


def _count(text: str) -> int:
    return round(float(text[:-1]) * 1000) if text.endswith("k") else round(float(text))


def from_results(lines: list[str]) -> Usage | None:
    """The ``result`` objects of Claude Code's or Gemini CLI's json output, one per run of
    the CLI in the log (a conflict handed back runs it again), added up."""
    return total([_result(line) for line in lines if line.startswith("{")])


def _gemini(stats: dict[str, Any]) -> Usage:
    duration = stats.get("duration_ms")
    return Usage(
        input_tokens=int(stats.get("input_tokens") or 0),
        output_tokens=int(stats.get("output_tokens") or 0),
        duration_s=float(duration) / 1000 if duration is not None else None,
    )


def _result(line: str) -> Usage | None:
    if '"result"' not in line:
        return None
    try:
        data = json.loads(line)
    except ValueError:
        return None
    if not isinstance(data, dict) or data.get("type") != "result":
        return None
    if isinstance(data.get("stats"), dict):
        return _gemini(data["stats"])
    used = data.get("usage") or {}
    inputs = sum(
        int(used.get(k) or 0)
        for k in ("input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens")
    )
    cost, duration = data.get("total_cost_usd"), data.get("duration_ms")
    return Usage(
        cost_usd=float(cost) if cost is not None else None,
        input_tokens=inputs,
        output_tokens=int(used.get("output_tokens") or 0),
        turns=int(data.get("num_turns") or 0),
        duration_s=float(duration) / 1000 if duration is not None else None,
    )


def from_aider(text: str) -> Usage | None:
    """Aider's per-answer token lines, summed; its last session cost is the total."""
    found = _TOKENS_RE.findall(text)
    if not found:
        return None
    costs = _COST_RE.findall(text)
    return Usage(
        cost_usd=float(costs[-1][1]) if costs else None,
        input_tokens=sum(_count(sent) for sent, _ in found),
        output_tokens=sum(_count(received) for _, received in found),
        turns=len(found),
    )


def from_log(path: Path) -> Usage | None:
    """The usage an agent's CLI reported in its log, or None when it reported none."""
    try:
        with open(path, "rb") as handle:
            handle.seek(0, 2)
            handle.seek(max(0, handle.tell() - READ_LIMIT))
            text = handle.read().decode("utf-8", "replace")
    except OSError:
        return None
    return from_results(text.splitlines()) or from_aider(text)


def total(usages: list[Usage | None]) -> Usage | None:
    known = [u for u in usages if u is not None]
    if not known:
        return None
    result = known[0]
    for more in known[1:]:
        result = result + more
    return result
