"""One linked worktree and branch per agent: where they go, how they are made and removed.

``git worktree add`` writes the shared ``.git/config`` and ``.git/worktrees``; several
running at once race on ``config.lock`` and fail (anthropics/claude-code#47266). So the
*registration* (``worktree add --no-checkout``) is serialised across processes with a lock
in the common dir, and the expensive part, checking out files into the new worktree's own
index and folder, runs afterwards in parallel: it touches nothing another worktree shares.
"""

from __future__ import annotations

import fnmatch
import os
import shutil
import socket
import subprocess
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from gitfleet import locking
from gitfleet.config import Config
from gitfleet.errors import GitfleetError
from gitfleet.git import no_git_env, run
from gitfleet.git.repo import Repo

PORT_FIRST = 41000  # above the usual dev-server ports, below the kernel's ephemeral range
PORT_LAST = 48999


def main_checkout(repo: Repo) -> Path:
    """The main worktree (the common dir's parent), whichever worktree we run from."""
    return repo.common_dir.parent if repo.common_dir.name == ".git" else repo.toplevel


def worktree_root(repo: Repo, cfg: Config) -> Path:
    """$GITFLEET_WORKTREES, else ``[fleet] worktrees`` (relative to the checkout), else a
    sibling folder ``<checkout>.gitfleet``: outside the checkout, so no tool in the main
    worktree (test runners, file watchers, ``git status``) sees nine copies of the repo."""
    override = os.environ.get("GITFLEET_WORKTREES")
    if override:
        return Path(override)
    main = main_checkout(repo)
    if cfg.worktree_root:
        root = Path(cfg.worktree_root).expanduser()
        return root if root.is_absolute() else main / root
    return default_root(repo)


def default_root(repo: Repo) -> Path:
    main = main_checkout(repo)
    return main.parent / f"{main.name}.gitfleet"


def register(repo: Repo, path: Path, branch: str, base: str) -> None:
    """Create ``branch`` at ``base`` and a linked worktree for it, without checking out."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with locking.exclusive(repo.state_dir / "worktree.lock"):
        # --no-track: the agent's branch must not inherit the target's upstream, or a bare
        # `git push` in the agent would try to push to the target under another name.
        repo.git(
            "worktree", "add", "-q", "--no-checkout", "--no-track", "-b", branch, str(path), base
        )


def checkout(path: Path) -> None:
    """Fill a registered worktree's index and files (safe to run in parallel)."""
    run(["reset", "-q", "--hard", "HEAD"], path, env=no_git_env())


def copy_untracked(source: Path, dest: Path, patterns: Sequence[str]) -> list[str]:
    """Copy configured untracked files (``.env`` and the like) from the main checkout."""
    copied = []
    for pattern in patterns:
        for found in sorted(source.glob(pattern)):
            rel = found.relative_to(source)
            target = dest / rel
            if found.is_dir():
                shutil.copytree(found, target, dirs_exist_ok=True, symlinks=True)
            else:
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(found, target, follow_symlinks=False)
            copied.append(str(rel))
    return copied


def run_setup(command: str, cwd: Path, env: Mapping[str, str], log: Path) -> None:
    """Run ``[spawn] setup`` in a new worktree. It is the user's own configured shell
    command (like a Makefile line), never built from task text, so a shell is fine here."""
    with open(log, "ab") as out:
        out.write(f"# gitfleet: setup: {command}\n".encode())
        out.flush()
        proc = subprocess.run(
            command,
            shell=True,
            cwd=cwd,
            env=dict(env),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            check=False,
        )
    if proc.returncode != 0:
        raise GitfleetError(
            f"setup command {command!r} failed (exit {proc.returncode}) in {cwd}; "
            f"see {log}, fix [spawn] setup in gitfleet.toml, then `gitfleet clean`"
        )


def dirty(path: Path, scratch: Sequence[str] = ()) -> list[str]:
    """Uncommitted changes in a worktree (``git status --porcelain`` lines); [] when clean.
    Untracked files whose top-level name matches a ``scratch`` pattern do not count."""
    if not path.is_dir():
        return []
    proc = run(
        ["status", "--porcelain", "-z", "--untracked-files=all"],
        path,
        env=no_git_env(),
        check=False,
    )
    if proc.returncode != 0:
        return []
    return [
        entry
        for entry in proc.stdout.split("\0")
        if entry
        and not (
            entry.startswith("?? ")
            and any(fnmatch.fnmatch(entry[3:].split("/")[0], p) for p in scratch)
        )
    ]


def remove(repo: Repo, path: Path, *, force: bool) -> None:
    """Unregister and delete a worktree; a folder already gone is just pruned."""
    with locking.exclusive(repo.state_dir / "worktree.lock"):
        if path.exists():
            args = ["worktree", "remove", *(["--force"] if force else []), str(path)]
            repo.git(*args)
        else:
            repo.git("worktree", "prune")


def free_ports(count: int, taken: set[int]) -> list[int]:
    """``count`` ports nothing listens on and no live run holds, lowest first."""
    ports: list[int] = []
    port = PORT_FIRST
    while len(ports) < count:
        if port > PORT_LAST:
            raise GitfleetError(
                f"no {count} free ports between {PORT_FIRST} and {PORT_LAST}; "
                "clean old runs with `gitfleet clean --all`"
            )
        if port not in taken and _bindable(port):
            ports.append(port)
        port += 1
    return ports


def _bindable(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def reserve_ports(
    repo: Repo, count: int, taken: Callable[[], set[int]], record: Callable[[list[int]], None]
) -> list[int]:
    """Pick ports and record them (in the run state) under one lock, so two spawns starting
    together never hand out the same port: the second sees the first's record."""
    if count == 0:
        return []
    with locking.exclusive(repo.state_dir / "ports.lock"):
        ports = free_ports(count, taken())
        record(ports)
    return ports
