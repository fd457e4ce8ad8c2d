"""Fixtures for landing tests: a bare remote that logs every value its refs take, clones
of it ("machines"), branches made without touching a checkout, a check command that
records each tree it checked, and a small ``git daemon`` on 127.0.0.1.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

from conftest import git


def make_remote(path: Path) -> Path:
    """A bare remote whose main holds README.md, logging every update of every ref."""
    git(path.parent, "init", "-q", "--bare", "-b", "main", str(path))
    # The remote's reflog is the witness: every value main ever took, in order.
    git(path, "config", "core.logAllRefUpdates", "always")
    seed = path.parent / f"{path.name}-seed"
    git(path.parent, "clone", "-q", str(path), str(seed))
    (seed / "README.md").write_text("hello\n")
    (seed / "shared.txt").write_text("one\ntwo\nthree\n")
    git(seed, "add", "-A")
    git(seed, "commit", "-q", "-m", "init")
    git(seed, "push", "-q", "origin", "main")
    return path


def clone(url: str, path: Path) -> Path:
    git(path.parent, "clone", "-q", url, str(path))
    return path


def branch_with(repo: Path, branch: str, files: dict[str, str], base: str = "HEAD") -> str:
    """Create ``branch`` from ``base`` with one commit per file, without a checkout."""
    tip = git(repo, "rev-parse", base).stdout.strip()
    for rel, text in files.items():
        blob = git_in(repo, ["hash-object", "-w", "--stdin"], text)
        index = repo / ".git" / f"tmp-index-{branch.replace('/', '-')}"
        env = {**os.environ, "GIT_INDEX_FILE": str(index)}
        subprocess.run(["git", "read-tree", tip], cwd=repo, env=env, check=True)
        subprocess.run(
            ["git", "update-index", "--add", "--cacheinfo", f"100644,{blob},{rel}"],
            cwd=repo,
            env=env,
            check=True,
        )
        tree = subprocess.run(
            ["git", "write-tree"], cwd=repo, env=env, check=True, capture_output=True, text=True
        ).stdout.strip()
        index.unlink()
        tip = git(repo, "commit-tree", tree, "-p", tip, "-m", f"{branch}: {rel}").stdout.strip()
    git(repo, "update-ref", f"refs/heads/{branch}", tip)
    return tip


def git_in(repo: Path, args: list[str], stdin: str) -> str:
    proc = subprocess.run(
        ["git", *args], cwd=repo, input=stdin, capture_output=True, text=True, check=True
    )
    return proc.stdout.strip()


def push_change(repo: Path, rel: str, text: str) -> str:
    """Commit ``rel`` on main in ``repo`` (a checkout of main) and push it plainly."""
    git(repo, "pull", "-q", "--ff-only", "origin", "main")
    (repo / rel).write_text(text)
    git(repo, "add", rel)
    git(repo, "commit", "-q", "-m", f"change {rel}")
    git(repo, "push", "-q", "origin", "main")
    return git(repo, "rev-parse", "HEAD").stdout.strip()


def remote_tip(remote: Path, ref: str = "refs/heads/main") -> str:
    return git(remote, "rev-parse", ref).stdout.strip()


def remote_history(remote: Path, ref: str = "refs/heads/main") -> list[str]:
    """Every value ``ref`` took on the remote, oldest first (from its reflog)."""
    text = git(remote, "reflog", "show", "--format=%H", ref).stdout.split()
    return list(reversed(text))


def tree_of(repo: Path, commit: str) -> str:
    return git(repo, "rev-parse", f"{commit}^{{tree}}").stdout.strip()


def recording_check(log: Path, fail_if: str | None = None) -> str:
    """A check command appending the checked tree to ``log``; fails if ``fail_if`` exists."""
    cmd = f'git rev-parse "HEAD^{{tree}}" >> "{log}"'
    if fail_if:
        cmd += f' && if [ -e "{fail_if}" ]; then echo "check found {fail_if}: FAILING"; exit 7; fi'
    return cmd


def checked_trees(log: Path) -> set[str]:
    return set(log.read_text().split()) if log.exists() else set()


def scratch_leftovers(repo: Path) -> list[str]:
    """Scratch worktrees still registered or on disk (there must be none)."""
    listed = git(repo, "worktree", "list", "--porcelain").stdout
    registered = [
        line for line in listed.splitlines() if line.startswith("worktree ") and "scratch" in line
    ]
    folder = repo / ".git" / "gitfleet" / "scratch"
    on_disk = [p.name for p in folder.iterdir()] if folder.exists() else []
    return registered + on_disk


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextlib.contextmanager
def git_daemon(base: Path, log: Path) -> Iterator[str]:
    """Serve ``base`` with ``git daemon`` (push enabled); yields ``git://127.0.0.1:PORT``."""
    port = _free_port()
    argv = [
        "git",
        "daemon",
        "--reuseaddr",
        f"--base-path={base}",
        "--export-all",
        "--enable=receive-pack",
        "--informative-errors",
        "--listen=127.0.0.1",
        f"--port={port}",
        str(base),
    ]
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            argv, stdout=out, stderr=out, stdin=subprocess.DEVNULL, start_new_session=True
        )
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"git daemon exited {proc.returncode}: {log.read_text()}")
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"git daemon did not listen on {port}") from None
                time.sleep(0.05)
        yield f"git://127.0.0.1:{port}"
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
