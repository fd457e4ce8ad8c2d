"""A scripted model server: the Anthropic Messages API, the OpenAI chat-completions API,
OpenAI's Responses API (streamed) and Google's generateContent on 127.0.0.1, so the real
agent CLIs (Claude Code, Aider, Codex, Gemini CLI, opencode) run offline in tests.

Each request becomes a :class:`Turn`: which API, which model, the first user prompt, the
tools offered, the tool results and assistant turns so far. A script (a plain function)
looks at the turn and returns a :class:`Reply` (text and/or tool calls); the server encodes
it the way that API does, streamed (SSE) or as one JSON body, and records every request.
Wire formats as verified with the real CLIs: see DESIGN.md, "Agent CLIs".
"""

from __future__ import annotations

import itertools
import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit


@dataclass
class ToolCall:
    name: str
    input: dict[str, Any]


@dataclass
class Reply:
    text: str = ""
    tool_calls: list[ToolCall] = field(default_factory=list)
    input_tokens: int = 100
    output_tokens: int = 20


@dataclass
class Turn:
    """What a script sees of one request: the conversation so far, reduced to its state."""

    api: str  # "anthropic" or "openai"
    model: str
    system: str
    prompt: str  # the text of the first user message
    tools: list[str]  # names of the tools offered
    tool_results: list[str]  # texts of the tool results so far, oldest first
    assistant_turns: int  # assistant messages so far
    last_user: str  # the text of the newest user message
    body: dict[str, Any]


Script = Callable[[Turn], Reply]


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: Any


def _text(content: Any) -> str:
    """The text of a message's content: a string, or a list of blocks / parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = []
        for block in content:
            if isinstance(block, dict) and block.get("type") in ("text", "input_text"):
                parts.append(str(block.get("text", "")))
            elif isinstance(block, dict) and block.get("type") == "tool_result":
                parts.append(_text(block.get("content", "")))
        return "\n".join(parts)
    return ""


def anthropic_turn(body: dict[str, Any]) -> Turn:
    messages = body.get("messages", [])
    users = [m for m in messages if m.get("role") == "user"]
    results = [
        _text(block.get("content", ""))
        for m in users
        if isinstance(m.get("content"), list)
        for block in m["content"]
        if isinstance(block, dict) and block.get("type") == "tool_result"
    ]
    return Turn(
        api="anthropic",
        model=str(body.get("model", "")),
        system=_text(body.get("system", "")),
        prompt=_text(users[0]["content"]) if users else "",
        tools=[str(t.get("name")) for t in body.get("tools", []) or []],
        tool_results=results,
        assistant_turns=sum(1 for m in messages if m.get("role") == "assistant"),
        last_user=_text(users[-1]["content"]) if users else "",
        body=body,
    )


def openai_turn(body: dict[str, Any]) -> Turn:
    messages = body.get("messages", [])
    users = [m for m in messages if m.get("role") == "user"]
    return Turn(
        api="openai",
        model=str(body.get("model", "")),
        system="\n".join(_text(m.get("content")) for m in messages if m.get("role") == "system"),
        prompt=_text(users[0]["content"]) if users else "",
        tools=[str(t.get("function", {}).get("name")) for t in body.get("tools", []) or []],
        tool_results=[_text(m.get("content")) for m in messages if m.get("role") == "tool"],
        assistant_turns=sum(1 for m in messages if m.get("role") == "assistant"),
        last_user=_text(users[-1]["content"]) if users else "",
        body=body,
    )


def responses_turn(body: dict[str, Any]) -> Turn:
    """OpenAI's Responses API (Codex): ``input`` items instead of messages."""
    items = [i for i in body.get("input", []) if isinstance(i, dict)]
    users = [i for i in items if i.get("role") == "user"]
    return Turn(
        api="responses",
        model=str(body.get("model", "")),
        system=str(body.get("instructions") or ""),
        prompt="\n".join(_text(u.get("content")) for u in users),
        tools=[str(t.get("name") or t.get("type")) for t in body.get("tools", []) or []],
        tool_results=[str(i.get("output")) for i in items
                      if i.get("type") in ("function_call_output", "custom_tool_call_output")],
        assistant_turns=sum(1 for i in items if i.get("role") == "assistant"),
        last_user=_text(users[-1].get("content")) if users else "",
        body=body,
    )  # fmt: skip


