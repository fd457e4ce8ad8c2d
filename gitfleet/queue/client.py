"""The queue client: take and release push leases, starting the daemon when needed.

Everything that pushes (the remote helper, the pre-push hook, ``gitfleet land``) goes
through :func:`lease` with the same key, ``(normalize_remote(url), full ref)``, so they
queue in one line whatever spelling of the URL they were given. The daemon is started on
demand; when it dies mid-wait, the waiting client starts a new one and queues again, so no
client waits on a daemon that is gone. Standard library only (the pre-push hook imports it).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from gitfleet import config
from gitfleet.errors import GitfleetError
from gitfleet.git import no_git_env
from gitfleet.git.remote import unrouted
from gitfleet.git.repo import Repo
from gitfleet.queue import procs
from gitfleet.queue.files import DaemonFiles, daemon_files
from gitfleet.queue.procs import Proc
from gitfleet.queue.protocol import LineSocket, ProtocolError

START_WAIT = 30.0  # seconds a client waits for a daemon it started to listen


class Grant:
    """A granted lease: pushes to ``refs`` of ``remote`` are ours until released.

    A plain class, not a dataclass: the helper imports this module on every push.
    """

    __slots__ = ("conn", "holder", "joined", "refs", "remote", "tips", "token")

    def __init__(
        self,
        token: int,
        remote: str,
        refs: tuple[str, ...],
        holder: Proc,
        joined: bool,
        conn: LineSocket | None = None,
        tips: dict[str, str] | None = None,
    ) -> None:
        self.token = token  # fencing token, strictly increasing (across daemon restarts too)
        self.remote = remote  # normalized remote URL
        self.refs = refs
        self.holder = holder
        self.joined = joined  # True when this request joined a lease its push already held
        # The connection the grant came on, kept to release over it (one round trip less
        # between one push and the next) and to ask the daemon object questions.
        self.conn = conn
        # ref -> the value the previous holder saw on the remote as it let go: a hint only
        # (a push outside the queue may have moved the ref since), for compare-and-swaps.
        self.tips = tips or {}

    def __repr__(self) -> str:
        return f"Grant(token={self.token}, remote={self.remote!r}, refs={self.refs!r})"


# --- keys ------------------------------------------------------------------------------


_SCP_LIKE = re.compile(r"^(?:(?P<user>[^@/]+)@)?(?P<host>[^:/]+):(?P<path>.*)$")


def normalize_remote(url: str) -> str:
    """One spelling per remote: routed or not, scp-like or ssh://, trailing ``.git`` or not."""
    url = url.strip()
    url = unrouted(url)
    if "://" in url:
        scheme, _, rest = url.partition("://")
        scheme = scheme.lower()
        if scheme == "file":
            return _local(rest)
        netloc, _, path = rest.partition("/")
        user, at, host = netloc.rpartition("@")
        # Keep the user name, never a password or token: this key is stored and shown.
        netloc = f"{user.split(':', 1)[0]}{at}{host.lower()}"
        return f"{scheme}://{netloc}/{_trim(path)}"
    match = _SCP_LIKE.match(url)
    if match and not os.path.exists(url):
        user = f"{match['user']}@" if match["user"] else ""
        return f"ssh://{user}{match['host'].lower()}/{_trim(match['path'])}"
    return _local(url)


def _local(path: str) -> str:
    return _trim(os.path.realpath(os.path.expanduser(path)))


def _trim(path: str) -> str:
    path = path.rstrip("/")
    for suffix in ("/.git", ".git"):
        if path.endswith(suffix) and len(path) > len(suffix):
            path = path[: -len(suffix)]
    return path


def full_ref(ref: str) -> str:
    return ref if ref.startswith("refs/") else f"refs/heads/{ref}"


# --- settings --------------------------------------------------------------------------


def _settings(repo: Repo) -> tuple[float, float]:
    """(lease timeout, daemon idle exit) from gitfleet.toml, defaults when absent."""
    cfg = config.load(repo.toplevel)
    return cfg.lease_timeout, cfg.daemon_idle


