"""An agent's latest line of output, for the live table and heartbeats (as claude-squad and
ccmanager show it): the end of its log, without terminal escapes, and for Claude Code's or
Gemini CLI's ``stream-json`` what the step says (its text, or the tool it runs) instead of
raw JSON."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

TAIL_BYTES = 16 * 1024
_ESCAPES_RE = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b.")
_LINES_RE = re.compile(r"[\r\n]+")


def _tool(block: dict[str, Any]) -> str:
    given = block.get("input") or {}
    detail = next((str(given[k]) for k in ("command", "file_path", "path", "pattern")
                   if k in given), "")  # fmt: skip
    return f"{block.get('name', 'tool')}: {detail}".rstrip(": ")


def describe(data: Any) -> str | None:
    """One stream-json event as words; None for events not worth a line (tool results)."""
    if not isinstance(data, dict):
        return None
    kind = data.get("type")
    if kind == "message" and data.get("role") == "assistant":  # Gemini CLI
        said = str(data.get("content") or "").strip()
        return said.splitlines()[-1] if said else None
    if kind == "tool_use" and "tool_name" in data:  # Gemini CLI
        return _tool({"name": data["tool_name"], "input": data.get("parameters")})
    if kind == "result" and isinstance(data.get("stats"), dict):  # Gemini CLI
        return f"result: {data.get('status', 'done')}"
    if kind == "assistant":
        for block in reversed((data.get("message") or {}).get("content") or []):
            if isinstance(block, dict) and block.get("type") == "tool_use":
                return _tool(block)
            if isinstance(block, dict) and block.get("type") == "text" and block.get("text"):
                return str(block["text"]).strip().splitlines()[-1]
        return None
    if kind == "result":
        said = str(data.get("result") or "").strip()
        said = said.splitlines()[-1] if said else ""
        subtype = data.get("subtype", "success")
        return said if subtype == "success" and said else f"{subtype}: {said}".rstrip(": ")
    if kind == "system" and data.get("subtype") == "init":
        return "started"
    return None


def readable(line: str) -> str | None:
    """A log line as a person reads it, or None when it says nothing."""
    line = _ESCAPES_RE.sub("", line).strip()
    if not line:
        return None
    if line.startswith("{") and line.endswith("}"):
        try:
            return describe(json.loads(line))
        except ValueError:
            pass
    return line


def latest(path: Path) -> str:
    """The newest line of ``path`` that says something ("" when none yet)."""
    try:
        with open(path, "rb") as handle:
            handle.seek(0, 2)
            size = handle.tell()
            start = max(0, size - TAIL_BYTES)
            handle.seek(start)
            text = handle.read().decode("utf-8", "replace")
    except OSError:
        return ""
    lines = _LINES_RE.split(text)
    if start:
        lines = lines[1:]  # the first is cut short at the seek
    for line in reversed(lines):
        said = readable(line)
        if said:
            return said
    return ""
