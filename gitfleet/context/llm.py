"""Claude for phase 1 (needs) and the phase 2 rerank, through the anthropic SDK.

Everything here can fail (no key, no network, a 429, a 500, an answer that is not the JSON
asked for); every failure becomes one :class:`LlmError` whose text is safe to print, and
the caller falls back to the offline result. The key is never formatted into anything:
messages are built from the exception's class and status only, then scrubbed anyway.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from gitfleet.context.loop import Judgement
from gitfleet.context.needs import Needs

DEFAULT_MODEL = "claude-haiku-4-5"
MAX_RETRIES = 2
TIMEOUT_S = 60.0
SKELETON_CHARS = 1800  # per candidate: a compact skeleton, not the file

_SYSTEM = (
    "You help a coding agent find the files of a git repository that matter for its task. "
    "Answer with one JSON object and nothing else."
)

_NEEDS_PROMPT = """Task:
{task}

Repository map (path: top-level symbols):
{repo_map}

What does the task need from this repository? Reply with JSON:
{{"keywords": [words to search for], "identifiers": [function/class/variable names that \
exist or likely exist], "path_globs": [glob patterns of likely files], "questions": [open \
questions the code must answer]}}"""

_RERANK_PROMPT = """Task:
{task}

Needs so far: {needs}

Candidate files (path, then a skeleton of the file):
{candidates}

Score how much each candidate matters for the task on a contiguous scale from 0.0 (irrelevant) \
to 1.0 (must read); any value in between is allowed. Reply with JSON:
{{"files": [{{"path": "...", "score": 0.0, "reason": "one short sentence"}}], \
"missing": [needs no candidate covers, as search words or identifiers]}}"""


class LlmError(Exception):
    """The API could not be used; the message is one printable line without secrets."""


@dataclass
class Usage:
    input_tokens: int = 0
    output_tokens: int = 0
    calls: int = 0


def _scrub(text: str) -> str:
    for var in ("ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN"):
        secret = os.environ.get(var)
        if secret:
            text = text.replace(secret, "***")
    return re.sub(r"sk-ant-[\w-]+", "***", text)


def describe(exc: BaseException) -> str:
    """A one-line, secret-free account of an API failure."""
    status = getattr(exc, "status_code", None)
    kind = type(exc).__name__
    return _scrub(f"{kind} (HTTP {status})" if status else kind)


def _json_object(text: str) -> dict[str, Any]:
    """The JSON object in an answer, tolerating code fences and chatter around it."""
    start, end = text.find("{"), text.rfind("}")
    if start < 0 or end <= start:
        raise LlmError("the model's answer held no JSON object")
    try:
        value = json.loads(text[start : end + 1])
    except json.JSONDecodeError as exc:
        raise LlmError(f"the model's answer was not valid JSON ({exc.msg})") from None
    if not isinstance(value, dict):
        raise LlmError("the model's answer was not a JSON object")
    return value


def _strings(value: Any, limit: int = 30) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise LlmError("the model's answer had a list of non-strings where strings belong")
    return [v.strip() for v in value if v.strip()][:limit]


def parse_needs(text: str) -> Needs:
    data = _json_object(text)
    return Needs(
        keywords=_strings(data.get("keywords")),
        identifiers=_strings(data.get("identifiers")),
        path_globs=_strings(data.get("path_globs")),
        questions=_strings(data.get("questions"), 10),
    )


def parse_rerank(text: str, paths: Sequence[str]) -> tuple[list[Judgement], list[str]]:
    data = _json_object(text)
    files = data.get("files")
    if not isinstance(files, list):
        raise LlmError('the model\'s answer had no "files" list')
    known = set(paths)
    judged: dict[str, Judgement] = {}
    for item in files:
        if not isinstance(item, dict):
            raise LlmError('the model\'s "files" list held a non-object')
        path, score, reason = item.get("path"), item.get("score"), item.get("reason", "")
        if (
            not isinstance(path, str)
            or isinstance(score, bool)
            or not isinstance(score, int | float)
        ):
            raise LlmError("the model's answer had a file without a path or a numeric score")
        if not 0.0 <= float(score) <= 1.0:
            raise LlmError(f"the model scored {path} {score}, outside 0-1")
        if path in known and path not in judged:
            judged[path] = Judgement(path, float(score), str(reason)[:300] or "judged by Claude")
    if not judged:
        raise LlmError("the model's answer scored none of the candidates")
    return list(judged.values()), _strings(data.get("missing"), 10)


class ClaudeRanker:
    """The loop's Ranker backed by the Messages API; counts every token it spends."""

    def __init__(self, client: Any, model: str) -> None:
        self.client = client
        self.model = model
        self.usage = Usage()

    def _ask(self, prompt: str, max_tokens: int) -> str:
        import anthropic

        try:
            message = self.client.messages.create(
                model=self.model,
                max_tokens=max_tokens,
                system=_SYSTEM,
                messages=[{"role": "user", "content": prompt}],
            )
        except anthropic.AnthropicError as exc:
            raise LlmError(describe(exc)) from None
        usage = getattr(message, "usage", None)
        self.usage.calls += 1
        if usage is not None:
            self.usage.input_tokens += int(getattr(usage, "input_tokens", 0) or 0)
            self.usage.output_tokens += int(getattr(usage, "output_tokens", 0) or 0)
        text = "".join(
            getattr(block, "text", "") for block in message.content if block.type == "text"
        )
        if not text.strip():
            raise LlmError("the model's answer held no text")
        return text

    def needs(self, task: str, repo_map: str) -> Needs:
        return parse_needs(self._ask(_NEEDS_PROMPT.format(task=task, repo_map=repo_map), 800))

    def rerank(
        self, task: str, needs: Needs, candidates: Sequence[tuple[str, str]]
    ) -> tuple[list[Judgement], list[str]]:
        listing = "\n\n".join(f"### {path}\n{skel[:SKELETON_CHARS]}" for path, skel in candidates)
        prompt = _RERANK_PROMPT.format(
            task=task, needs=json.dumps(needs.to_json()), candidates=listing
        )
        return parse_rerank(self._ask(prompt, 1500), [p for p, _ in candidates])


# Where the SDK finds credentials; with none of them set there is no client to make.
_KEY_VARIABLES = (
    "ANTHROPIC_API_KEY",
    "ANTHROPIC_AUTH_TOKEN",
    "ANTHROPIC_PROFILE",
    "ANTHROPIC_IDENTITY_TOKEN",
    "ANTHROPIC_IDENTITY_TOKEN_FILE",
)


def connect(model: str | None) -> tuple[ClaudeRanker | None, str | None]:
    """A ranker when the SDK finds credentials, else (None, why) for the warning line."""
    no_key = "no Anthropic API key (set ANTHROPIC_API_KEY, or pass --offline)"
    if not any(os.environ.get(name) for name in _KEY_VARIABLES):
        return None, no_key  # the SDK takes seconds to import: not for nothing
    try:
        import anthropic

        client = anthropic.Anthropic(max_retries=MAX_RETRIES, timeout=TIMEOUT_S)
    except Exception as exc:  # any construction failure means: no usable client
        if type(exc).__name__ == "CredentialsError":  # a profile or config dir without keys
            return None, no_key
        return None, f"cannot set up the Anthropic client ({describe(exc)})"
    has_credentials = bool(
        getattr(client, "api_key", None)
        or getattr(client, "auth_token", None)
        or getattr(client, "credentials", None)
    )
    if not has_credentials:
        return None, no_key
    return ClaudeRanker(client, model or os.environ.get("GITFLEET_MODEL") or DEFAULT_MODEL), None
