"""The scripted model server speaks both APIs as their real clients expect: the anthropic
SDK reads its SSE stream and its JSON answers; OpenAI-style chunks reassemble by hand."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from model_server import ModelServer, Reply, ToolCall, Turn


def two_step(turn: Turn) -> Reply:
    """Tool call first, then (after its result) the final text naming the prompt."""
    if not turn.tool_results:
        return Reply(text="Writing.", tool_calls=[ToolCall("Write", {"file_path": "/x/a.md"})])
    return Reply(text=f"done: {turn.prompt} after {turn.tool_results[-1]}")


@pytest.fixture
def server() -> Iterator[ModelServer]:
    with ModelServer(two_step) as running:
        yield running


def _post(url: str, body: dict[str, Any]) -> bytes:
    request = urllib.request.Request(
        url, json.dumps(body).encode(), {"content-type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=30) as answer:
        return bytes(answer.read())


def test_anthropic_sdk_streams_tool_use_then_text(server: ModelServer) -> None:
    import anthropic

    client = anthropic.Anthropic(base_url=server.url, api_key="sk-test", max_retries=0)
    messages: list[dict[str, Any]] = [{"role": "user", "content": "write it"}]
    with client.messages.stream(
        model="claude-x", max_tokens=100, messages=messages,  # type: ignore[arg-type]
        tools=[{"name": "Write", "input_schema": {"type": "object"}}],
    ) as stream:  # fmt: skip
        first = stream.get_final_message()
    assert first.stop_reason == "tool_use"
    assert [b.type for b in first.content] == ["text", "tool_use"]
    tool = first.content[1]
    assert tool.type == "tool_use" and tool.input == {"file_path": "/x/a.md"}
    messages += [
        {"role": "assistant", "content": [b.model_dump() for b in first.content]},
        {"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": tool.id, "content": "written"}]},
    ]  # fmt: skip
    second = client.messages.create(model="claude-x", max_tokens=100, messages=messages)  # type: ignore[arg-type]
    assert second.content[0].type == "text"
    assert second.content[0].text == "done: write it after written"
    assert [t.tool_results for t in server.turns] == [[], ["written"]]
    assert server.requests[0].path == "/v1/messages" and server.requests[0].body["stream"]


def test_openai_stream_is_data_chunks_then_done(server: ModelServer) -> None:
    raw = _post(server.url + "/v1/chat/completions", {
        "model": "gpt-4o", "stream": True,
        "messages": [{"role": "system", "content": "sys"}, {"role": "user", "content": "go"}],
    }).decode()  # fmt: skip
    events = [line[len("data: ") :] for line in raw.splitlines() if line.startswith("data: ")]
    assert events[-1] == "[DONE]"
    chunks = [json.loads(e) for e in events[:-1]]
    calls = [
        c
        for ch in chunks
        for choice in ch["choices"]
        for c in choice["delta"].get("tool_calls", [])
    ]
    assert calls[0]["function"]["name"] == "Write"
    assert json.loads(calls[0]["function"]["arguments"]) == {"file_path": "/x/a.md"}
    text = "".join(ch["choices"][0]["delta"].get("content") or "" for ch in chunks if ch["choices"])
    assert text == "Writing."
    assert [ch["choices"][0]["finish_reason"] for ch in chunks if ch["choices"]][-1] == "tool_calls"
    assert chunks[-1]["usage"]["prompt_tokens"] == 100
    assert server.turns[0].system == "sys" and server.turns[0].api == "openai"


def test_openai_plain_json_after_a_tool_result(server: ModelServer) -> None:
    body = json.loads(_post(server.url + "/chat/completions", {
        "model": "gpt-4o",
        "messages": [{"role": "user", "content": "go"},
                     {"role": "assistant", "content": None},
                     {"role": "tool", "tool_call_id": "t0", "content": "ok"}],
    }))  # fmt: skip
    assert body["choices"][0]["message"]["content"] == "done: go after ok"
    assert body["choices"][0]["finish_reason"] == "stop"
    assert server.turns[0].assistant_turns == 1


def test_a_failing_script_answers_500_and_is_recorded() -> None:
    def broken(turn: Turn) -> Reply:
        raise KeyError("no step for this turn")

    with ModelServer(broken) as running:
        with pytest.raises(urllib.error.HTTPError) as caught:
            _post(running.url + "/v1/messages", {"model": "m", "messages": []})
        assert caught.value.code == 500
        assert running.errors == ["KeyError: 'no step for this turn'"]


def test_responses_stream_for_codex(server: ModelServer) -> None:
    raw = _post(server.url + "/v1/responses", {
        "model": "gpt-5", "stream": True, "instructions": "sys",
        "input": [{"type": "message", "role": "user",
                   "content": [{"type": "input_text", "text": "go"}]}],
        "tools": [{"type": "function", "name": "exec_command"}],
    }).decode()  # fmt: skip
    events = [json.loads(line[6:]) for line in raw.splitlines() if line.startswith("data: ")]
    kinds = [e["type"] for e in events]
    assert kinds[0] == "response.created" and kinds[-1] == "response.completed"
    done = [e["item"] for e in events if e["type"] == "response.output_item.done"]
    assert [i["type"] for i in done] == ["message", "function_call"]
    assert json.loads(done[1]["arguments"]) == {"file_path": "/x/a.md"}
    assert events[-1]["response"]["usage"]["input_tokens"] == 100
    turn = server.turns[0]
    assert (turn.api, turn.prompt, turn.system, turn.tools) == ("responses", "go", "sys",
                                                                ["exec_command"])  # fmt: skip


def test_gemini_generate_content_stream_and_plain(server: ModelServer) -> None:
    body = {
        "contents": [{"role": "user", "parts": [{"text": "go"}]}],
        "systemInstruction": {"parts": [{"text": "sys"}]},
        "tools": [{"functionDeclarations": [{"name": "write_file"}]}],
    }
    url = server.url + "/v1beta/models/gemini-x"
    raw = _post(url + ":streamGenerateContent?alt=sse", body).decode()
    (data,) = [json.loads(line[6:]) for line in raw.splitlines() if line.startswith("data: ")]
    parts = data["candidates"][0]["content"]["parts"]
    assert parts[1] == {"functionCall": {"name": "Write", "args": {"file_path": "/x/a.md"}}}
    body["contents"].append({"role": "model", "parts": parts})  # type: ignore[attr-defined]
    body["contents"].append({"role": "user", "parts": [  # type: ignore[attr-defined]
        {"functionResponse": {"name": "Write", "response": {"output": "ok"}}}]})  # fmt: skip
    plain = json.loads(_post(url + ":generateContent", body))
    assert plain["candidates"][0]["content"]["parts"][0]["text"].startswith("done: go after")
    assert [t.api for t in server.turns] == ["gemini", "gemini"]
    assert server.turns[0].model == "gemini-x" and server.turns[0].tools == ["write_file"]
