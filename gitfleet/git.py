"""The one way gitfleet runs git, and where a repository's folders are.

Every ``git`` subprocess goes through :func:`run`, which raises :class:`GitError` with the
command, exit code and both streams. Code that works on *another* repository or worktree
than the one a hook runs in passes ``env=no_git_env()``: inside a hook git exports
``GIT_DIR``/``GIT_INDEX_FILE``/``GIT_WORK_TREE`` and they would point the child at the
wrong repository (pre-commit does the same in ``git.py: no_git_env``).
"""

# No `from __future__ import annotations` here: typing.NamedTuple compiles each string
# annotation at class creation, and this module loads in every hook run.

import contextlib
import os
import re
import sys
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import IO, NamedTuple, NewType

from gitfleet import child
from gitfleet.errors import GitError, NotARepoError

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
    returncode, raw_out, raw_err = child.collect(argv, cwd, raw_input, env)
    stdout = raw_out.decode("utf-8", "surrogateescape")
    stderr = raw_err.decode("utf-8", "surrogateescape")
    if check and returncode != 0:
        raise GitError(argv, returncode, stdout, stderr)
    return Completed(returncode, stdout, stderr)


def out(
    args: Sequence[str],
    cwd: str | os.PathLike[str] | None = None,
    *,
    env: Mapping[str, str] | None = None,
) -> str:
    """``git ARGS`` stdout without the trailing newline."""
    return run(args, cwd, env=env).stdout.rstrip("\n")


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
    import subprocess
    import tempfile
    import threading

    argv = ["git", "-C", cwd, "cat-file", "--batch", "--buffer"]
    # stderr to a file, not a pipe: nobody reads it while the blobs stream, and a full pipe
    # would stall git.
    with tempfile.TemporaryFile() as errors:
        proc = subprocess.Popen(
            argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=errors, env=no_git_env()
        )
        assert proc.stdin is not None and proc.stdout is not None
        if sys.platform == "linux":
            import fcntl

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


def split_z(text: str) -> list[str]:
    """Split ``-z`` output into its NUL-separated fields."""
    return [part for part in text.split("\0") if part]


class Repo(NamedTuple):
    """A non-bare repository seen from one of its worktrees."""

    toplevel: Path  # this worktree's root
    git_dir: Path  # this worktree's private git dir
    common_dir: Path  # shared by every linked worktree: where shared state lives
    head_ref: str | None  # "refs/heads/x", or None when detached

    @property
    def branch(self) -> str | None:
        if self.head_ref and self.head_ref.startswith("refs/heads/"):
            return self.head_ref[len("refs/heads/") :]
        return None

    @property
    def state_dir(self) -> Path:
        """Where gitfleet keeps its shared state (ledger, daemon socket, runs)."""
        override = os.environ.get("GITFLEET_STATE_DIR")
        return Path(override) if override else self.common_dir / "gitfleet"

    def git(self, *args: str, input: str | None = None, check: bool = True) -> Completed:
        """Run git in this worktree, ignoring any repo-binding variables from a hook."""
        return run(args, self.toplevel, input=input, env=no_git_env(), check=check)

    def git_out(self, *args: str) -> str:
        return self.git(*args).stdout.rstrip("\n")


def discover(cwd: str | os.PathLike[str] | None = None, *, keep_git_env: bool = False) -> Repo:
    """Find the repository around ``cwd`` or raise a NotARepoError that says what to do.

    ``keep_git_env`` is for hooks: there ``GIT_DIR`` and friends describe the repository
    being committed to and must be honoured. One git call on the common path: hooks run
    this on every commit.
    """
    where = Path(cwd) if cwd is not None else Path.cwd()
    env = None if keep_git_env else no_git_env()
    probe = run(
        ["rev-parse", "--path-format=absolute", "--git-dir", "--git-common-dir", "--show-toplevel"],
        where,
        env=env,
        check=False,
    )
    if probe.returncode != 0:
        raise _why_not_a_worktree(where, env)
    git_dir, common_dir, toplevel = probe.stdout.splitlines()[:3]
    return Repo(
        Path(toplevel), Path(git_dir), Path(common_dir), _head_ref(Path(git_dir), where, env)
    )


def discover_in_hook() -> Repo:
    """The repository a hook runs for, found without a subprocess where the layout is plain.

    Git runs hooks at the root of the worktree, exporting ``GIT_DIR`` for linked worktrees.
    Anything unusual falls back to asking git.
    """
    top = Path.cwd()
    if "GIT_WORK_TREE" in os.environ or "GIT_COMMON_DIR" in os.environ:
        return discover(keep_git_env=True)
    git_dir_env = os.environ.get("GIT_DIR")
    found = _plain_layout(top, top / git_dir_env if git_dir_env else None)
    return found or discover(keep_git_env=True)


# These change where git's own discovery stops; only git applies them faithfully. (The
# repo-binding variables are ignored by :func:`discover`, and so here too.)
_DISCOVERY_ENV = ("GIT_CEILING_DIRECTORIES", "GIT_DISCOVERY_ACROSS_FILESYSTEM")


