"""``gitfleet demo``: the story's evening replayed offline, without and with gitfleet.

A temp folder gets the story's repository (SP-001..SP-151, the counter file) and a bare
remote. First nine agents work the way they did that evening: each reads the counter,
writes its article, bumps the counter, commits and pushes, pulling and retrying when
refused. Then the same nine run through ``gitfleet init`` and ``gitfleet spawn``. Both
runs are counted the same way and printed side by side. No network, no key, no setup:
git's identity and config are the demo's own, so nothing of the user's leaks in or out.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from gitfleet import config, install
from gitfleet.fleet.display import PlainDisplay
from gitfleet.fleet.runstate import AgentState, RunState
from gitfleet.fleet.spawn import SpawnOptions, spawn
from gitfleet.fleet.words import plural
from gitfleet.git import run
from gitfleet.git.repo import discover

ARTICLES = 151
CONFIG = """\
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

[daemon]
idle_exit = 2
"""

# The evening as it happened: read-grab-update on the counter, then push and retry.
NAIVE_AGENT = r"""
import json, os, subprocess, sys, time

def git(*args):
    return subprocess.run(["git", *args], capture_output=True, text=True)

name = sys.argv[1]
go = sys.argv[2]
while not os.path.exists(go):  # all nine start at the same moment, like that evening
    time.sleep(0.002)
counter = json.load(open("scripts/article-counter.json"))
number = counter["SP"]["next"]
ident = f"SP-{number:03d}"
with open(f"articles/{ident}.md", "w") as fh:
    fh.write(f"---\nticketId: {ident}\ntitle: by {name}\n---\n\nWritten by {name}.\n")
counter["SP"]["next"] = number + 1
with open("scripts/article-counter.json", "w") as fh:
    json.dump(counter, fh)
git("add", "-A")
git("commit", "-q", "-m", f"{ident}: article by {name}")
refused = 0
pushed = False
for attempt in range(4):
    if git("push", "-q", "origin", "HEAD:main").returncode == 0:
        pushed = True
        break
    refused += 1
    # The usual retry: merge whatever landed meanwhile, keeping our side of any conflict.
    git("pull", "-q", "--no-rebase", "--no-edit", "-X", "ours", "origin", "main")
print(json.dumps({"agent": name, "id": ident, "refused": refused, "pushed": pushed}))
"""

# The same agent under gitfleet: its id comes from GITFLEET_ID; no counter, same push.
FLEET_AGENT = r"""
import json, os, subprocess, sys

ident = os.environ["GITFLEET_ID"]
name = os.environ["GITFLEET_AGENT"]
with open(f"articles/{ident}.md", "w") as fh:
    fh.write(f"---\nticketId: {ident}\ntitle: by agent {ident}\n---\n\nWritten by {ident}.\n")