# --- the daemon ------------------------------------------------------------------------


def files_of(repo: Repo) -> DaemonFiles:
    return daemon_files(repo.state_dir)


def unix_socket() -> socket.socket:
    """A Unix stream socket (the daemon's transport)."""
    return socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)


def _connect_once(files: DaemonFiles) -> LineSocket | None:
    sock = unix_socket()
    try:
        sock.connect(str(files.socket))
    except (FileNotFoundError, ConnectionRefusedError):
        sock.close()
        return None
    line = LineSocket(sock)
    try:
        line.send({"op": "hello"})
        answer = line.recv()
    except OSError:
        line.close()
        return None
    if answer is None:
        line.close()
        return None
    if not answer.get("ok"):
        line.close()
        raise GitfleetError(f"the queue daemon at {files.socket} refused us: {answer.get('error')}")
    return line


def _spawn(files: DaemonFiles, idle: float, lock_fd: int) -> subprocess.Popen[bytes]:
    """Start a daemon that inherits ``lock_fd``, the daemon lock this client just took."""

    root = str(Path(__file__).resolve().parents[2])
    env = no_git_env()
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
    argv = [sys.executable, "-m", "gitfleet.queue.daemon", str(files.state_dir), f"{idle:g}"]
    with open(files.log, "ab") as log:
        return subprocess.Popen(
            [*argv, str(lock_fd)],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            cwd="/",
            env=env,
            pass_fds=(lock_fd,),
            start_new_session=True,  # a Ctrl-C of the push must not take the daemon with it
        )


def connect(repo: Repo, *, start: bool = True) -> LineSocket | None:
    """A connection to the repository's daemon, starting one when ``start`` and none runs.

    Only the client that takes the daemon lock starts a daemon, and hands it the lock (an
    inherited descriptor of the same open file keeps the flock): nine pushes racing to a
    stopped daemon used to start nine python processes, eight of which only found the
    lock taken, and on a busy machine that cost the race more than the pushes themselves.
    The others wait for the socket, and take their turn at the lock if the daemon that
    holds it exits instead (an idle exit under way).
    """
    files = files_of(repo)
    line = _connect_once(files)
    if line is not None or not start:
        return line
    files.state_dir.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + START_WAIT
    child: subprocess.Popen[bytes] | None = None
    while time.monotonic() < deadline:
        line = _connect_once(files)
        if line is not None:
            return line
        if child is not None and (code := child.poll()) is not None:
            if code != 0:
                raise GitfleetError(
                    f"the queue daemon failed to start (exit {code}); see {files.log}, then "
                    "`gitfleet daemon start` to retry"
                )
            child = None  # it stood down: another daemon holds the lock after all
        if child is None:
            lock_fd = _take_lock(files)
            if lock_fd is not None:
                try:
                    child = _spawn(files, _settings(repo)[1], lock_fd)
                finally:
                    os.close(lock_fd)  # the daemon's inherited copy holds the lock now
        time.sleep(0.01)
    raise GitfleetError(
        f"the queue daemon did not answer on {files.socket} within {START_WAIT:g}s; "
        f"see {files.log}, then `gitfleet daemon stop` and retry the push"
    )


def prestart(repo: Repo) -> None:
    """Start the daemon now if none runs, without waiting for it to listen.

    The helper calls this first thing: the daemon's start (a python process) then overlaps
    with the helper's own start-up instead of following it. :func:`connect` waits later.
    """
    files = files_of(repo)
    if files.socket.exists():
        return  # one runs (a stale socket of a dead daemon: connect() starts another)
    try:
        files.state_dir.mkdir(parents=True, exist_ok=True)
        lock_fd = _take_lock(files)
    except OSError:
        return  # connect() will say what is wrong
    if lock_fd is not None:
        try:
            _spawn(files, _settings(repo)[1], lock_fd)
        finally:
            os.close(lock_fd)