def responses_events(reply: Reply, model: str, msg_id: str) -> Iterator[bytes]:
    """A Responses API stream: created, each output item (added, text delta, done), completed."""
    output: list[dict[str, Any]] = []
    if reply.text:
        output.append({"type": "message", "id": f"{msg_id}_m", "role": "assistant",
                       "status": "completed",
                       "content": [{"type": "output_text", "text": reply.text,
                                    "annotations": []}]})  # fmt: skip
    for n, call in enumerate(reply.tool_calls):
        output.append({"type": "function_call", "id": f"{msg_id}_f{n}", "status": "completed",
                       "call_id": f"{msg_id}_t{n}", "name": call.name,
                       "arguments": json.dumps(call.input)})  # fmt: skip
    response = {"id": msg_id, "object": "response", "model": model, "status": "in_progress",
                "output": []}  # fmt: skip
    yield sse("response.created", {"type": "response.created", "response": response})
    for index, item in enumerate(output):
        yield sse("response.output_item.added", {"type": "response.output_item.added",
                                                 "output_index": index, "item": item})  # fmt: skip
        if item["type"] == "message":
            yield sse("response.output_text.delta", {
                "type": "response.output_text.delta", "item_id": item["id"],
                "output_index": index, "content_index": 0, "delta": reply.text})  # fmt: skip
        yield sse("response.output_item.done", {"type": "response.output_item.done",
                                                "output_index": index, "item": item})  # fmt: skip
    usage = {"input_tokens": reply.input_tokens, "output_tokens": reply.output_tokens,
             "total_tokens": reply.input_tokens + reply.output_tokens,
             "input_tokens_details": {"cached_tokens": 0},
             "output_tokens_details": {"reasoning_tokens": 0}}  # fmt: skip
    done = {**response, "status": "completed", "output": output, "usage": usage}
    yield sse("response.completed", {"type": "response.completed", "response": done})


def gemini_turn(body: dict[str, Any]) -> Turn:
    """Google's generateContent (Gemini CLI): ``contents`` of parts, functionResponse parts
    as the tool results."""
    contents = [c for c in body.get("contents", []) if isinstance(c, dict)]

    def texts(content: dict[str, Any]) -> str:
        return "\n".join(str(p["text"]) for p in content.get("parts", []) if "text" in p)

    users = [c for c in contents if c.get("role") == "user" and texts(c)]
    declared = [d for t in body.get("tools", []) or [] for d in t.get("functionDeclarations", [])]
    return Turn(
        api="gemini",
        model=str(body.get("model", "")),
        system=texts(body.get("systemInstruction") or {}),
        prompt="\n".join(texts(u) for u in users),
        tools=[str(d.get("name")) for d in declared],
        tool_results=[json.dumps(p["functionResponse"].get("response")) for c in contents
                      for p in c.get("parts", []) if "functionResponse" in p],
        assistant_turns=sum(1 for c in contents if c.get("role") == "model"),
        last_user=texts(users[-1]) if users else "",
        body=body,
    )  # fmt: skip


def gemini_answer(reply: Reply, model: str) -> dict[str, Any]:
    parts: list[dict[str, Any]] = [{"text": reply.text}] if reply.text else []
    parts += [{"functionCall": {"name": c.name, "args": c.input}} for c in reply.tool_calls]
    return {
        "candidates": [{"content": {"role": "model", "parts": parts}, "finishReason": "STOP",
                        "index": 0}],
        "usageMetadata": {"promptTokenCount": reply.input_tokens,
                          "candidatesTokenCount": reply.output_tokens,
                          "totalTokenCount": reply.input_tokens + reply.output_tokens},
        "modelVersion": model,
    }  # fmt: skip