subprocess.run(["git", "add", "-A"], check=True)
subprocess.run(["git", "commit", "-q", "-m", f"{ident}: article"], check=True)
push = subprocess.run(["git", "push", "-q", "origin", "HEAD:main"])
print(json.dumps({"agent": name, "id": ident, "refused": int(push.returncode != 0)}))
sys.exit(push.returncode)
"""


@dataclass
class Side:
    """How one evening went, counted the same way for both runs."""

    name: str
    agents: int
    ids: list[str] = field(default_factory=list)  # the id each agent used
    refused_pushes: int = 0
    failed_agents: int = 0
    articles_landed: int = 0  # agents whose article text is on the remote's main
    merge_commits: int = 0
    seconds: float = 0.0

    @property
    def distinct_ids(self) -> int:
        return len(set(self.ids))

    @property
    def duplicate_ids(self) -> int:
        return len(self.ids) - len(set(self.ids))

    def to_dict(self) -> dict[str, Any]:
        return {
            **asdict(self),
            "distinct_ids": self.distinct_ids,
            "duplicate_ids": self.duplicate_ids,
        }


@contextlib.contextmanager
def isolated_env(root: Path) -> Iterator[None]:
    """The demo's own git identity and config, and the console scripts on PATH (git must
    find git-remote-gitfleet); the user's environment is restored afterwards."""
    saved = dict(os.environ)
    gitconfig = root / "gitconfig"
    gitconfig.write_text("[init]\n\tdefaultBranch = main\n[advice]\n\tdetachedHead = false\n")
    bindir = str(Path(sys.executable).parent)
    for var in (
        "GITFLEET_STATE_DIR",
        "GITFLEET_WORKTREES",
        "GIT_DIR",
        "GIT_WORK_TREE",
        "GIT_INDEX_FILE",
        "GIT_COMMON_DIR",
        "ANTHROPIC_API_KEY",
    ):
        os.environ.pop(var, None)
    os.environ.update({
        "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": str(gitconfig),
        "GIT_AUTHOR_NAME": "gitfleet demo", "GIT_AUTHOR_EMAIL": "demo@gitfleet.invalid",
        "GIT_COMMITTER_NAME": "gitfleet demo", "GIT_COMMITTER_EMAIL": "demo@gitfleet.invalid",
        "GIT_TERMINAL_PROMPT": "0", "PATH": bindir + os.pathsep + saved.get("PATH", ""),
    })  # fmt: skip
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def build_story(root: Path) -> tuple[Path, Path]:
    """The story's repository, with the counter at 152, pushed to a bare remote."""
    remote = root / "remote.git"
    repo = root / "story"
    run(["init", "-q", "--bare", "-b", "main", str(remote)], root)
    run(["init", "-q", "-b", "main", str(repo)], root)
    (repo / "articles").mkdir()
    for n in range(1, ARTICLES + 1):
        (repo / "articles" / f"SP-{n:03d}.md").write_text(
            f"---\nticketId: SP-{n:03d}\ntitle: Article {n}\n---\n\nBody of SP-{n:03d}.\n"
        )
    (repo / "scripts").mkdir()
    (repo / "scripts" / "article-counter.json").write_text(
        json.dumps({"SP": {"next": ARTICLES + 1}}) + "\n"
    )
    (repo / "gitfleet.toml").write_text(CONFIG)
    run(["add", "-A"], repo)
    run(["commit", "-q", "-m", f"{ARTICLES} articles"], repo)
    run(["remote", "add", "origin", str(remote)], repo)
    run(["push", "-q", "origin", "main"], repo)
    return repo, remote


def count_landed(remote: Path, authors: list[str], since: str) -> tuple[int, int]:
    """(agents whose own text is on main, merge commits made since ``since``)."""
    listing = run(["ls-tree", "--name-only", "main", "articles/"], remote).stdout.split()
    new = [p for p in listing if p > f"articles/SP-{ARTICLES:03d}.md"]
    texts = run(["cat-file", "--batch"], remote,
                input="".join(f"main:{p}\n" for p in new)).stdout  # fmt: skip
    landed = sum(1 for who in authors if f"Written by {who}.\n" in texts)
    merges = run(["rev-list", "--count", "--merges", f"{since}..main"], remote).stdout.strip()
    return landed, int(merges)


Progress = Callable[[str], None]


def _quiet(line: str) -> None:
    pass


class _LandingsDisplay(PlainDisplay):
    """Spawn's events, cut to one progress line per agent once its landing is done."""

    def __init__(self, progress: Progress) -> None:
        super().__init__(open(os.devnull, "w"))  # noqa: SIM115 - closed in stop()
        self.progress = progress

    def event(self, run: RunState, agent: AgentState | None, message: str) -> None:
        if agent is not None and agent.landing is not None:
            self.progress(f"with gitfleet: {agent.name} {agent.outcome}")

    def stop(self, run: RunState) -> None:
        self.stream.close()