def _take_lock(files: DaemonFiles) -> int | None:
    """The daemon lock, taken (a descriptor to hand to a new daemon), or None when held."""
    import fcntl

    fd = os.open(files.lockfile, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    except BaseException:
        os.close(fd)
        raise
    return fd


def _lock_free(files: DaemonFiles) -> bool:
    fd = _take_lock(files)
    if fd is None:
        return False
    os.close(fd)  # closing the only descriptor of this open file drops the flock
    return True


def _ask(repo: Repo, message: dict[str, Any], *, start: bool = True) -> dict[str, Any] | None:
    """One request, one answer (None when no daemon runs and ``start`` is False)."""
    for _ in range(3):  # a daemon exiting on idle just as we connect: try a fresh one
        line = connect(repo, start=start)
        if line is None:
            return None
        try:
            line.send(message)
            answer = line.recv()
        except OSError:
            answer = None
        finally:
            line.close()
        if answer is not None:
            if not answer.get("ok"):
                raise GitfleetError(f"queue daemon: {answer.get('error')}")
            return answer
    raise GitfleetError(
        "the queue daemon keeps closing the connection; see `gitfleet daemon status`"
    )


# --- leases ----------------------------------------------------------------------------


def acquire(
    repo: Repo,
    remote_url: str,
    refs: Sequence[str],
    *,
    holder_pid: int | None = None,
    timeout: float | None = None,
    label: str | None = None,
    on_wait: Callable[[int], None] | None = None,
) -> Grant:
    """Block until ``refs`` of ``remote_url`` are leased to ``holder_pid`` (default: us).

    The lease ends when :func:`release` is called or the holder process exits, or after
    ``timeout`` seconds (default ``[daemon] lease_timeout``). ``on_wait(ahead)`` is called
    when the request has to queue.
    """
    remote = normalize_remote(remote_url)
    wanted = tuple(sorted({full_ref(r) for r in refs}))
    holder = procs.identify(os.getpid() if holder_pid is None else holder_pid)
    if holder is None:
        raise GitfleetError(f"process {holder_pid} is gone; it cannot hold a push lease")
    chain = procs.lineage()
    push = procs.find_push(chain)
    # Reentrancy reaches up to the process that ran our `git push`, no further: an
    # orchestrator holding a lease must not let the pushes of agents it started (its
    # descendants too) jump the queue.
    reach = chain.index(push[0]) + 2 if push else 1
    request = {
        "op": "acquire",
        "keys": [[remote, ref] for ref in wanted],
        "holder": holder.to_json(),
        "lineage": [p.to_json() for p in chain[:reach]],
        "push": push[0].to_json() if push else None,
        "timeout": timeout if timeout is not None else _settings(repo)[0],
        "label": label or f"pid {holder.pid} in {repo.toplevel}",
    }
    while True:
        line = connect(repo)
        assert line is not None
        try:
            grant = _wait_for_grant(line, request, on_wait)
            if grant is not None:
                token, joined, hints = grant
                tips = {r: o for r, o in hints.items() if r in wanted}
                return Grant(token, remote, wanted, holder, joined, line, tips)
        except (OSError, ProtocolError):
            pass
        line.close()
        # The daemon died while we waited (or was stopped): start another and queue again.
        time.sleep(0.05)


def _wait_for_grant(
    line: LineSocket, request: dict[str, Any], on_wait: Callable[[int], None] | None
) -> tuple[int, bool, dict[str, str]] | None:
    """Send ``request`` and read answers until the grant: (token, joined, tip hints), or
    None when the daemon went away first."""
    line.send(request)
    while (answer := line.recv()) is not None:
        if not answer.get("ok"):
            line.close()
            raise GitfleetError(f"queue daemon refused the lease: {answer.get('error')}")
        if answer.get("queued") and on_wait is not None:
            on_wait(int(answer.get("ahead", 0)))
        if answer.get("granted"):
            hints = answer.get("tips")  # an older daemon sends none
            tips = {str(r): str(o) for r, o in hints.items()} if isinstance(hints, dict) else {}
            return int(answer["token"]), bool(answer.get("joined")), tips
    return None


def release(
    repo: Repo,
    grant: Grant,
    records: Sequence[tuple[str, dict[str, Any]]] = (),
    tips: dict[str, str] | None = None,
) -> None:
    """Let go of ``grant`` (best effort: it also ends when its holder exits).

    ``records``: ``(ref, summary)`` outcomes for ``gitfleet queue``, sent with the release.
    ``tips``: ref -> the value the remote holds now, as far as this holder knows (the next
    holder's hint); a ref left out is forgotten.
    """
    message: dict[str, Any] = {
        "op": "release",
        "token": grant.token,
        "holder": grant.holder.to_json(),
    }
    if records:
        message["records"] = [[[grant.remote, full_ref(ref)], dict(s)] for ref, s in records]
    if tips:
        message["tips"] = {full_ref(ref): oid for ref, oid in tips.items()}
    if grant.conn is not None:
        conn = grant.conn
        grant.conn = None  # released once, whatever happens next
        try:
            conn.send(message)
            answer = conn.recv()
            if answer is not None and answer.get("ok"):
                return
        except (OSError, ProtocolError):
            pass  # the daemon went away; a new one may have our grant from its state file
        finally:
            conn.close()
    with contextlib.suppress(GitfleetError, OSError):
        _ask(repo, message)


@contextlib.contextmanager
def lease(
    repo: Repo,
    remote_url: str,
    refs: Sequence[str],
    *,
    holder_pid: int | None = None,
    timeout: float | None = None,
    label: str | None = None,
    on_wait: Callable[[int], None] | None = None,
) -> Iterator[Grant]:
    """Hold the push lease for ``refs`` of ``remote_url`` for the ``with`` block."""
    grant = acquire(
        repo, remote_url, refs, holder_pid=holder_pid, timeout=timeout, label=label,
        on_wait=on_wait,
    )  # fmt: skip
    try:
        yield grant
    finally:
        release(repo, grant)


# --- views -----------------------------------------------------------------------------


def snapshot(repo: Repo) -> dict[str, Any]:
    """Per (remote, ref): the holder, the waiting requests, recent results.

    Does not start a daemon: without one, the last persisted results are shown.
    """
    answer = _ask(repo, {"op": "snapshot"}, start=False)
    if answer is not None:
        return {"daemon": answer["daemon"], "queues": answer["queues"]}
    queues: list[dict[str, Any]] = []
    try:
        data = json.loads(files_of(repo).statefile.read_text("utf-8"))
        for key, recent in data.get("results", []):
            queues.append(
                {"remote": key[0], "ref": key[1], "holder": None, "waiting": [], "recent": recent}
            )
    except (OSError, ValueError, TypeError, KeyError, IndexError):
        pass
    return {"daemon": None, "queues": queues}


def record_result(repo: Repo, remote_url: str, ref: str, summary: dict[str, Any]) -> None:
    """Remember the outcome of a push or landing for ``gitfleet queue`` (best effort)."""
    message = {
        "op": "record",
        "key": [normalize_remote(remote_url), full_ref(ref)],
        "summary": summary,
    }
    with contextlib.suppress(GitfleetError, OSError):
        _ask(repo, message)


def status(repo: Repo) -> dict[str, Any] | None:
    """The running daemon's status, or None when none runs."""
    answer = _ask(repo, {"op": "snapshot"}, start=False)
    return None if answer is None else dict(answer["daemon"])


def ensure_daemon(repo: Repo) -> dict[str, Any]:
    """Start the daemon unless one runs; its status either way."""
    line = connect(repo, start=True)
    assert line is not None
    line.close()
    found = status(repo)
    if found is None:
        raise GitfleetError("the queue daemon started and exited at once; see its log")
    return found


def stop_daemon(repo: Repo, wait: float = 10.0) -> int | None:
    """Ask the daemon to stop and wait for it to exit; its pid, or None when none ran."""
    answer = _ask(repo, {"op": "stop"}, start=False)
    if answer is None:
        return None
    pid = int(answer["pid"])
    deadline = time.monotonic() + wait
    files = files_of(repo)
    while time.monotonic() < deadline and not _lock_free(files):
        time.sleep(0.02)
    return pid
