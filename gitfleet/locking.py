"""An exclusive inter-process lock on a file, and atomic file writes.

On POSIX this is ``fcntl.flock``, which is what portalocker itself uses there; we call it
directly on the hot paths because ``import portalocker`` costs ~80 ms (its ``__about__``
loads importlib.metadata), more than the whole budget of a commit hook or one allocation.
Elsewhere portalocker provides the same lock. The kernel drops a flock when its holder dies,
even by SIGKILL, so a killed allocator can never wedge the ledger.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def exclusive(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``path`` (created if missing) for the ``with`` block."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            import fcntl
        except ImportError:  # pragma: no cover - non-POSIX
            import portalocker

            with portalocker.Lock(str(path), mode="a", flags=portalocker.LOCK_EX):
                yield
            return
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def atomic_write(path: Path, data: str | bytes, mode: int = 0o644, durable: bool = True) -> None:
    """Replace ``path`` with ``data`` so a reader sees the old or the new file, never half.

    ``durable=False`` skips the fsync: for caches, where losing the write to a power cut
    costs only a recomputation, and an fsync would cost more than the work it saves.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    raw = data.encode("utf-8") if isinstance(data, str) else data
    # A fresh name next to the target (same file system, so the rename is atomic), made
    # with O_EXCL as tempfile.mkstemp does; tempfile itself (random, shutil, weakref) costs
    # the commit hook, which writes its caches here, more than the write.
    while True:
        tmp = str(path.parent / f".{path.name}.{os.getpid()}.{os.urandom(6).hex()}.tmp")
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            break
        except FileExistsError:
            continue
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(raw)
            handle.flush()
            if durable:
                os.fsync(handle.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
