"""``gitfleet status`` and ``gitfleet logs``: read a run's state and its agents' logs."""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from pathlib import Path
from typing import TextIO

from gitfleet.errors import UsageError
from gitfleet.fleet import runstate
from gitfleet.fleet.runstate import AgentState, RunState
from gitfleet.git.repo import Repo

WATCH_INTERVAL = 1.0


def current(repo: Repo, run: str | None = None) -> RunState:
    """A run's state as it is now: agents of a crashed spawn show as orphaned (still
    running, nobody supervising) or lost (gone without a word)."""
    state = runstate.load(repo, run)
    if state.status != "crashed":
        return state
    shown = copy.deepcopy(state)
    for agent in shown.agents:
        if agent.phase in (runstate.PENDING, runstate.STARTING, runstate.RUNNING):
            alive = runstate.pid_alive(agent.pid, agent.pid_start)
            agent.phase = "orphaned" if alive else "lost"
    return shown


def find_agent(repo: Repo, name: str, run: str | None = None) -> tuple[RunState, AgentState]:
    """An agent by id, name or branch: in ``run``, else in the newest run that has it."""
    if run is not None:
        state = runstate.load(repo, run)
        return state, state.agent(name)
    for state in reversed(runstate.load_all(repo)):
        for agent in state.agents:
            if name in (agent.name, agent.id, agent.branch):
                return state, agent
    raise UsageError(f"no run has an agent {name!r}; see `gitfleet status` for the agents")


def watch(repo: Repo, state: RunState, show: Callable[[RunState], None]) -> None:
    """Call ``show`` with each new version of the run until it ends (``status --watch``)."""
    while state.alive:
        time.sleep(WATCH_INTERVAL)
        newer = current(repo, state.run)
        if newer.to_dict() != state.to_dict():
            show(newer)
        state = newer


def print_log(path: Path, out: TextIO, agent: AgentState | None = None) -> int:
    """Copy a log to ``out``; returns the number of bytes read.

    An agent that never started may have no log at all: then its reason is the log.
    """
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        data = b""
    if agent is not None and agent.error and agent.error.encode() not in data:
        data += f"gitfleet: {agent.name} did not start: {agent.error}\n".encode()
    out.write(data.decode("utf-8", "replace"))
    out.flush()
    return len(data)


def follow(path: Path, out: TextIO, keep_going: Callable[[], bool], interval: float = 0.2) -> None:
    """``tail -f`` until ``keep_going()`` turns false, then print what is left and return."""
    pos = 0
    while True:
        alive = keep_going()
        try:
            with open(path, "rb") as handle:
                handle.seek(pos)
                chunk = handle.read()
        except FileNotFoundError:
            chunk = b""
        if chunk:
            pos += len(chunk)
            out.write(chunk.decode("utf-8", "replace"))
            out.flush()
        if not alive:
            return
        time.sleep(interval)


def agent_running(repo: Repo, run_id: str, name: str) -> bool:
    state = runstate.load(repo, run_id)
    agent = state.agent(name)
    return state.alive and agent.phase in (runstate.PENDING, runstate.STARTING, runstate.RUNNING)
