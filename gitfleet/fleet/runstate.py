"""What a spawn run is and was: one JSON file per run in the common dir.

``<state dir>/runs/<run>/run.json`` is rewritten atomically on every event, so a crashed
or interrupted ``gitfleet spawn`` leaves behind an exact picture of its agents (worktrees,
branches, pids, ids) for ``gitfleet status``, ``logs``, ``report`` and ``clean``. Only the
spawn process writes it; readers never lock.
"""

from __future__ import annotations

import dataclasses
import json
import secrets
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gitfleet import locking
from gitfleet.errors import UsageError
from gitfleet.fleet import usage
from gitfleet.fleet.usage import Usage
from gitfleet.git.repo import Repo
from gitfleet.queue import procs

SCHEMA = 1

# Agent phases, in order; the last four are final.
PENDING, STARTING, RUNNING = "pending", "starting", "running"
EXITED, TIMED_OUT, KILLED, NOT_STARTED = "exited", "timed-out", "killed", "not-started"
FINAL_PHASES = (EXITED, TIMED_OUT, KILLED, NOT_STARTED)


@dataclass
class AgentState:
    """One agent of a run."""

    name: str  # its id (SP-152), or agent-N when the run has no series
    index: int
    id: str | None
    branch: str
    worktree: str
    brief: str
    log: str
    task: str
    argv: list[str] = field(default_factory=list)
    ports: dict[str, int] = field(default_factory=dict)
    phase: str = PENDING
    pid: int | None = None
    pid_start: int = 0  # the process's start time (/proc), so a reused pid is not mistaken
    started: float | None = None
    ended: float | None = None
    exit_code: int | None = None
    error: str | None = None  # why it could not start, or why landing failed oddly
    commits: int = 0
    landing: str | None = None  # a LandResult status, or no-commits / already-landed / skipped
    land_message: str = ""
    conflict_paths: list[str] = field(default_factory=list)
    resolved: list[dict[str, str]] = field(default_factory=list)  # {"path", "rung"} synthesis
    usage: dict[str, Any] | None = None  # what its CLI reported spending (fleet.usage.Usage)
    cleaned: bool = False  # `gitfleet clean` removed its worktree and branch

    @property
    def outcome(self) -> str:
        """One word for the final table: landed, conflict, failed, timed out, running..."""
        if self.phase in (PENDING, STARTING, RUNNING):
            return self.phase
        if self.phase == TIMED_OUT:
            return "timed out"
        if self.phase == KILLED:
            return "interrupted"
        if self.phase == NOT_STARTED or self.exit_code != 0:
            return "failed"
        if self.landing in ("landed", "up-to-date", "already-landed"):
            return "landed"
        if self.landing == "off":  # --no-land: committed work is the success
            return "committed" if self.commits else "no commits"
        if self.landing is None:
            return "landing"
        return {"no-commits": "no commits", "skipped": "not landed"}.get(self.landing, self.landing)

    @property
    def succeeded(self) -> bool:
        return self.outcome in ("landed", "committed")

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["outcome"] = self.outcome
        return data


@dataclass
class RunState:
    """One ``gitfleet spawn`` invocation."""

    run: str
    repo: str
    created: float
    spawn_pid: int
    series: str | None
    target: str
    base: str  # the commit every worktree started from
    land: bool
    timeout: float | None
    agents: list[AgentState] = field(default_factory=list)
    argv_template: list[str] = field(default_factory=list)  # the agents' argv before filling
    commondir: str = ""  # the repository's git common dir (the {commondir} placeholder)
    finished: float | None = None
    interrupted: bool = False
    spawn_start: int = 0  # start time of the spawn process (see pid_alive)

    def agent(self, name: str) -> AgentState:
        for agent in self.agents:
            if name in (agent.name, agent.id, agent.branch, str(agent.index)):
                return agent
        raise UsageError(
            f"run {self.run} has no agent {name!r}; its agents: "
            + ", ".join(a.name for a in self.agents)
        )

    def usage_total(self) -> Usage | None:
        """The agents' usage added up (None when no agent's CLI reported any)."""
        return usage.total([Usage.from_dict(a.usage) for a in self.agents])

    @property
    def alive(self) -> bool:
        """Whether the spawn that owns this run is still running."""
        return self.finished is None and pid_alive(self.spawn_pid, self.spawn_start)

    @property
    def status(self) -> str:
        if self.finished is not None:
            return "interrupted" if self.interrupted else "finished"
        return "running" if pid_alive(self.spawn_pid, self.spawn_start) else "crashed"

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["agents"] = [a.to_dict() for a in self.agents]
        data["status"] = self.status
        total = self.usage_total()
        data["usage"] = total.to_dict() if total else None
        data["schema"] = SCHEMA
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunState:
        names = {f.name for f in dataclasses.fields(AgentState)}
        agents = [AgentState(**{k: v for k, v in a.items() if k in names}) for a in data["agents"]]
        run_names = {f.name for f in dataclasses.fields(cls)} - {"agents"}
        return cls(**{k: v for k, v in data.items() if k in run_names}, agents=agents)


def pid_alive(pid: int | None, start: int = 0) -> bool:
    """Whether process ``pid`` still runs; with its ``start`` time, a new process that
    reused the pid does not count (gate.procs reads both from /proc)."""
    if not pid:
        return False
    return procs.alive(procs.Proc(pid, start))


def start_time(pid: int) -> int:
    """The start time of a live process (0 when unknown), to pair with its pid."""
    found = procs.identify(pid)
    return found.start if found else 0


def runs_dir(repo: Repo) -> Path:
    return repo.state_dir / "runs"


def new_run_id() -> str:
    """Sortable by time (to the millisecond), unique across concurrent spawns."""
    now = time.time()
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(now)) + f"{int(now * 1000) % 1000:03d}"
    return f"{stamp}-{secrets.token_hex(2)}"


class RunStore:
    """Writes one run's state; thread-safe (the lander thread and the supervisor share it)."""

    def __init__(self, repo: Repo, state: RunState) -> None:
        self.dir = runs_dir(repo) / state.run
        self.path = self.dir / "run.json"
        self.state = state
        self._lock = threading.Lock()

    def save(self) -> None:
        with self._lock:
            text = json.dumps(self.state.to_dict(), indent=2)
            locking.atomic_write(self.path, text + "\n")


def load(repo: Repo, run: str | None = None) -> RunState:
    """The run named ``run`` (a prefix is enough), else the newest run."""
    ids = list_runs(repo)
    if not ids:
        raise UsageError(
            f"no gitfleet runs in {repo.toplevel}; start one with `gitfleet spawn N ...`"
        )
    if run is None:
        chosen = ids[-1]
    else:
        matches = [r for r in ids if r == run] or [r for r in ids if r.startswith(run)]
        if len(matches) != 1:
            what = "is ambiguous" if matches else "does not exist"
            raise UsageError(
                f"run {run!r} {what}; runs: {', '.join(ids[-10:])} (see `gitfleet status`)"
            )
        chosen = matches[0]
    return read(runs_dir(repo) / chosen / "run.json")


def read(path: Path) -> RunState:
    try:
        return RunState.from_dict(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise UsageError(
            f"{path} is not a readable run state ({exc}); remove that folder"
        ) from None


def list_runs(repo: Repo) -> list[str]:
    """Run ids, oldest first."""
    base = runs_dir(repo)
    if not base.is_dir():
        return []
    return sorted(p.name for p in base.iterdir() if (p / "run.json").is_file())


def load_all(repo: Repo) -> list[RunState]:
    return [read(runs_dir(repo) / r / "run.json") for r in list_runs(repo)]