def without_gitfleet(root: Path, agents: int, progress: Progress = _quiet) -> Side:
    """Nine clones, nine agents reading the counter at once, pushes with retries."""
    _repo, remote = build_story(root)
    base = run(["rev-parse", "main"], remote).stdout.strip()
    script = root / "naive_agent.py"
    script.write_text(NAIVE_AGENT)
    go = root / "go"
    clones = []
    for i in range(1, agents + 1):
        clone = root / f"agent-{i}"
        run(["clone", "-q", str(remote), str(clone)], root)
        clones.append(clone)
    progress(f"without gitfleet: {agents} clones ready; the agents start at the same moment")
    start = time.monotonic()
    procs = [
        subprocess.Popen([sys.executable, str(script), f"agent-{i}", str(go)], cwd=clone,
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        for i, clone in enumerate(clones, 1)
    ]  # fmt: skip
    go.touch()
    side = Side("without gitfleet", agents)
    for proc in procs:
        out, _ = proc.communicate(timeout=120)
        result = json.loads(out.strip().splitlines()[-1])
        side.ids.append(result["id"])
        side.refused_pushes += result["refused"]
        side.failed_agents += 0 if result["pushed"] else 1
        progress(f"without gitfleet: {result['agent']} took {result['id']}, "
                 f"{plural(result['refused'], 'push', 'pushes')} refused")  # fmt: skip
    side.seconds = time.monotonic() - start
    side.articles_landed, side.merge_commits = count_landed(
        remote, [f"agent-{i}" for i in range(1, agents + 1)], base
    )
    return side


def with_gitfleet(root: Path, agents: int, progress: Progress = _quiet) -> Side:
    """``gitfleet init --series SP`` then ``gitfleet spawn 9`` of the same agents."""
    progress(f"with gitfleet: gitfleet init --series SP, then gitfleet spawn {agents}")
    repo_path, remote = build_story(root)
    start = time.monotonic()
    repo = discover(repo_path)
    install.init(repo, ["SP"])
    run(["add", "gitfleet.toml"], repo_path)
    if run(["diff", "--cached", "--quiet"], repo_path, check=False).returncode != 0:
        run(["commit", "-q", "-m", "gitfleet init --series SP"], repo_path)
        run(["push", "-q", "origin", "main"], repo_path)
    base = run(["rev-parse", "main"], remote).stdout.strip()
    script = root / "fleet_agent.py"
    script.write_text(FLEET_AGENT)
    opts = SpawnOptions(count=agents, series="SP", task="Write article {id}",
                        agent_cmd=f"{sys.executable} {script}")  # fmt: skip
    os.environ["GITFLEET_WORKTREES"] = str(root / "worktrees")
    state = spawn(repo, config.load(repo_path), opts, _LandingsDisplay(progress))
    side = Side("with gitfleet", agents)
    side.seconds = time.monotonic() - start
    for agent in state.agents:
        side.ids.append(agent.id or "")
        side.failed_agents += 0 if agent.succeeded else 1
        log = Path(agent.log).read_text(errors="replace")
        side.refused_pushes += sum(
            json.loads(line)["refused"] for line in log.splitlines() if line.startswith('{"agent"')
        )
    side.articles_landed, side.merge_commits = count_landed(
        remote, [a.id or "" for a in state.agents], base
    )
    return side


def table(without: Side, with_: Side) -> str:
    rows = [
        ("agents", without.agents, with_.agents),
        ("distinct ids", without.distinct_ids, with_.distinct_ids),
        ("duplicate ids", without.duplicate_ids, with_.duplicate_ids),
        ("pushes refused", without.refused_pushes, with_.refused_pushes),
        ("agents that failed", without.failed_agents, with_.failed_agents),
        ("articles on main", without.articles_landed, with_.articles_landed),
        ("merge commits", without.merge_commits, with_.merge_commits),
        ("seconds", f"{without.seconds:.1f}", f"{with_.seconds:.1f}"),
    ]
    width = max(len(r[0]) for r in rows)
    lines = [f"{'':{width}}  {'without gitfleet':>16}  {'with gitfleet':>13}"]
    lines += [f"{name:{width}}  {a!s:>16}  {b!s:>13}" for name, a, b in rows]
    return "\n".join(lines)


@dataclass
class DemoResult:
    without: Side
    with_: Side
    folder: str | None  # kept for inspection, or None when removed

    def to_dict(self) -> dict[str, Any]:
        return {"without": self.without.to_dict(), "with": self.with_.to_dict(),
                "folder": self.folder}  # fmt: skip


def demo(agents: int = 9, keep: bool = False, progress: Progress | None = None) -> DemoResult:
    """Replay the evening both ways in a temp folder; remove it unless ``keep``. Each step
    is told to ``progress`` as it happens (the whole replay takes some seconds)."""
    root = Path(tempfile.mkdtemp(prefix="gitfleet-demo-")).resolve()
    try:
        with isolated_env(root):
            (root / "without").mkdir()
            (root / "with").mkdir()
            before = without_gitfleet(root / "without", agents, progress or _quiet)
            after = with_gitfleet(root / "with", agents, progress or _quiet)
    finally:
        if not keep:
            shutil.rmtree(root, ignore_errors=True)
    return DemoResult(before, after, str(root) if keep else None)
