"""The one way gitfleet runs git.

Every ``git`` subprocess goes through :func:`run`, which raises :class:`GitError` with the
command, exit code and both streams. Code that works on *another* repository or worktree
than the one a hook runs in passes ``env=no_git_env()``: inside a hook git exports
``GIT_DIR``/``GIT_INDEX_FILE``/``GIT_WORK_TREE`` and they would point the child at the
wrong repository (pre-commit does the same in ``git.py: no_git_env``).
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping, Sequence
from typing import NamedTuple, NewType

from gitfleet.errors import GitError

Oid = NewType("Oid", str)
ZERO_OID = "0" * 40  # what git writes for "no such ref" (new refs, deletions)
RefName = NewType("RefName", str)

# Variables that tie a git process to one repository, index or worktree. Everything else
# (GIT_SSH_COMMAND, GIT_ASKPASS, GIT_CONFIG_*, author/committer identity...) is the user's
# and is kept.
_REPO_BOUND = frozenset(
    {
        "GIT_DIR",
        "GIT_WORK_TREE",
        "GIT_INDEX_FILE",
        "GIT_COMMON_DIR",
        "GIT_OBJECT_DIRECTORY",
        "GIT_ALTERNATE_OBJECT_DIRECTORIES",
        "GIT_PREFIX",
        "GIT_NAMESPACE",
        "GIT_QUARANTINE_PATH",
        "GIT_REFLOG_ACTION",
    }
)


def no_git_env(base: Mapping[str, str] | None = None) -> dict[str, str]:
    """A copy of the environment without the variables that bind git to one repo."""
    env = os.environ if base is None else base
    return {k: v for k, v in env.items() if k not in _REPO_BOUND}


class Completed(NamedTuple):
    returncode: int
    stdout: str
    stderr: str


def run(
    args: Sequence[str],
    cwd: str | os.PathLike[str] | None = None,
    *,
    input: str | None = None,
    env: Mapping[str, str] | None = None,
    check: bool = True,
) -> Completed:
    """Run ``git ARGS`` and return its output; raise GitError on failure when ``check``."""
    argv = ["git", *args]
    # Bytes in, bytes out, decoded here: text mode would turn "\r\n" into "\n" and break
    # every reader that counts bytes (cat-file --batch sizes) or paths holding a "\r".
    raw_input = None if input is None else input.encode("utf-8", "surrogateescape")
    proc = subprocess.run(
        argv,
        cwd=cwd,
        input=raw_input,
        env=None if env is None else dict(env),
        capture_output=True,
    )
    stdout = proc.stdout.decode("utf-8", "surrogateescape")
    stderr = proc.stderr.decode("utf-8", "surrogateescape")
    if check and proc.returncode != 0:
        raise GitError(argv, proc.returncode, stdout, stderr)
    return Completed(proc.returncode, stdout, stderr)


def out(
    args: Sequence[str],
    cwd: str | os.PathLike[str] | None = None,
    *,
    env: Mapping[str, str] | None = None,
) -> str:
    """``git ARGS`` stdout without the trailing newline."""
    return run(args, cwd, env=env).stdout.rstrip("\n")


def split_z(text: str) -> list[str]:
    """Split ``-z`` output into its NUL-separated fields."""
    return [part for part in text.split("\0") if part]
