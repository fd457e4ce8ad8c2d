"""A repository seen from one of its worktrees, and how to find it: always by asking git."""

from __future__ import annotations

import os
from pathlib import Path
from typing import NamedTuple

from gitfleet.errors import NotARepoError, Refusal
from gitfleet.git import Completed, no_git_env, run

STATE_DIR_ENV = "GITFLEET_STATE_DIR"


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
        override = os.environ.get(STATE_DIR_ENV)
        return Path(override) if override else self.common_dir / "gitfleet"

    def git(self, *args: str, input: str | None = None, check: bool = True) -> Completed:
        """Run git in this worktree, ignoring any repo-binding variables from a hook."""
        return run(args, self.toplevel, input=input, env=no_git_env(), check=check)

    def git_out(self, *args: str) -> str:
        return self.git(*args).stdout.rstrip("\n")


def refuse_state_override() -> None:
    """Hooks and the push gate judge by the repository's own ledger, whatever an agent's
    environment says: a private state dir would hand out ids the real ledger gave others."""
    if os.environ.get(STATE_DIR_ENV):
        raise Refusal(
            f"{STATE_DIR_ENV} is set to {os.environ[STATE_DIR_ENV]!r}; git hooks and the push "
            "gate use the repository's own ledger only.\n"
            f"  unset it (`unset {STATE_DIR_ENV}`) and run the git command again"
        )


def discover(cwd: str | os.PathLike[str] | None = None, *, keep_git_env: bool = False) -> Repo:
    """Find the repository around ``cwd`` or raise a NotARepoError that says what to do.

    ``keep_git_env`` is for hooks: there ``GIT_DIR`` and friends describe the repository
    being committed to and must be honoured.
    """
    where = Path(cwd) if cwd is not None else Path.cwd()
    env = None if keep_git_env else no_git_env()
    probe = run(
        ["rev-parse", "--path-format=absolute", "--git-dir", "--git-common-dir",
         "--show-toplevel", "--symbolic-full-name", "HEAD", "--"],
        where, env=env, check=False,
    )  # fmt: skip
    lines = probe.stdout.splitlines()
    if len(lines) < 3:  # not even the folders: not a worktree (git says why below)
        raise _why_not_a_worktree(where, env)
    git_dir, common_dir, toplevel = lines[:3]
    if probe.returncode == 0:  # HEAD names a commit: its ref, or "HEAD" when detached
        head_ref = lines[3] if len(lines) > 3 and lines[3].startswith("refs/") else None
    else:  # HEAD names no commit (a branch not born yet): only symbolic-ref can name it
        head = run(["symbolic-ref", "-q", "HEAD"], where, env=env, check=False)
        head_ref = head.stdout.strip() if head.returncode == 0 else None
    return Repo(Path(toplevel), Path(git_dir), Path(common_dir), head_ref)


def _why_not_a_worktree(where: Path, env: dict[str, str] | None) -> NotARepoError:
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
