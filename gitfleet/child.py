"""Child processes started cheaply: spawn, feed stdin, collect stdout and stderr, reap.

The layer under :func:`gitfleet.git.run` (which is how gitfleet runs git; nothing else
should call this). It exists because the commit hooks and ``ids allocate`` are a python
process per call, and importing subprocess (threading, selectors) and its per-call
machinery cost them more than the git calls themselves.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Mapping

_PROGRAMS: dict[tuple[str, str], str] = {}  # (name, PATH) -> absolute path found there


def _find_program(name: str, env: Mapping[str, str] | None) -> str:
    """``name`` looked up on the PATH of the environment it will run in, as subprocess does
    (posix_spawnp would use this process's PATH instead)."""
    path = (os.environ if env is None else env).get("PATH", os.defpath)
    found = _PROGRAMS.get((name, path))
    if found is not None:
        return found
    for folder in path.split(os.pathsep):
        candidate = os.path.join(folder or ".", name)
        if os.access(candidate, os.X_OK) and not os.path.isdir(candidate):
            if os.path.isabs(candidate):  # a relative entry depends on the current folder
                _PROGRAMS[(name, path)] = candidate
            return candidate
    raise FileNotFoundError(2, f"{name} is not on PATH; install it or fix PATH", name)


def collect(
    argv: list[str],
    cwd: str | os.PathLike[str] | None,
    input: bytes | None,
    env: Mapping[str, str] | None,
) -> tuple[int, bytes, bytes]:
    """Run ``argv``, feed it ``input``, collect stdout and stderr: subprocess.run's job.

    Done with posix_spawn and poll because the commit hooks and ``ids allocate`` are a
    python process per call: importing subprocess (threading, selectors) and its per-call
    machinery cost them more than the git calls themselves. What subprocess would do, this
    does too: stdin inherited when there is no input, no other descriptor passed on,
    SIGPIPE and SIGXFSZ back to their defaults, the child reaped whatever happens.
    """
    if not hasattr(os, "posix_spawn"):  # pragma: no cover - not a POSIX system
        import subprocess

        proc = subprocess.run(
            argv, cwd=cwd, input=input, env=None if env is None else dict(env), capture_output=True
        )
        return proc.returncode, proc.stdout, proc.stderr
    import signal

    if cwd is not None:  # posix_spawn cannot chdir; git's -C is the same as starting there
        argv = [argv[0], "-C", os.fspath(cwd), *argv[1:]]
    program = _find_program(argv[0], env)
    # os.pipe() descriptors are close-on-exec: the child keeps only the dup2'ed copies.
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    in_r, in_w = os.pipe() if input is not None else (-1, -1)
    actions: list[tuple[int, ...]] = [
        (os.POSIX_SPAWN_DUP2, out_w, 1),
        (os.POSIX_SPAWN_DUP2, err_w, 2),
    ]
    if input is not None:
        actions.append((os.POSIX_SPAWN_DUP2, in_r, 0))
    actions += [(os.POSIX_SPAWN_CLOSE, fd) for fd in _inherited_fds()]
    try:
        pid = os.posix_spawn(
            program,
            argv,
            os.environ if env is None else env,
            file_actions=actions,
            setsigdef=(signal.SIGPIPE, signal.SIGXFSZ),
        )
    except BaseException:
        _close(out_r, err_r, in_w)
        raise
    finally:
        _close(out_w, err_w, in_r)
    try:
        stdout, stderr = _communicate(out_r, err_r, in_w, input)
    except BaseException:
        _stop(pid)
        raise
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status), stdout, stderr


def _close(*fds: int) -> None:
    for fd in fds:
        if fd >= 0:
            os.close(fd)


def _inherited_fds() -> list[int]:
    """Descriptors above 2 a child would inherit: subprocess closes them (close_fds)."""
    for folder in ("/proc/self/fd", "/dev/fd"):
        try:
            names = os.listdir(folder)
        except OSError:
            continue
        found = []
        for name in names:
            fd = int(name)
            with contextlib.suppress(OSError):  # e.g. the listing's own, closed by now
                if fd > 2 and os.get_inheritable(fd):
                    found.append(fd)
        return found
    return []


def _communicate(out_r: int, err_r: int, in_w: int, input: bytes | None) -> tuple[bytes, bytes]:
    """Write ``input`` to ``in_w`` while reading both outputs to their end; closes all three."""
    import select

    chunks: dict[int, list[bytes]] = {out_r: [], err_r: []}
    poller = select.poll()
    poller.register(out_r, select.POLLIN)
    poller.register(err_r, select.POLLIN)
    pending = memoryview(input or b"")
    open_fds = {out_r, err_r}
    if in_w >= 0:
        if pending:
            os.set_blocking(in_w, False)
            poller.register(in_w, select.POLLOUT)
            open_fds.add(in_w)
        else:
            os.close(in_w)
    try:
        while open_fds:
            for fd, _event in poller.poll():
                if fd == in_w:
                    try:
                        pending = pending[os.write(fd, pending[: 1 << 16]) :]
                    except BlockingIOError:
                        continue
                    except BrokenPipeError:
                        pending = pending[:0]  # git stopped reading: its answer says why
                    if pending:
                        continue
                elif data := os.read(fd, 1 << 16):
                    chunks[fd].append(data)
                    continue
                poller.unregister(fd)
                os.close(fd)
                open_fds.discard(fd)
    finally:
        _close(*open_fds)
    return b"".join(chunks[out_r]), b"".join(chunks[err_r])


def _stop(pid: int) -> None:
    """Reap an interrupted git: a moment to exit on its own (a Ctrl-C reached it too, and
    it removes its lock files), then SIGKILL."""
    import signal
    import time

    deadline = time.monotonic() + 0.25
    while time.monotonic() < deadline:
        if os.waitpid(pid, os.WNOHANG)[0]:
            return
        time.sleep(0.01)
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
