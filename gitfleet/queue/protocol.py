"""The queue daemon's wire format: one JSON object per line, each carrying ``"v"``.

Requests name an ``op``; the daemon answers each with ``{"v": 1, "ok": true, ...}`` or
``{"v": 1, "ok": false, "error": "..."}``. ``acquire`` may first answer
``{"queued": true, "ahead": N}`` and later ``{"granted": true, "token": T}`` on the same
connection. A peer speaking another version gets an error naming both versions, never a
guess. Standard library only: the pre-push hook imports this.

ops: ``hello``; ``acquire`` (keys, holder, lineage, push, timeout, label); ``release``
(token, holder, optional records: [[key, summary]...]); ``snapshot``; ``record`` (key,
summary); ``stop``; and the object questions of :mod:`gitfleet.queue.objects`
(``merge_base``, ``is_ancestor``, ``rebase``, each naming the repository). Ops added later
are optional extras: a daemon that does not know one answers ``unknown op`` and the client
does the work itself, so the version stays 1.
"""

from __future__ import annotations

import json
import socket
from typing import Any

from gitfleet.errors import GitfleetError

VERSION = 1
MAX_LINE = 1 << 20  # a request or answer longer than this is a bug or an attack


class ProtocolError(GitfleetError):
    """The other side of the queue socket said something we cannot understand."""


def encode(message: dict[str, Any]) -> bytes:
    return json.dumps({"v": VERSION, **message}, separators=(",", ":")).encode() + b"\n"


def decode(line: bytes) -> dict[str, Any]:
    try:
        message = json.loads(line)
    except ValueError as exc:
        raise ProtocolError(f"queue socket sent a line that is not JSON: {exc}") from None
    if not isinstance(message, dict):
        raise ProtocolError(f"queue socket sent {type(message).__name__}, not an object")
    version = message.get("v")
    if version != VERSION:
        raise ProtocolError(
            f"queue protocol version {version!r} spoken, this gitfleet speaks {VERSION}; "
            "an older or newer daemon is running: `gitfleet daemon stop`, then retry"
        )
    return message


class LineSocket:
    """A connected socket read and written one JSON line at a time."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self._buf = b""

    def send(self, message: dict[str, Any]) -> None:
        self.sock.sendall(encode(message))

    def recv(self) -> dict[str, Any] | None:
        """The next message, or None when the peer closed the connection."""
        while b"\n" not in self._buf:
            if len(self._buf) > MAX_LINE:
                raise ProtocolError("queue socket sent an over-long line")
            chunk = self.sock.recv(65536)
            if not chunk:
                return None
            self._buf += chunk
        line, _, self._buf = self._buf.partition(b"\n")
        return decode(line)

    def close(self) -> None:
        self.sock.close()
