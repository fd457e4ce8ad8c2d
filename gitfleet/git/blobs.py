"""Reading blobs in bulk through ``git cat-file --batch``."""

from __future__ import annotations

import contextlib
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator, Sequence
from typing import IO

from gitfleet.errors import GitError
from gitfleet.git import no_git_env


def batch_blobs(raw: bytes, oids: Sequence[str]) -> dict[str, bytes]:
    """Parse ``git cat-file --batch`` output for ``oids``, asked in that order.

    Each blob's contents by oid; what git reported missing, or is not a blob, is left out.
    """
    found: dict[str, bytes] = {}
    at = 0
    for oid in oids:
        eol = raw.index(b"\n", at)
        header = raw[at:eol].split()
        at = eol + 1
        if len(header) != 3:  # "<oid> missing": no contents follow
            continue
        size = int(header[2])
        if header[1] == b"blob":
            found[oid] = raw[at : at + size]
        at += size + 1  # the contents, then a newline
    return found


# Linux lets an unprivileged process grow a pipe to 1 MiB (fs.pipe-max-size): that much
# git may inflate ahead of a streaming reader. Elsewhere the default pipe size stays.
_PIPE_BYTES = 1 << 20
_F_SETPIPE_SZ = 1031


def stream_blobs(cwd: str, oids: Sequence[str]) -> Iterator[bytes]:
    """The contents of the blobs ``oids``, in order, read while the caller works.

    For bulk reads (the context index reads thousands of blobs): one ``git cat-file
    --batch`` inflates them in its own process, running ahead of us through an enlarged
    pipe, so on a machine with a spare core reading costs the reader almost nothing. A
    missing object, or anything not a blob, raises GitError. Repo-binding variables are
    dropped: inside a hook they would override ``-C``.
    """
    argv = ["git", "-C", cwd, "cat-file", "--batch", "--buffer"]
    # stderr to a file, not a pipe: nobody reads it while the blobs stream, and a full pipe
    # would stall git.
    with tempfile.TemporaryFile() as errors:
        proc = subprocess.Popen(
            argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=errors, env=no_git_env()
        )
        assert proc.stdin is not None and proc.stdout is not None
        if sys.platform == "linux":
            import fcntl  # Linux only

            with contextlib.suppress(OSError):  # a lower limit: the default pipe works too
                fcntl.fcntl(proc.stdout.fileno(), _F_SETPIPE_SZ, _PIPE_BYTES)

        def feed(pipe: IO[bytes]) -> None:
            # From a thread: git answers while we still write, so writing every request before
            # reading the first answer would deadlock once both pipes fill.
            with contextlib.suppress(BrokenPipeError, ValueError):  # git died: it reports
                pipe.write("".join(f"{oid}\n" for oid in oids).encode("ascii"))
                pipe.close()

        feeder = threading.Thread(target=feed, args=(proc.stdin,), daemon=True)
        feeder.start()
        out = proc.stdout
        try:
            for _ in oids:
                header = out.readline()
                fields = header.split()
                if len(fields) != 3 or fields[1] != b"blob":  # "<oid> missing", or git died
                    if proc.poll() is None:
                        proc.kill()
                    proc.wait()
                    errors.seek(0)
                    stderr = errors.read().decode("utf-8", "replace")
                    raise GitError(argv, proc.returncode, header.decode("utf-8", "replace"), stderr)
                data = out.read(int(fields[2]))
                out.read(1)  # the newline after each object
                yield data
        finally:
            out.close()
            if proc.poll() is None:
                proc.kill()
            proc.wait()
            feeder.join()