def discover_quick(cwd: str | os.PathLike[str] | None = None) -> Repo:
    """:func:`discover` without a subprocess for the plain layout, for per-call commands.

    An agent runs ``gitfleet ids allocate`` once per id, so a git process saved here is
    saved on every allocation. Walks up from ``cwd`` as git does. Anything git might judge
    differently is left to :func:`discover` (which also gives the errors): discovery
    variables, a mount point crossed, a folder or git dir owned by someone else
    (safe.directory), being inside a git dir, a config that sets core.bare or
    core.worktree.
    """
    if any(name in os.environ for name in _DISCOVERY_ENV):
        return discover(cwd)
    start = Path(os.path.realpath(cwd if cwd is not None else os.getcwd()))
    uid = os.geteuid()
    try:
        device = start.stat().st_dev
        for top in (start, *start.parents):
            info = top.stat()
            if info.st_dev != device or _is_git_dir(top):
                break
            if not os.path.lexists(top / ".git"):
                continue
            found = None if info.st_uid != uid else _plain_layout(top, None, no_git_env())
            if found and found.git_dir.stat().st_uid == uid and _plain_config(found):
                return found
            break
    except OSError:
        pass
    return discover(cwd)


def _is_git_dir(path: Path) -> bool:
    return (path / "HEAD").is_file() and (path / "objects").is_dir() and (path / "refs").is_dir()


def _plain_config(repo: Repo) -> bool:
    """Whether the repository's config leaves the layout as its files say."""
    if (repo.git_dir / "config.worktree").exists():
        return False
    text = (repo.common_dir / "config").read_text("utf-8", "replace")
    return not re.search(r"^\s*(?:bare\s*=\s*true|worktree\s*=)", text, re.MULTILINE | re.I)


def _plain_layout(
    top: Path, git_dir: Path | None, env: Mapping[str, str] | None = None
) -> Repo | None:
    """The repository whose worktree root is ``top``, read from its files, or None.

    The layout (a ``.git`` folder, or a ``.git`` file naming the git dir, whose
    ``commondir`` names the shared one) is documented in gitrepository-layout(5). Paths
    are resolved as git reports them.
    """
    if git_dir is None:
        if (top / ".git").is_dir():
            git_dir = top / ".git"
        else:
            try:
                text = (top / ".git").read_text("utf-8").strip()
            except (OSError, UnicodeDecodeError):
                return None
            if not text.startswith("gitdir:"):
                return None
            git_dir = top / text[len("gitdir:") :].strip()
    try:
        common = (git_dir / "commondir").read_text("utf-8").strip()
    except FileNotFoundError:
        common = "."
    except (OSError, UnicodeDecodeError):
        return None
    if not (git_dir / "HEAD").is_file():
        return None
    real_git_dir = Path(os.path.realpath(git_dir))
    common_dir = Path(os.path.realpath(git_dir / common))
    return Repo(top, real_git_dir, common_dir, _head_ref(git_dir, top, env))


def _head_ref(git_dir: Path, where: Path, env: Mapping[str, str] | None) -> str | None:
    # HEAD is a plain file ("ref: refs/heads/x" or an oid) in every repository format git
    # 2.39 writes; reading it saves a subprocess on the hook path.
    try:
        head = (git_dir / "HEAD").read_text(encoding="utf-8").strip()
    except OSError:
        proc = run(["symbolic-ref", "-q", "HEAD"], where, env=env, check=False)
        return proc.stdout.strip() if proc.returncode == 0 else None
    return head[len("ref:") :].strip() if head.startswith("ref:") else None


def _why_not_a_worktree(where: Path, env: Mapping[str, str] | None) -> NotARepoError:
    bare = run(["rev-parse", "--is-bare-repository"], where, env=env, check=False)
    if "dubious ownership" in bare.stderr:
        return NotARepoError(
            f"git refuses {where}: it is owned by someone else.\n"
            + "\n".join(f"  {line}" for line in bare.stderr.strip().splitlines())
        )
    if bare.returncode != 0:
        return NotARepoError(
            f"{where} is not inside a git repository.\n"
            "  gitfleet works in a git checkout: `cd` into one, or run `git init` and commit first."
        )
    if bare.stdout.strip() == "true":
        return NotARepoError(
            f"{where} is a bare repository; gitfleet needs a worktree.\n"
            "  clone it (`git clone <url>`) or add one (`git worktree add <path>`), then run there."
        )
    return NotARepoError(
        f"{where} is inside the git dir, not a worktree; `cd` to the checkout's root."
    )


def require_commits(repo: Repo) -> None:
    """Refuse a repository whose HEAD has no commit yet."""
    if repo.git("rev-parse", "-q", "--verify", "HEAD^{commit}", check=False).returncode != 0:
        raise NotARepoError(
            f"{repo.toplevel} has no commits yet; make a first commit "
            "(`git commit --allow-empty -m init`) and run again."
        )
