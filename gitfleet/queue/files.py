"""Where a repository's queue daemon keeps its socket, pid file, lock, state and log.

All of it lives in the state dir (``<common dir>/gitfleet``, shared by every linked
worktree, or ``$GITFLEET_STATE_DIR``), except the socket when that path is too long for
``sun_path`` (108 bytes on Linux, 104 on macOS, including the NUL): then it goes into a
private folder (mode 0700, owned by us) under ``$XDG_RUNTIME_DIR`` or the temp dir, named
by a hash of the state dir so that every client computes the same path.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import stat
import tempfile
from pathlib import Path
from typing import NamedTuple

from gitfleet.errors import GitfleetError

SUN_PATH_MAX = 104  # the smaller of Linux's 108 and macOS's 104, less nothing: bytes + NUL fit


class DaemonFiles(NamedTuple):
    state_dir: Path
    socket: Path
    pidfile: Path
    lockfile: Path
    statefile: Path
    log: Path
    tokens: Path


def daemon_files(state_dir: Path) -> DaemonFiles:
    state_dir = Path(os.path.abspath(state_dir))
    return DaemonFiles(
        state_dir=state_dir,
        socket=socket_path(state_dir),
        pidfile=state_dir / "daemon.pid",
        lockfile=state_dir / "daemon.lock",
        statefile=state_dir / "queue.json",
        log=state_dir / "daemon.log",
        tokens=state_dir / "tokens",
    )


def socket_path(state_dir: Path) -> Path:
    """The socket under the state dir, or in the private fallback folder when too long."""
    preferred = state_dir / "queue.sock"
    if len(os.fsencode(preferred)) < SUN_PATH_MAX:
        return preferred

    digest = hashlib.sha256(os.fsencode(state_dir)).hexdigest()[:20]
    path = private_folder() / f"{digest}.sock"
    if len(os.fsencode(path)) >= SUN_PATH_MAX:
        raise GitfleetError(
            f"no usable path for the queue socket: {preferred} and {path} are both longer "
            f"than {SUN_PATH_MAX - 1} bytes; set XDG_RUNTIME_DIR or TMPDIR to a short folder"
        )
    return path


def private_folder() -> Path:
    """``gitfleet-<uid>`` under $XDG_RUNTIME_DIR or the temp dir, checked to be ours only."""

    base = os.environ.get("XDG_RUNTIME_DIR") or tempfile.gettempdir()
    folder = Path(base) / f"gitfleet-{os.getuid()}"
    with contextlib.suppress(FileExistsError):
        folder.mkdir(mode=0o700)
    info = os.lstat(folder)
    # Another user could have created the folder first (the temp dir is shared): a socket
    # in it would be theirs to replace. Refuse rather than trust it.
    if (
        not stat.S_ISDIR(info.st_mode)
        or info.st_uid != os.getuid()
        or stat.S_IMODE(info.st_mode) & 0o077
    ):
        raise GitfleetError(
            f"{folder} is not a private folder of this user (owner uid {info.st_uid}, mode "
            f"{stat.S_IMODE(info.st_mode):o}); remove it or set XDG_RUNTIME_DIR elsewhere"
        )
    return folder
