"""A local server that speaks the Anthropic Messages API, for the real anthropic client.

Started per test on 127.0.0.1, it answers POST /v1/messages from a script of (status,
body) replies and records every request, so tests see exactly what was sent and how each
answer (good, malformed, an HTTP error) is handled. Used by the context engine's and the
synthesis claude rung's tests.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

KEY = "sk-ant-test-0123456789-secret"


class MessagesServer:
    """A scripted Messages API: each POST pops the next reply (the last one repeats)."""

    def __init__(self) -> None:
        self.replies: list[tuple[int, Any]] = []
        self.requests: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("content-length", "0"))
                body = json.loads(self.rfile.read(length) or b"{}")
                server.requests.append({"path": self.path, **body})
                server.headers.append({k.lower(): v for k, v in self.headers.items()})
                status, payload = (
                    server.replies.pop(0) if len(server.replies) > 1 else server.replies[0]
                )
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                if status == 429:
                    self.send_header("retry-after-ms", "1")
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: object) -> None:  # keep test output clean
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def reply_text(self, text: str, input_tokens: int = 100, output_tokens: int = 20) -> None:
        self.replies.append(
            (
                200,
                {
                    "id": f"msg_{len(self.replies)}",
                    "type": "message",
                    "role": "assistant",
                    "model": "claude-haiku-4-5",
                    "content": [{"type": "text", "text": text}],
                    "stop_reason": "end_turn",
                    "stop_sequence": None,
                    "usage": {"input_tokens": input_tokens, "output_tokens": output_tokens},
                },
            )
        )

    def reply_json(self, value: Any, **usage: int) -> None:
        self.reply_text(json.dumps(value), **usage)

    def reply_error(self, status: int, kind: str) -> None:
        self.replies.append((status, {"type": "error", "error": {"type": kind, "message": "nope"}}))


def serve(monkeypatch: pytest.MonkeyPatch) -> Iterator[MessagesServer]:
    """A running server the anthropic client is pointed at (with a key), shut down after;
    a test module's ``api`` fixture yields from it."""
    server = MessagesServer()
    server.thread.start()
    monkeypatch.setenv("ANTHROPIC_API_KEY", KEY)
    monkeypatch.setenv("ANTHROPIC_BASE_URL", server.url)
    yield server
    server.httpd.shutdown()
    server.httpd.server_close()
