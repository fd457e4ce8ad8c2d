"""Hermetic real-git fixtures shared by every test.

Each test gets its own HOME, no system/global git config, fixed identities and dates, and
its own gitfleet state override cleared, so nothing a developer has configured leaks in
and nothing a test does leaks out (git-revise's hermetic_seal does the same).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def hermetic(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Iterator[None]:
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(home / "run"))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(home / ".gitconfig"))
    monkeypatch.setenv("GIT_AUTHOR_NAME", "Test Author")
    monkeypatch.setenv("GIT_AUTHOR_EMAIL", "author@example.com")
    monkeypatch.setenv("GIT_COMMITTER_NAME", "Test Committer")
    monkeypatch.setenv("GIT_COMMITTER_EMAIL", "committer@example.com")
    monkeypatch.setenv("GIT_EDITOR", "false")
    monkeypatch.setenv("GIT_TERMINAL_PROMPT", "0")
    monkeypatch.setenv("GITFLEET_LOG_DIR", str(home))
    # The Anthropic SDK finds credentials in several places a machine may have set.
    for var in (
        "ANTHROPIC_API_KEY",
        "ANTHROPIC_AUTH_TOKEN",
        "ANTHROPIC_BASE_URL",
        "ANTHROPIC_PROFILE",
        "ANTHROPIC_IDENTITY_TOKEN",
        "ANTHROPIC_IDENTITY_TOKEN_FILE",
    ):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("ANTHROPIC_CONFIG_DIR", str(home / ".anthropic"))
    monkeypatch.delenv("GITFLEET_STATE_DIR", raising=False)
    for var in ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_COMMON_DIR"):
        monkeypatch.delenv(var, raising=False)
    (home / "run").mkdir(mode=0o700)
    (home / ".gitconfig").write_text(
        '[init]\n\tdefaultBranch = main\n[protocol "file"]\n\tallow = always\n'
    )
    # Make the installed console scripts (gitfleet, git-remote-gitfleet) resolvable by git.
    bindir = str(Path(sys.executable).parent)
    monkeypatch.setenv("PATH", bindir + os.pathsep + os.environ.get("PATH", ""))
    yield


def git(
    cwd: Path, *args: str, check: bool = True, input_text: str | None = None
) -> subprocess.CompletedProcess[str]:
    """Run real git in ``cwd`` for a test; fails loudly with both streams."""
    proc = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, input=input_text)
    if check and proc.returncode != 0:
        raise AssertionError(
            f"git {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
        )
    return proc


def gitfleet(
    cwd: Path,
    *args: str,
    check: bool = True,
    input: str | None = None,
    env: dict[str, str] | None = None,
    timeout: float = 120,
) -> subprocess.CompletedProcess[str]:
    """Run the installed ``gitfleet`` console script as a user would."""
    proc = subprocess.run(
        [str(Path(sys.executable).parent / "gitfleet"), *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        input=input,
        env=None if env is None else {**os.environ, **env},
        timeout=timeout,
    )
    if check and proc.returncode != 0:
        raise AssertionError(
            f"gitfleet {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
        )
    return proc


def commit_file(repo: Path, rel: str, text: str, message: str | None = None) -> str:
    path = repo / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    git(repo, "add", rel)
    git(repo, "commit", "-q", "-m", message or f"add {rel}")
    return git(repo, "rev-parse", "HEAD").stdout.strip()


def article(n: int, width: int = 3) -> str:
    ident = f"SP-{n:0{width}d}"
    return f"---\nticketId: {ident}\ntitle: Article {n}\n---\n\nBody of {ident}.\n"


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A non-bare repo with one commit on main."""
    path = tmp_path / "repo"
    path.mkdir()
    git(path, "init", "-q", "-b", "main")
    commit_file(path, "README.md", "hello\n", "init")
    return path


@pytest.fixture
def remote(tmp_path: Path) -> Path:
    path = tmp_path / "remote.git"
    git(tmp_path, "init", "-q", "--bare", "-b", "main", str(path))
    return path


SP_CONFIG = """\
[fleet]
target = "main"
remote = "origin"

[series.SP]
prefix = "SP"
width = 3
paths = ["articles/*.md"]
front_matter = "ticketId"

[guarded]
paths = ["scripts/article-counter.json"]
"""


@pytest.fixture(scope="session")
def story_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The story's repo and its bare remote, built once per test run; tests get copies."""
    root = tmp_path_factory.mktemp("story-template")
    env = {
        **os.environ,
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_AUTHOR_NAME": "Test Author",
        "GIT_AUTHOR_EMAIL": "author@example.com",
        "GIT_COMMITTER_NAME": "Test Committer",
        "GIT_COMMITTER_EMAIL": "committer@example.com",
    }

    def run(cwd: Path, *args: str) -> None:
        subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True)

    run(root, "init", "-q", "--bare", "-b", "main", "remote.git")
    path = root / "story"
    path.mkdir()
    run(path, "init", "-q", "-b", "main")
    (path / "articles").mkdir()
    for n in range(1, 152):
        (path / "articles" / f"SP-{n:03d}.md").write_text(article(n))
    (path / "scripts").mkdir()
    (path / "scripts" / "article-counter.json").write_text('{"SP": {"next": 152}}\n')
    (path / "gitfleet.toml").write_text(SP_CONFIG)
    run(path, "add", "-A")
    run(path, "commit", "-q", "-m", "151 articles")
    run(path, "remote", "add", "origin", str(root / "remote.git"))
    run(path, "push", "-q", "origin", "main")
    return root


@pytest.fixture
def story_repo(tmp_path: Path, remote: Path, story_template: Path) -> Path:
    """The story's repo: SP-001..SP-151, the counter file, a config, pushed to a bare remote."""
    shutil.copytree(story_template / "remote.git", remote, dirs_exist_ok=True)
    path = tmp_path / "story"
    shutil.copytree(story_template / "story", path, symlinks=True)
    git(path, "remote", "set-url", "origin", str(remote))
    return path


@pytest.fixture
def fleet(story_repo: Path) -> Path:
    """The story repo after `gitfleet init --series SP`, pushed, with agent worktrees a1, a2."""
    gitfleet(story_repo, "init", "--series", "SP")
    git(story_repo, "add", "gitfleet.toml")
    git(story_repo, "commit", "-q", "--allow-empty", "-m", "gitfleet")
    git(story_repo, "push", "-q", "origin", "main")
    for name in ("a1", "a2"):
        path = story_repo.parent / name
        git(story_repo, "worktree", "add", "-q", "-b", f"fleet/{name}", str(path))
    return story_repo
