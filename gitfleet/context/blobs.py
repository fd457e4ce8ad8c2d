"""Every blob of a tree, read in one stream while the caller works on the previous ones.

Indexing reads thousands of blobs. Through pygit2 each read inflates the blob in our own
process, between the parsing of one file and the next. One ``git cat-file --batch`` does
the inflating in a second process instead, running ahead of us through an enlarged pipe,
so on a machine with a spare core reading costs the indexer almost nothing (0.35 s -> 0.05
s of our time for 5,000 files here). This is the one bulk reader; single objects still go
through pygit2 (house style).
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
import threading
from collections.abc import Iterator, Sequence
from typing import IO

from gitfleet.errors import GitError
from gitfleet.git import no_git_env

# Linux lets an unprivileged process grow a pipe to 1 MiB (fs.pipe-max-size): that much
# git may inflate ahead of us. Elsewhere the default pipe size simply stays.
_PIPE_BYTES = 1 << 20
_F_SETPIPE_SZ = 1031


def _grow(pipe: IO[bytes] | None) -> None:
    if pipe is None or sys.platform != "linux":
        return
    import fcntl

    # Not Linux, or a lower limit: the default pipe works too, only slower.
    with contextlib.suppress(OSError):
        fcntl.fcntl(pipe.fileno(), _F_SETPIPE_SZ, _PIPE_BYTES)


def _feed(pipe: IO[bytes], oids: Sequence[str]) -> None:
    # From a thread: git answers while we still write, so writing every request before
    # reading the first answer would deadlock once both pipes fill.
    try:
        pipe.write("".join(f"{oid}\n" for oid in oids).encode("ascii"))
        pipe.close()
    except (BrokenPipeError, ValueError):  # git died or the reader stopped; it reports
        pass


def read_blobs(repo_path: str, oids: Sequence[str]) -> Iterator[bytes]:
    """The contents of ``oids`` (blobs of the repository at ``repo_path``), in order."""
    argv = ["git", "-C", repo_path, "cat-file", "--batch", "--buffer"]
    # Inside a hook git exports GIT_DIR & co., which would override -C.
    proc = subprocess.Popen(
        argv,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=no_git_env(),
    )
    assert proc.stdin is not None and proc.stdout is not None
    _grow(proc.stdout)
    feeder = threading.Thread(target=_feed, args=(proc.stdin, oids), daemon=True)
    feeder.start()
    out = proc.stdout
    try:
        for _ in oids:
            header = out.readline()
            fields = header.split()
            if len(fields) != 3 or fields[1] != b"blob":  # "<oid> missing", or git died
                stderr = _err(proc)
                stdout = header.decode("utf-8", "replace")
                raise GitError(argv, proc.returncode, stdout, stderr)
            data = out.read(int(fields[2]))
            out.read(1)  # the newline after each object
            yield data
    finally:
        out.close()
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        feeder.join()
        if proc.stderr is not None:
            proc.stderr.close()


def _err(proc: subprocess.Popen[bytes]) -> str:
    if proc.poll() is None:
        proc.kill()
        proc.wait()
    return proc.stderr.read().decode("utf-8", "replace") if proc.stderr is not None else ""
