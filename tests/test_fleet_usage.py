"""Usage read from agents' logs, and their latest line of output, as their CLIs print them.

The samples are the CLIs' own formats (a Claude Code stream-json ``result`` line as 2.x
prints it, aider 0.86's token and cost lines); test_real_agents.py reads real ones.
"""

from __future__ import annotations

import json
from pathlib import Path

from gitfleet.fleet import logtail, usage
from gitfleet.fleet.usage import Usage

CLAUDE_RESULT = {
    "type": "result", "subtype": "success", "is_error": False, "duration_ms": 371,
    "num_turns": 4, "result": "Article SP-152 is committed.", "total_cost_usd": 0.0032,
    "usage": {"input_tokens": 400, "cache_creation_input_tokens": 10,
              "cache_read_input_tokens": 5, "output_tokens": 80},
}  # fmt: skip
CLAUDE_STEP = {
    "type": "assistant",
    "message": {"content": [{"type": "text", "text": "Step 2."},
                            {"type": "tool_use", "name": "Bash",
                             "input": {"command": "git add articles/SP-152.md"}}]},
}  # fmt: skip
AIDER_LOG = (
    "Aider v0.86.2\nMain model: openai/gpt-4o with diff edit format\n"
    "Tokens: 2.4k sent, 19 received. Cost: $0.0062 message, $0.0062 session.\n"
    "Applied edit to a.md\n"
    "Tokens: 12k sent, 1.5k cache hit, 1.1k received.\nCost: $0.04 message, $0.0462 session.\n"
    "Commit 48b6dee Add a.md\n"
)


def _log(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "agent.log"
    path.write_text(text)
    return path


def test_claude_result_line(tmp_path: Path) -> None:
    lines = [json.dumps({"type": "system", "subtype": "init"}), json.dumps(CLAUDE_STEP),
             json.dumps(CLAUDE_RESULT)]  # fmt: skip
    found = usage.from_log(_log(tmp_path, "\n".join(lines) + "\n"))
    assert found == Usage(
        cost_usd=0.0032, input_tokens=415, output_tokens=80, turns=4, duration_s=0.371
    )
    assert found.short() == "$0.0032"
    assert found.line() == "$0.0032, 415 tokens in, 80 out, 4 turns, 0.4s of model time"


def test_claude_run_twice_adds_up(tmp_path: Path) -> None:
    # A conflict handed back to the agent runs Claude Code again, into the same log.
    twice = (json.dumps(CLAUDE_RESULT) + "\n") * 2
    found = usage.from_log(_log(tmp_path, twice))
    assert found is not None and found.turns == 8 and found.cost_usd == 0.0064


GEMINI_LINES = [
    {"type": "init", "model": "auto"},
    {"type": "message", "role": "assistant", "content": "Writing.", "delta": True},
    {"type": "tool_use", "tool_name": "run_shell_command",
     "parameters": {"command": "git add articles/SP-152.md"}},
    {"type": "tool_result", "status": "success", "output": ""},
    {"type": "result", "status": "success",
     "stats": {"input_tokens": 300, "output_tokens": 60, "duration_ms": 345, "tool_calls": 1}},
]  # fmt: skip


def test_gemini_stream_json(tmp_path: Path) -> None:
    lines = [json.dumps(e) for e in GEMINI_LINES]
    log = _log(tmp_path, "\n".join(lines) + "\n")
    assert usage.from_log(log) == Usage(input_tokens=300, output_tokens=60, duration_s=0.345)
    assert logtail.latest(log) == "result: success"
    assert logtail.latest(_log(tmp_path, "\n".join(lines[:4]))) == (
        "run_shell_command: git add articles/SP-152.md"
    )
    assert logtail.latest(_log(tmp_path, "\n".join(lines[:2]))) == "Writing."


def test_aider_token_and_cost_lines(tmp_path: Path) -> None:
    found = usage.from_log(_log(tmp_path, AIDER_LOG))
    assert found == Usage(cost_usd=0.0462, input_tokens=14400, output_tokens=1119, turns=2)


def test_aider_without_prices_still_counts_tokens(tmp_path: Path) -> None:
    found = usage.from_log(_log(tmp_path, "Tokens: 950 sent, 12 received.\n"))
    assert found == Usage(cost_usd=None, input_tokens=950, output_tokens=12, turns=1)
    assert found.short() == "962 tok"


def test_no_report_no_usage_and_totals(tmp_path: Path) -> None:
    assert usage.from_log(_log(tmp_path, "done\n")) is None
    assert usage.from_log(tmp_path / "missing.log") is None
    a = Usage(cost_usd=0.5, input_tokens=10, output_tokens=1, turns=1)
    b = Usage(cost_usd=None, input_tokens=5, output_tokens=2, turns=3)
    assert usage.total([a, None, b]) == Usage(
        cost_usd=0.5, input_tokens=15, output_tokens=3, turns=4
    )
    assert usage.total([None]) is None


def test_latest_line_reads_through_escapes_progress_and_json(tmp_path: Path) -> None:
    assert logtail.latest(_log(tmp_path, "one\n\x1b[1;32mtwo\x1b[0m\n\n")) == "two"
    assert logtail.latest(_log(tmp_path, "Downloading 10%\rDownloading 90%\r\n")) == (
        "Downloading 90%"
    )
    step = json.dumps(CLAUDE_STEP) + "\n" + json.dumps({"type": "user", "message": {}}) + "\n"
    assert logtail.latest(_log(tmp_path, step)) == "Bash: git add articles/SP-152.md"
    done = step + json.dumps(CLAUDE_RESULT) + "\n"
    assert logtail.latest(_log(tmp_path, done)) == "Article SP-152 is committed."
    assert logtail.latest(tmp_path / "missing.log") == ""


def test_latest_line_skips_a_line_cut_by_the_tail(tmp_path: Path) -> None:
    long_json = json.dumps({"type": "user", "pad": "x" * (2 * logtail.TAIL_BYTES)})
    assert logtail.latest(_log(tmp_path, "earlier\n" + long_json + "\n")) == ""
