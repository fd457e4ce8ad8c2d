"""The one way gitfleet runs git, and where a repository's folders are.

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
from pathlib import Path
from typing import NamedTuple, NewType

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
    proc = subprocess.run(
        argv,
        cwd=cwd,
        input=None if input is None else input.encode("utf-8", "surrogateescape"),
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

    Git runs hooks at the root of the worktree, exporting ``GIT_DIR`` for linked worktrees;
    the layout (``.git`` folder, or a ``.git`` file naming the git dir, whose ``commondir``
    names the shared one) is documented in gitrepository-layout(5). Anything unusual falls
    back to asking git.
    """
    top = Path.cwd()
    git_dir_env = os.environ.get("GIT_DIR")
    if "GIT_WORK_TREE" in os.environ or "GIT_COMMON_DIR" in os.environ:
        return discover(keep_git_env=True)
    if git_dir_env:
        git_dir = top / git_dir_env
    elif (top / ".git").is_dir():
        git_dir = top / ".git"
    else:
        try:
            text = (top / ".git").read_text("utf-8").strip()
        except OSError:
            return discover(keep_git_env=True)
        if not text.startswith("gitdir:"):
            return discover(keep_git_env=True)
        git_dir = top / text[len("gitdir:") :].strip()
    try:
        common = (git_dir / "commondir").read_text("utf-8").strip()
    except FileNotFoundError:
        common = "."
    except OSError:
        return discover(keep_git_env=True)
    if not (git_dir / "HEAD").is_file():
        return discover(keep_git_env=True)
    common_dir = Path(os.path.normpath(git_dir / common))
    return Repo(top, Path(os.path.normpath(git_dir)), common_dir, _head_ref(git_dir, top, None))


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
