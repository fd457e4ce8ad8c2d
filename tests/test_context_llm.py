"""The real anthropic client against a local server that speaks the Messages API.

The server (started per test, on 127.0.0.1) answers POST /v1/messages from a script of
(status, body) replies and records every request, so the tests see exactly what the loop
sends, how answers are parsed, and that a malformed answer, a 429 or a 500 falls back to
the offline result with one warning and the key nowhere in the output.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from context_fixtures import RECORDED_NEEDS, RECORDED_RERANK, RECORDED_TASK, make_shop
from messages_fixtures import KEY, MessagesServer, serve

from gitfleet.context import build_pack, llm


@pytest.fixture
def api(monkeypatch: pytest.MonkeyPatch) -> Iterator[MessagesServer]:
    yield from serve(monkeypatch)


@pytest.fixture
def shop(tmp_path: Path) -> Path:
    return make_shop(tmp_path / "shop")


NEEDS = {
    "keywords": ["discount", "checkout"],
    "identifiers": ["apply_discount"],
    "path_globs": ["shop/*.py"],
    "questions": ["Where is the discount applied?"],
}


def rerank(scores: dict[str, float], missing: list[str] | None = None) -> dict[str, Any]:
    return {
        "files": [{"path": p, "score": s, "reason": f"because {p}"} for p, s in scores.items()],
        "missing": missing or [],
    }


def assert_no_key(*texts: str) -> None:
    for text in texts:
        assert KEY not in text


def test_loop_requests_parsing_and_token_use(api: MessagesServer, shop: Path) -> None:
    api.reply_json(NEEDS, input_tokens=300, output_tokens=40)
    api.reply_json(
        rerank({"shop/pricing.py": 0.95, "shop/checkout.py": 0.9, "shop/cart.py": 0.72}),
        input_tokens=900,
        output_tokens=80,
    )
    result = build_pack(
        shop, "apply a discount code at checkout", offline=None, model="claude-test"
    )
    assert result.mode == "llm" and result.warnings == []
    assert result.cycles == 1  # three files >= 0.7, no gap: the loop stops early
    assert [f.path for f in result.files[:3]] == [
        "shop/pricing.py",
        "shop/checkout.py",
        "shop/cart.py",
    ]
    assert result.files[0].reason == "because shop/pricing.py"
    assert (result.llm_input_tokens, result.llm_output_tokens, result.llm_calls) == (1200, 120, 2)
    assert result.to_json()["tokens"]["llm_input"] == 1200

    first, second = api.requests
    assert first["path"] == "/v1/messages" and first["model"] == "claude-test"
    prompt = first["messages"][0]["content"]
    assert "apply a discount code at checkout" in prompt and "shop/pricing.py: " in prompt
    candidates = second["messages"][0]["content"]
    assert "### shop/pricing.py" in candidates and "def apply_discount" in candidates
    # The key reaches the API (this SDK version sends it as a bearer token), and only there.
    assert all(KEY in (h.get("x-api-key", "") + h.get("authorization", "")) for h in api.headers)
    assert_no_key(result.markdown, json.dumps(result.to_json()))


def test_best_context_across_cycles_survives_a_worse_cycle(api: MessagesServer, shop: Path) -> None:
    api.reply_json(NEEDS)
    api.reply_json(rerank({"shop/pricing.py": 0.8, "shop/checkout.py": 0.5}, ["refund policy"]))
    api.reply_json(rerank({"shop/pricing.py": 0.1, "shop/checkout.py": 0.6}, ["refund policy"]))
    api.reply_json(rerank({"shop/pricing.py": 0.2, "shop/checkout.py": 0.3}, ["refund policy"]))
    result = build_pack(shop, "apply a discount code at checkout", offline=None)
    assert result.cycles == 3 and len(api.requests) == 4
    scores = {f.path: f.score for f in result.files}
    assert scores["shop/pricing.py"] == 0.8  # cycle 1's judgement, not cycle 3's
    assert scores["shop/checkout.py"] == 0.6
    assert result.files[0].path == "shop/pricing.py"
    # the missing need flowed into the next cycle's request
    assert "refund policy" in api.requests[2]["messages"][0]["content"]


def offline_ranking(shop: Path, task: str) -> list[tuple[str, float]]:
    return [(f.path, f.score) for f in build_pack(shop, task, offline=True).files]


@pytest.mark.parametrize(
    "answer",
    [
        "I think pricing.py matters most.",  # no JSON at all
        '{"files": [{"path": "shop/pricing.py", "score": 7}]}',  # outside 0-1
        '{"files": "shop/pricing.py"}',  # wrong shape
        '{"files": [{"path": "nowhere.py", "score": 0.9}]}',  # no candidate scored
        '```json\n{"files": [{"path": "shop/pricing.py", "score": true}]}\n```',  # bool score
    ],
)
def test_malformed_answers_fall_back(api: MessagesServer, shop: Path, answer: str) -> None:
    task = "apply a discount code at checkout"
    api.reply_json(NEEDS)
    api.reply_text(answer)
    result = build_pack(shop, task, offline=None)
    assert result.mode == "offline"
    assert len(result.warnings) == 1 and "offline" in result.warnings[0]
    assert [(f.path, f.score) for f in result.files] == offline_ranking(shop, task)
    assert_no_key(*result.warnings, result.markdown)


@pytest.mark.parametrize(
    ("status", "kind", "label"),
    [(429, "rate_limit_error", "HTTP 429"), (500, "api_error", "HTTP 500")],
)
def test_http_errors_fall_back(
    api: MessagesServer, shop: Path, status: int, kind: str, label: str
) -> None:
    api.reply_error(status, kind)
    task = "reserve stock in the inventory"
    result = build_pack(shop, task, offline=None)
    assert result.mode == "offline"
    assert result.warnings == [f"Claude unavailable: {result.warnings[0].split(': ', 1)[1]}"]
    assert label in result.warnings[0]
    assert len(api.requests) == 1 + llm.MAX_RETRIES  # the SDK retried, then we gave up
    assert result.files[0].path == "engine/inventory.rs"
    assert_no_key(*result.warnings, result.markdown)


def test_a_failure_in_a_later_cycle_still_falls_back_whole(api: MessagesServer, shop: Path) -> None:
    api.reply_json(NEEDS)
    api.reply_json(rerank({"shop/pricing.py": 0.5}, ["refunds"]))
    api.reply_error(500, "api_error")
    task = "apply a discount code at checkout"
    result = build_pack(shop, task, offline=None)
    assert result.mode == "offline" and len(result.warnings) == 1
    assert [(f.path, f.score) for f in result.files] == offline_ranking(shop, task)


def test_unreachable_server_falls_back(monkeypatch: pytest.MonkeyPatch, shop: Path) -> None:
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("ANTHROPIC_API_KEY", KEY)
    monkeypatch.setenv("ANTHROPIC_BASE_URL", f"http://127.0.0.1:{port}")
    monkeypatch.setattr(llm, "MAX_RETRIES", 0)
    result = build_pack(shop, "reserve stock", offline=None)
    assert result.mode == "offline" and "APIConnectionError" in result.warnings[0]
    assert_no_key(*result.warnings)


def test_no_key_means_offline_with_one_warning(shop: Path) -> None:
    result = build_pack(shop, "reserve stock", offline=None)
    assert result.mode == "offline"
    assert len(result.warnings) == 1 and "no Anthropic API key" in result.warnings[0]


def test_offline_flag_never_calls(api: MessagesServer, shop: Path) -> None:
    api.reply_json(NEEDS)
    result = build_pack(shop, "reserve stock", offline=True)
    assert api.requests == [] and result.warnings == [] and result.mode == "offline"


def test_parse_needs_and_rerank_directly() -> None:
    n = llm.parse_needs('Sure!\n```json\n{"keywords": ["a"], "identifiers": ["B"]}\n```')
    assert (n.keywords, n.identifiers, n.path_globs) == (["a"], ["B"], [])
    judged, missing = llm.parse_rerank(
        json.dumps(rerank({"a.py": 0.45, "b.py": 0.75}, ["x"])), ["a.py", "b.py"]
    )
    assert [(j.path, j.score) for j in judged] == [("a.py", 0.45), ("b.py", 0.75)]
    assert missing == ["x"]
    with pytest.raises(llm.LlmError):
        llm.parse_needs('{"keywords": [1, 2]}')


def test_without_credentials_the_sdk_is_not_even_imported() -> None:
    """`gitfleet report` and `gitfleet context` took seconds with no key: the SDK's import."""
    code = (
        "import sys\nfrom gitfleet.context import llm\n"
        "ranker, why = llm.connect(None)\n"
        "assert ranker is None and 'no Anthropic API key' in why, why\n"
        "print('anthropic' in sys.modules)\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANTHROPIC_")}
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "False"


def test_a_recorded_rerank_changes_the_order_as_intended(api: MessagesServer, shop: Path) -> None:
    offline = [f.path for f in build_pack(shop, RECORDED_TASK, offline=True).files]
    assert offline[0] == "notify/sms.py" and "auth/sessions.py" not in offline[:3]
    api.reply_json(RECORDED_NEEDS)
    api.reply_json(RECORDED_RERANK)
    result = build_pack(shop, RECORDED_TASK, offline=None)
    assert result.mode == "llm" and result.warnings == []
    paths = [f.path for f in result.files]
    assert paths[:2] == ["auth/sessions.py", "notify/sms.py"]
    assert paths.index("shop/checkout.py") > 1 and paths.index("shop/pricing.py") > 1
    # The needs Claude derived reached the offline candidates it was then asked to judge.
    assert "hash_password" in result.needs["identifiers"]
    assert "### auth/sessions.py" in api.requests[1]["messages"][0]["content"]
