"""The queue daemon: one per repository, on a Unix socket, serving every linked worktree.

Started on demand by the client (``gitfleet.queue.client``) as ``python -m
gitfleet.queue.daemon STATE_DIR [IDLE [LOCK_FD]]``; ``gitfleet daemon start|stop|status``
drive it by hand. A daemon holds an exclusive flock on ``daemon.lock`` for its whole life
(the client that starts one takes the lock first and hands it over as LOCK_FD, so racing
clients start one daemon, not one each), so a second start is a no-op and a SIGKILLed
daemon's lock vanishes with it. Its leases are persisted to
``queue.json`` on every change, so a daemon started after a crash keeps the grants whose
holders still live (they are mid-push and will release), and clients waiting in the dead
one's queue reconnect and queue again.

Besides leases it answers object questions for the pushes it serves (merge bases, in-memory
rebases: :mod:`gitfleet.queue.objects`), with pygit2 imported once, in the background, as
it starts, and it passes on each ref's last known tip from one holder to the next.

Threads: one per connection, one reaper that ends leases whose holders died or timed out.
All state sits behind one condition variable. Only processes of our own uid may connect
(``SO_PEERCRED``; the socket is also mode 0600, in a 0700 folder when it falls back).
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import signal
import socket
import struct
import sys
import threading
import time
import traceback
from pathlib import Path
from typing import Any

from gitfleet.errors import GitfleetError
from gitfleet.git import rebase
from gitfleet.locking import atomic_write
from gitfleet.queue import objects, procs
from gitfleet.queue.files import DaemonFiles, daemon_files
from gitfleet.queue.leases import Key, Table
from gitfleet.queue.procs import Proc
from gitfleet.queue.protocol import VERSION, LineSocket, ProtocolError

REAP_EVERY = 0.05  # seconds between checks that holders still live
DEFAULT_IDLE = 60.0
DEFAULT_LEASE_TIMEOUT = 600.0


def peer_uid(sock: socket.socket) -> int | None:
    """The uid of the process at the other end of a Unix socket (None: cannot tell)."""
    if hasattr(socket, "SO_PEERCRED"):
        raw = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
        return int(struct.unpack("3i", raw)[1])
    getpeereid = getattr(os, "getpeereid", None)  # not in the stdlib; BSD-only fallbacks
    return int(getpeereid(sock.fileno())[0]) if getpeereid else None


def peer_allowed(peer: int | None, allowed: int) -> bool:
    """Only our own user may queue pushes: another user could hold our leases forever."""
    return peer is not None and peer == allowed


class Daemon:
    def __init__(
        self,
        files: DaemonFiles,
        *,
        idle: float = DEFAULT_IDLE,
        allowed_uid: int | None = None,
    ) -> None:
        self.files = files
        self.idle = idle
        self.allowed_uid = os.getuid() if allowed_uid is None else allowed_uid
        self.cond = threading.Condition()
        self.table = Table(alive=procs.alive)
        self.stopping = threading.Event()
        self.connections = 0
        self.last_activity = time.monotonic()
        self.server: socket.socket | None = None
        self.started = time.time()

    # --- life -----------------------------------------------------------------------

    def bind(self) -> None:
        """Load the persisted state and listen (the caller holds the daemon lock)."""
        self._load()
        path = self.files.socket
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)  # a dead daemon's socket: we hold the lock, so it is not live
        server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        old = os.umask(0o177)
        try:
            server.bind(str(path))
        finally:
            os.umask(old)
        server.listen(64)
        server.settimeout(0.2)
        self.server = server

    def serve_forever(self) -> None:
        assert self.server is not None
        reaper = threading.Thread(target=self._reap_loop, name="reaper", daemon=True)
        reaper.start()
        try:
            while not self.stopping.is_set():
                try:
                    conn, _ = self.server.accept()
                except TimeoutError:
                    if self._idle_for() > self.idle:
                        break
                    continue
                except OSError:
                    if self.stopping.is_set():
                        break
                    raise
                conn.settimeout(None)
                # Answers are sent under the table's lock: a client that stops reading must
                # not stall every other one, so a send gives up after a while.
                conn.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, struct.pack("ll", 5, 0))
                with self.cond:
                    self.connections += 1
                threading.Thread(target=self._serve_conn, args=(conn,), daemon=True).start()
        finally:
            self.stopping.set()
            self._close()

    def _idle_for(self) -> float:
        with self.cond:
            if self.connections or self.table.busy():
                self.last_activity = time.monotonic()
                return 0.0
            return time.monotonic() - self.last_activity

    def _close(self) -> None:
        if self.server is not None:
            self.server.close()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.files.socket)
        with contextlib.suppress(FileNotFoundError, ValueError, OSError):
            if int(self.files.pidfile.read_text().strip() or 0) == os.getpid():
                self.files.pidfile.unlink()

    # --- state ----------------------------------------------------------------------

    def _load(self) -> None:
        try:
            data = json.loads(self.files.statefile.read_text("utf-8"))
        except FileNotFoundError:
            return
        except (OSError, ValueError) as exc:
            log(f"ignoring unreadable {self.files.statefile}: {exc}")
            return
        try:
            self.table.load(data)
        except (KeyError, TypeError, ValueError) as exc:
            log(f"ignoring malformed {self.files.statefile}: {exc}")

    def _persist(self) -> None:
        # Not fsynced: a power cut also ends every holder, so the grants would be void.
        data = json.dumps(self.table.to_json(), indent=1)
        atomic_write(self.files.statefile, data, mode=0o600, durable=False)

    def _reap_loop(self) -> None:
        while not self.stopping.wait(REAP_EVERY):
            with self.cond:
                if not self.table.busy():
                    continue
                if self.table.reap():
                    self._persist()
                    self.cond.notify_all()

    # --- connections ----------------------------------------------------------------

    def _serve_conn(self, conn: socket.socket) -> None:
        line = LineSocket(conn)
        try:
            peer = peer_uid(conn)
            if not peer_allowed(peer, self.allowed_uid):
                # Read its first request before answering, so that the refusal is what it
                # reads (closing on unread data would reset the connection instead).
                conn.settimeout(2.0)
                with contextlib.suppress(OSError, ProtocolError):
                    line.recv()
                line.send({"ok": False, "error": f"uid {peer} may not use this queue"})
                return
            while (message := line.recv()) is not None:
                if not self._handle(line, message):
                    break
        except ProtocolError as exc:
            with contextlib.suppress(OSError):
                line.send({"ok": False, "error": str(exc)})
        except OSError:
            pass  # the client went away; its leases end with its process
        except Exception as exc:  # a bug: log it, answer, and keep serving the others
            log(traceback.format_exc())
            with contextlib.suppress(OSError):
                line.send({"ok": False, "error": f"internal error in the daemon: {exc!r}"})
        finally:
            line.close()
            with self.cond:
                self.connections -= 1
                self.last_activity = time.monotonic()

    def _handle(self, line: LineSocket, msg: dict[str, Any]) -> bool:
        op = msg.get("op")
        if op == "hello":
            line.send({"ok": True, "pid": os.getpid(), "protocol": VERSION})
        elif op == "acquire":
            return self._acquire(line, msg)
        elif op in objects.OPS:
            # Outside the table's lock: a rebase for one ref must not hold up the queues.
            line.send(objects.answer(msg))
        elif op == "release":
            with self.cond:
                holder = Proc.from_json(msg["holder"]) if msg.get("holder") else None
                tips = msg.get("tips")
                tips = {str(k): str(v) for k, v in tips.items()} if isinstance(tips, dict) else None
                ended = self.table.release(int(msg["token"]), holder, tips)
                # The push's outcomes ride on its release: one round trip, not a connection.
                for key, summary in msg.get("records", []):
                    self.table.record((str(key[0]), str(key[1])), dict(summary))
                self._persist()
                self.cond.notify_all()
            line.send({"ok": True, "ended": ended})
        elif op == "snapshot":
            with self.cond:
                queues = self.table.snapshot()
            line.send({"ok": True, "daemon": self.status(), "queues": queues})
        elif op == "record":
            with self.cond:
                key = msg["key"]
                self.table.record((str(key[0]), str(key[1])), dict(msg["summary"]))
                self._persist()
            line.send({"ok": True})
        elif op == "stop":
            line.send({"ok": True, "pid": os.getpid()})
            self.stop()
            return False
        else:
            line.send({"ok": False, "error": f"unknown op {op!r}"})
        return True

    def status(self) -> dict[str, Any]:
        return {
            "pid": os.getpid(),
            "socket": str(self.files.socket),
            "started": self.started,
            "protocol": VERSION,
            "leases": len({id(x) for x in self.table.owner.values()}),
            "waiting": sum(len(q) for q in self.table.queues.values()),
        }

    def _acquire(self, line: LineSocket, msg: dict[str, Any]) -> bool:
        keys: list[Key] = [(str(k[0]), str(k[1])) for k in msg["keys"]]
        holder = Proc.from_json(msg["holder"])
        lineage = [Proc.from_json(p) for p in msg.get("lineage", [])]
        push = Proc.from_json(msg["push"]) if msg.get("push") else None
        timeout = float(msg.get("timeout") or DEFAULT_LEASE_TIMEOUT)
        with self.cond:
            lease, joined = self.table.request(
                keys, holder, lineage, push, timeout, str(msg.get("label", ""))
            )
            if lease.state == "waiting":
                ahead = self.table.ahead_of(lease)
                line.send({"ok": True, "queued": True, "ahead": ahead})
            while lease.state == "waiting":
                self.cond.wait(0.25)
                if lease.state == "waiting" and _peer_gone(line.sock):
                    self.table.cancel(lease, "client disconnected")
                    self.cond.notify_all()
                    return False
            if lease.state == "ended":
                line.send({"ok": False, "error": f"lease request dropped: {lease.ended_why}"})
                return True
            self._persist()
            reply = {
                "ok": True,
                "granted": True,
                "token": lease.token,
                "joined": joined,
                "tips": self.table.tips_for(lease),
            }
            try:
                line.send(reply)
            except OSError:
                if not joined:  # nobody will ever use or release this grant
                    self.table.release(lease.token or 0, holder)
                    self.cond.notify_all()
                raise
        return True

    def stop(self) -> None:
        self.stopping.set()
        if self.server is not None:
            with contextlib.suppress(OSError):
                self.server.shutdown(socket.SHUT_RDWR)


def _peer_gone(sock: socket.socket) -> bool:
    """Whether the client closed its end (readable with nothing to read)."""
    try:
        ready, _, _ = select.select([sock], [], [], 0)
        if not ready:
            return False
        return sock.recv(1, socket.MSG_PEEK) == b""
    except OSError:
        return True


def _preload_pygit2() -> None:
    """Import pygit2 in the background: the first push to be rebased need not wait for it."""

    def load() -> None:
        with contextlib.suppress(Exception):  # a real failure resurfaces at the real import
            rebase.preload()

    threading.Thread(target=load, name="preload-pygit2", daemon=True).start()


def log(text: str) -> None:
    print(f"{time.strftime('%Y-%m-%d %H:%M:%S')} [{os.getpid()}] {text}", file=sys.stderr)


def run(state_dir: Path, idle: float = DEFAULT_IDLE, lock_fd: int | None = None) -> int:
    """Serve ``state_dir``'s queue until idle; 0 at once when another daemon already does.

    ``lock_fd``: the daemon lock, already taken by the client that started us and
    inherited (taking it again on the same open file succeeds at once).
    """
    import fcntl

    files = daemon_files(state_dir)
    files.state_dir.mkdir(parents=True, exist_ok=True)
    if lock_fd is None:
        lock_fd = os.open(files.lockfile, os.O_RDWR | os.O_CREAT, 0o600)
    os.set_inheritable(lock_fd, False)  # a git we start must not keep the lock after us
    try:
        try:
            fcntl.flock(lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return 0  # a daemon is running: starting a second one is a no-op
        daemon = Daemon(files, idle=idle)
        atomic_write(files.pidfile, f"{os.getpid()}\n", mode=0o600, durable=False)
        daemon.bind()
        signal.signal(signal.SIGTERM, lambda *_: daemon.stop())
        signal.signal(signal.SIGINT, lambda *_: daemon.stop())
        _preload_pygit2()
        log(f"serving {files.socket} (idle exit after {idle:g}s)")
        daemon.serve_forever()
        log("stopped")
        return 0
    finally:
        os.close(lock_fd)


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0].startswith("-"):
        print(
            "usage: python -m gitfleet.queue.daemon STATE_DIR [IDLE_SECONDS [LOCK_FD]]",
            file=sys.stderr,
        )
        return 2
    idle = float(args[1]) if len(args) > 1 else DEFAULT_IDLE
    lock_fd = int(args[2]) if len(args) > 2 else None
    try:
        return run(Path(args[0]), idle, lock_fd)
    except GitfleetError as exc:
        log(str(exc))
        return 1


if __name__ == "__main__":
    sys.exit(main())
