"""Phase 3: the markdown pack, within a token budget.

Tokens are estimated, not counted (counting needs the API): one token per three characters,
which overestimates English (about four per token) and matches dense code, so a pack that
fits the estimate fits the real budget. Every section is added only if the whole pack still
fits; the ranked list comes first, then code, best file first: skeleton plus the bodies of the
symbols that matched, or the skeleton alone, or as many of its lines as still fit.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

from gitfleet.context import lexical
from gitfleet.context.scoring import Scored, band
from gitfleet.context.symbols import Definition

CHARS_PER_TOKEN = 3
MAX_BODY_LINES = 80
MATCH_WINDOWS = 4  # places in a file shown for holding the task's words
MATCH_CONTEXT = 3  # lines shown either side of such a place
MIN_SECTION_TOKENS = 40

_FENCE_LANG = {
    "python": "python",
    "javascript": "javascript",
    "typescript": "typescript",
    "tsx": "tsx",
    "go": "go",
    "rust": "rust",
}


def estimate_tokens(text: str) -> int:
    return -(-len(text) // CHARS_PER_TOKEN)


def skeleton(text: str, defs: Sequence[Definition], *, max_depth: int = 1) -> str:
    """Signature lines of the file's definitions, with their line numbers."""
    lines = text.splitlines()
    out: list[str] = []
    for d in defs:
        if d.depth > max_depth or d.line > len(lines):
            continue
        sig = lines[d.line - 1].rstrip()
        # A signature split over lines: follow it until its brackets close.
        j = d.line
        while j < len(lines) and j < d.line + 6 and sig.count("(") > sig.count(")"):
            sig += "\n     | " + lines[j].rstrip()
            j += 1
        out.append(f"{d.line:>5}| {sig}")
    if not out:
        out = [f"{i + 1:>5}| {line.rstrip()}" for i, line in enumerate(lines[:30])]
    return "\n".join(out)


def matching_lines(lines: Sequence[str], terms: Collection[str], skip: set[int]) -> list[int]:
    """Line numbers (1-based) holding the most distinct query terms, best first, at most
    MATCH_WINDOWS of them; lines in ``skip`` are already shown."""
    if not terms:
        return []
    scored: list[tuple[int, int]] = []
    for number, line in enumerate(lines, 1):
        if number in skip:
            continue
        found = set(lexical.terms_of_text(line)) & set(terms)
        if found:
            scored.append((-len(found), number))
    scored.sort()
    picked: list[int] = []
    for _, number in scored:
        if all(abs(number - p) > 2 * MATCH_CONTEXT for p in picked):
            picked.append(number)
        if len(picked) == MATCH_WINDOWS:
            break
    return picked


def excerpt(
    text: str, defs: Sequence[Definition], symbols: Sequence[str], terms: Collection[str] = ()
) -> str:
    """The skeleton with the bodies of ``symbols`` spelled out, and the lines that hold the
    task's ``terms`` (with a few lines around them) where no matching body shows them."""
    lines = text.splitlines()
    wanted = set(symbols)
    shown: list[tuple[int, int]] = []
    for d in defs:
        # A class's body is its members: the skeleton lists them, and matching methods are
        # spelled out on their own, so a class is never expanded whole.
        if d.kind in ("class", "type", "module"):
            continue
        if d.name in wanted and not any(a <= d.line <= b for a, b in shown):
            end = min(d.end_line, d.line + MAX_BODY_LINES - 1, len(lines))
            shown.append((d.line, end))
    inside = {n for a, b in shown for n in range(a, b + 1)}
    for number in matching_lines(lines, terms, inside):
        start, end = max(1, number - MATCH_CONTEXT), min(len(lines), number + MATCH_CONTEXT)
        shown.append((start, end))
    if not shown:
        return skeleton(text, defs)
    return _render_spans(lines, defs, _merged(shown))


def _merged(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Overlapping or touching spans joined, in line order."""
    out: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        if out and start <= out[-1][1] + 1:
            out[-1] = (out[-1][0], max(out[-1][1], end))
        else:
            out.append((start, end))
    return out


def _render_spans(
    lines: Sequence[str], defs: Sequence[Definition], shown: list[tuple[int, int]]
) -> str:
    """Skeleton lines between the spans, the spans whole, and a mark where a body goes on."""
    out: list[str] = []
    skel = {d.line: d for d in defs if d.depth <= 1}
    ends = {d.line: d.end_line for d in defs}
    line_no = 1
    for start, end in shown:
        for ln in sorted(k for k in skel if line_no <= k < start):
            out.append(f"{ln:>5}| {lines[ln - 1].rstrip()}")
        if out and start > line_no:
            out.append("     | ...")
        out.extend(f"{k:>5}| {lines[k - 1].rstrip()}" for k in range(start, end + 1))
        if end < ends.get(start, end):
            out.append("     | ...")
        line_no = end + 1
    out.extend(f"{ln:>5}| {lines[ln - 1].rstrip()}" for ln in sorted(skel) if ln >= line_no)
    return "\n".join(out)


def _fits(parts: Sequence[str], extra: str, budget: int) -> bool:
    return estimate_tokens("".join(parts) + extra) <= budget


def _truncate(text: str, max_tokens: int) -> str:
    limit = max(0, max_tokens * CHARS_PER_TOKEN)
    if len(text) <= limit:
        return text
    cut = text[: max(0, limit - 20)]
    return cut[: cut.rfind("\n")] if "\n" in cut else cut


def render(
    task: str,
    ranked: Sequence[Scored],
    code: Sequence[tuple[Scored, str | None, str, str]],
    *,
    budget: int,
    notes: Sequence[str] = (),
) -> str:
    """The pack. ``code`` rows are (file, language, excerpt, skeleton), best first."""
    parts: list[str] = []
    head = "# Context pack\n\n## Task\n\n"
    task_text = _truncate(task.strip(), max(0, budget - estimate_tokens(head) - 10)) + "\n"
    if not _fits([], head + task_text, budget):
        return _truncate(head + task_text, budget)
    parts.append(head + task_text)
    for note in notes:
        line = f"\n> {note}\n"
        if _fits(parts, line, budget):
            parts.append(line)
    listing = "\n## Files, most relevant first\n\n"
    if _fits(parts, listing, budget) and ranked:
        parts.append(listing)
        for i, s in enumerate(ranked, 1):
            row = f"{i}. `{s.path}` ({s.score:.2f}, {band(s.score)}): {s.reason}\n"
            if not _fits(parts, row, budget):
                break
            parts.append(row)
    if code and _fits(parts, "\n## Code\n", budget):
        parts.append("\n## Code\n")
        for s, lang, full, skel in code:
            fence = _FENCE_LANG.get(lang or "", "")
            head_line = f"\n### `{s.path}`\n\n```{fence}\n"
            tail = "\n```\n"
            for body in (full, skel):
                if _fits(parts, head_line + body + tail, budget):
                    parts.append(head_line + body + tail)
                    break
            else:
                room = budget - estimate_tokens("".join(parts) + head_line + tail + "     | ...\n")
                if room < MIN_SECTION_TOKENS:
                    continue
                cut = _truncate(skel, room)
                if cut and _fits(parts, head_line + cut + "\n     | ..." + tail, budget):
                    parts.append(head_line + cut + "\n     | ..." + tail)
    return "".join(parts)
