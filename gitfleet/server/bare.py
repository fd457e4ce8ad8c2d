"""A repository that receives pushes, as its ``pre-receive`` hook (or the installer) sees it.

It is usually bare, so it has no worktree, and inside the hook the pushed objects are not
yet in its object store: git keeps them in a quarantine directory that only the
``GIT_OBJECT_DIRECTORY`` and ``GIT_ALTERNATE_OBJECT_DIRECTORIES`` it exports make readable
(githooks(5), "pre-receive"). So git runs here with the hook's own environment, where
:class:`~gitfleet.git.repo.Repo` drops it.
"""

from __future__ import annotations

import os
from pathlib import Path

from gitfleet import config
from gitfleet.config import Config
from gitfleet.errors import ConfigError, NotARepoError
from gitfleet.git import Completed, no_git_env, run
from gitfleet.git.repo import Repo

# The guard's files in the receiving repository. Not "gitfleet": git runs the hook there,
# and `python -m gitfleet` puts the current folder first on sys.path, where a "gitfleet"
# folder would shadow the installed package.
STATE_NAME = "gitfleet-server"


class Bare(Repo):
    """A receiving repository: ``toplevel`` is its git dir; git keeps the hook's variables."""

    @property
    def state_dir(self) -> Path:
        return self.common_dir / STATE_NAME

    def git(self, *args: str, input: str | None = None, check: bool = True) -> Completed:
        # GIT_DIR absolute: the hook's own is often "." (relative to where git ran it).
        env = {**os.environ, "GIT_DIR": str(self.git_dir)}
        return run(args, self.git_dir, input=input, env=env, check=check)


def open_bare(path: Path) -> Bare:
    """The repository at ``path`` (a bare one, or a checkout's git dir), or a NotARepoError."""
    probe = None
    if path.is_dir():
        probe = run(
            ["rev-parse", "--path-format=absolute", "--git-dir", "--git-common-dir"],
            path,
            env=no_git_env(),
            check=False,
        )
    lines = probe.stdout.splitlines() if probe else []
    if probe is None or probe.returncode != 0 or len(lines) < 2:
        raise NotARepoError(
            f"{path} is not a git repository on this machine.\n"
            "  give the path of the bare repository the server serves, e.g. "
            "/srv/git/project.git (Gitea: <repo-root>/<owner>/<name>.git)"
        )
    git_dir, common_dir = Path(lines[0]), Path(lines[1])
    bare = Bare(git_dir, git_dir, common_dir, None)
    head = bare.git("symbolic-ref", "-q", "HEAD", check=False)
    return bare._replace(head_ref=head.stdout.strip() or None)


def rules_at(repo: Repo, treeish: str) -> Config:
    """The config committed in ``treeish``; the defaults (no rules) when there is none.

    A file that does not parse raises ConfigError.
    """
    proc = repo.git("cat-file", "blob", f"{treeish}:{config.CONFIG_NAME}", check=False)
    if proc.returncode != 0:
        return Config(path=None)
    return config.parse(Path(f"{treeish}:{config.CONFIG_NAME}"), proc.stdout)


def server_target(repo: Bare) -> str:
    """The branch fleets land on: ``[fleet] target`` as committed on the default branch
    (the repository's HEAD), else that default branch, else ``main``."""
    default = repo.branch or "main"
    try:
        committed = rules_at(repo, f"refs/heads/{default}")
    except ConfigError:
        return default
    return committed.target or default