def sse(event: str | None, data: Any) -> bytes:
    head = f"event: {event}\n" if event else ""
    payload = data if isinstance(data, str) else json.dumps(data)
    return f"{head}data: {payload}\n\n".encode()


def anthropic_message(reply: Reply, model: str, msg_id: str) -> dict[str, Any]:
    content: list[dict[str, Any]] = []
    if reply.text:
        content.append({"type": "text", "text": reply.text})
    for n, call in enumerate(reply.tool_calls):
        content.append({"type": "tool_use", "id": f"{msg_id}_t{n}", "name": call.name,
                        "input": call.input})  # fmt: skip
    return {
        "id": msg_id, "type": "message", "role": "assistant", "model": model,
        "content": content, "stop_reason": "tool_use" if reply.tool_calls else "end_turn",
        "stop_sequence": None,
        "usage": {"input_tokens": reply.input_tokens, "output_tokens": reply.output_tokens},
    }  # fmt: skip


def anthropic_events(message: dict[str, Any]) -> Iterator[bytes]:
    """The SSE events of one message: start, each block (start, deltas, stop), delta, stop."""
    start = {**message, "content": [], "stop_reason": None}
    start["usage"] = {**message["usage"], "output_tokens": 1}
    yield sse("message_start", {"type": "message_start", "message": start})
    for index, block in enumerate(message["content"]):
        if block["type"] == "text":
            first, delta = (
                {"type": "text", "text": ""},
                {"type": "text_delta", "text": block["text"]},
            )
        else:
            first = {**block, "input": {}}
            delta = {"type": "input_json_delta", "partial_json": json.dumps(block["input"])}
        start_block = {"type": "content_block_start", "index": index, "content_block": first}
        yield sse("content_block_start", start_block)
        yield sse("content_block_delta", {"type": "content_block_delta", "index": index,
                                          "delta": delta})  # fmt: skip
        yield sse("content_block_stop", {"type": "content_block_stop", "index": index})
    yield sse("message_delta", {
        "type": "message_delta",
        "delta": {"stop_reason": message["stop_reason"], "stop_sequence": None},
        "usage": {"output_tokens": message["usage"]["output_tokens"]},
    })  # fmt: skip
    yield sse("message_stop", {"type": "message_stop"})


def openai_completion(reply: Reply, model: str, msg_id: str) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": reply.text or None}
    if reply.tool_calls:
        message["tool_calls"] = [
            {"id": f"{msg_id}_t{n}", "type": "function",
             "function": {"name": c.name, "arguments": json.dumps(c.input)}}
            for n, c in enumerate(reply.tool_calls)
        ]  # fmt: skip
    return {
        "id": msg_id, "object": "chat.completion", "created": 0, "model": model,
        "choices": [{"index": 0, "message": message,
                     "finish_reason": "tool_calls" if reply.tool_calls else "stop"}],
        "usage": _openai_usage(reply),
    }  # fmt: skip


def _openai_usage(reply: Reply) -> dict[str, int]:
    return {
        "prompt_tokens": reply.input_tokens,
        "completion_tokens": reply.output_tokens,
        "total_tokens": reply.input_tokens + reply.output_tokens,
    }


def openai_chunks(completion: dict[str, Any]) -> Iterator[bytes]:
    """``data:`` chunks: the role, the text, each tool call, the finish, usage, ``[DONE]``."""
    choice = completion["choices"][0]
    head = {k: completion[k] for k in ("id", "created", "model")}
    head["object"] = "chat.completion.chunk"

    def chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
        return sse(None, {**head, "choices": [{"index": 0, "delta": delta,
                                               "finish_reason": finish}]})  # fmt: skip

    yield chunk({"role": "assistant", "content": ""})
    if choice["message"]["content"]:
        yield chunk({"content": choice["message"]["content"]})
    for n, call in enumerate(choice["message"].get("tool_calls", [])):
        yield chunk({"tool_calls": [{"index": n, **call}]})
    yield chunk({}, choice["finish_reason"])
    yield sse(None, {**head, "choices": [], "usage": completion["usage"]})
    yield sse(None, "[DONE]")


