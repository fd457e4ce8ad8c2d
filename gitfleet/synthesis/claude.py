"""Rung 4: Claude resolves a conflicted file at the orchestrator, through the anthropic SDK.

It runs only when ``ANTHROPIC_API_KEY`` is set and ``[land] resolve`` lists ``claude``.
Claude is sent the base, target and branch versions of the file (three-way reasoning from
the common base) with both sides' commit messages, and answers with the whole merged file.
Nothing it says is trusted: the ladder takes the answer only if it passes the gate (no
markers, still parses, no duplicates, no line either side added is lost), and landing
then runs ``[land] check`` on the result; an answer that fails either falls through.
"""

from __future__ import annotations

import os
import re
from typing import Any, NamedTuple

from gitfleet.errors import MissingExtra, optional
from gitfleet.synthesis.sides import Decline, Sides, check_size, decode

DEFAULT_MODEL = "claude-sonnet-4-6"  # GITFLEET_RESOLVE_MODEL overrides
MAX_RETRIES = 2
TIMEOUT_S = 120.0
MAX_TOKENS = 16000

_SYSTEM = (
    "You resolve git merge conflicts for an orchestrator that lands many coding agents' "
    "work. Keep every change of both sides unless they truly contradict; never leave "
    "conflict markers; keep the file's formatting. Answer with the complete merged file "
    "between <merged> and </merged>, and nothing else."
)
_PROMPT = """File: {path}

What landed on the target since the common base (its commit messages):
{target_notes}

What the branch being landed did (its commit messages):
{branch_notes}

The common base version:
<base>
{base}</base>

The target's version (already landed; never drop its changes):
<target>
{ours}</target>

The branch's version:
<branch>
{theirs}</branch>

Merge the target's and the branch's changes to the base into one file."""
_MERGED = re.compile(r"<merged>\n?(.*?)</merged>", re.S)


class Notes(NamedTuple):
    """What each side meant: the commit messages (and tasks) the prompt quotes."""

    target: str = ""
    branch: str = ""


class Claude:
    """The claude rung: one Messages API call per conflicted file."""

    def __init__(self, client: Any, model: str, notes: Notes) -> None:
        self.client, self.model, self.notes = client, model, notes

    def merge(self, sides: Sides) -> bytes:
        """The merged text Claude proposes, or :class:`Decline` (the gate judges it next)."""
        import anthropic

        check_size(sides)
        prompt = _PROMPT.format(
            path=sides.path,
            target_notes=self.notes.target.strip() or "(none given)",
            branch_notes=self.notes.branch.strip() or "(none given)",
            base=_block(decode(sides.base or b"", "base")),
            ours=_block(decode(sides.ours, "target")),
            theirs=_block(decode(sides.theirs, "branch")),
        )
        try:
            message = self.client.messages.create(
                model=self.model,
                max_tokens=MAX_TOKENS,
                system=_SYSTEM,
                messages=[{"role": "user", "content": prompt}],
            )
        except anthropic.AnthropicError as exc:
            status = getattr(exc, "status_code", None)
            raise Decline(f"the API failed ({type(exc).__name__}, HTTP {status})") from None
        text = "".join(getattr(b, "text", "") for b in message.content if b.type == "text")
        found = _MERGED.search(text)
        if found is None:
            raise Decline("its answer held no <merged> file")
        return found.group(1).encode("utf-8")


def _block(text: str) -> str:
    return text if not text or text.endswith("\n") else text + "\n"


class Unavailable:
    """A key is set but the SDK is not installed: the rung declines, saying what to install."""

    def __init__(self, why: str) -> None:
        self.why = why

    def merge(self, sides: Sides) -> bytes:
        raise Decline(self.why)


def connect(notes: Notes) -> Claude | Unavailable | None:
    """The rung when ``ANTHROPIC_API_KEY`` is set (None otherwise: the rung is skipped)."""
    if not os.environ.get("ANTHROPIC_API_KEY"):
        return None
    try:
        anthropic = optional("anthropic", "the claude rung of [land] resolve", "claude")
    except MissingExtra as exc:
        return Unavailable(str(exc))
    client = anthropic.Anthropic(max_retries=MAX_RETRIES, timeout=TIMEOUT_S)
    model = os.environ.get("GITFLEET_RESOLVE_MODEL") or DEFAULT_MODEL
    return Claude(client, model, notes)