class ModelServer:
    """Serves ``script`` on 127.0.0.1 (a free port) while used as a context manager."""

    def __init__(self, script: Script) -> None:
        self.script = script
        self.requests: list[Recorded] = []
        self.turns: list[Turn] = []
        self.errors: list[str] = []  # exceptions the script raised (answered with a 500)
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> ModelServer:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def answer(self, api: str, body: dict[str, Any]) -> tuple[Turn, Reply, str]:
        reader = {"anthropic": anthropic_turn, "openai": openai_turn,
                  "responses": responses_turn, "gemini": gemini_turn}  # fmt: skip
        turn = reader[api](body)
        with self._lock:
            self.turns.append(turn)
            msg_id = f"msg_{next(self._ids):04d}"
        try:
            return turn, self.script(turn), msg_id
        except Exception as exc:  # a broken script must fail the test, not hang the agent
            self.errors.append(f"{type(exc).__name__}: {exc}")
            raise

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                raw = self.rfile.read(length)
                body = json.loads(raw) if raw else {}
                outer._record(self, body)
                try:
                    self._route(urlsplit(self.path).path, body)
                except Exception as exc:
                    self._json({"type": "error", "error": {"type": "api_error",
                                                           "message": str(exc)}}, 500)  # fmt: skip

            def _route(self, path: str, body: dict[str, Any]) -> None:
                if path.endswith("/messages/count_tokens"):
                    self._json({"input_tokens": 100})
                elif path.endswith("/messages"):
                    self._anthropic(body)
                elif path.endswith("/chat/completions"):
                    self._openai(body)
                elif ":streamGenerateContent" in path or ":generateContent" in path:
                    model = path.rsplit("/", 1)[-1].split(":")[0]
                    turn, reply, _ = outer.answer("gemini", {**body, "model": model})
                    answer = gemini_answer(reply, model)
                    if ":stream" in path:
                        self._stream(iter([sse(None, answer)]))
                    else:
                        self._json(answer)
                elif path.endswith(":countTokens"):
                    self._json({"totalTokens": 100})
                elif path.endswith("/responses"):
                    turn, reply, msg_id = outer.answer("responses", body)
                    self._stream(responses_events(reply, turn.model, msg_id))
                else:
                    self._json({"error": {"message": f"no such path {path}"}}, 404)

            def do_GET(self) -> None:  # model lists, health checks: nothing to offer
                outer._record(self, None)
                self._json({"data": [], "object": "list"})

            def do_HEAD(self) -> None:
                self.send_response(200)
                self.end_headers()

            def _anthropic(self, body: dict[str, Any]) -> None:
                turn, reply, msg_id = outer.answer("anthropic", body)
                message = anthropic_message(reply, turn.model, msg_id)
                if body.get("stream"):
                    self._stream(anthropic_events(message))
                else:
                    self._json(message)

            def _openai(self, body: dict[str, Any]) -> None:
                turn, reply, msg_id = outer.answer("openai", body)
                completion = openai_completion(reply, turn.model, msg_id)
                if body.get("stream"):
                    self._stream(openai_chunks(completion))
                else:
                    self._json(completion)

            def _stream(self, events: Iterator[bytes]) -> None:
                self.send_response(200)
                self.send_header("content-type", "text/event-stream")
                self.send_header("cache-control", "no-cache")
                self.end_headers()  # HTTP/1.0: the stream ends when the connection closes
                for event in events:
                    self.wfile.write(event)
                    self.wfile.flush()

            def _json(self, data: Any, status: int = 200) -> None:
                raw = json.dumps(data).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def log_message(self, *args: object) -> None:
                pass

        return Handler

    def _record(self, handler: BaseHTTPRequestHandler, body: Any) -> None:
        headers = {k.lower(): v for k, v in handler.headers.items()}
        with self._lock:
            self.requests.append(Recorded(handler.command, handler.path, headers, body))
