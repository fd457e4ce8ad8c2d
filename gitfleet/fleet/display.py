"""Showing a run while it happens: a live table in a terminal, one line per event elsewhere.

The table fits 80 columns: one column names the agent (its id when the run has a series,
so no second id column), the status columns have minimum widths, log paths are left to
one line under the table (relative to the repository), and the rest of the width goes to
each agent's latest line of output. Off a terminal, long-running agents get a heartbeat
line now and then, so a CI log shows they are alive and what they are doing.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Any, Protocol, TextIO

from gitfleet.fleet import logtail
from gitfleet.fleet.runstate import RUNNING, AgentState, RunState
from gitfleet.fleet.usage import Usage
from gitfleet.fleet.words import plural

HEARTBEAT = 30.0  # seconds between heartbeat lines off a terminal (GITFLEET_HEARTBEAT)
HEAD = ("agent", "state", "exit", "commits", "result", "time", "usage", "latest output")
# Minimum widths of the status columns, so they never shrink to nothing (issue 13).
MIN_WIDTH = {"agent": 6, "state": 11, "exit": 4, "commits": 7, "result": 9, "time": 5,
             "usage": 7}  # fmt: skip
PLAIN_LATEST = 60  # characters of the latest output in the plain table


class Display(Protocol):
    def start(self, run: RunState) -> None: ...
    def event(self, run: RunState, agent: AgentState | None, message: str) -> None: ...
    def refresh(self, run: RunState) -> None: ...
    def stop(self, run: RunState) -> None: ...


def duration(seconds: float) -> str:
    seconds = int(seconds)
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


def _elapsed(agent: AgentState) -> str:
    if agent.started is None:
        return ""
    end = agent.ended if agent.ended is not None else time.time()
    return duration(end - agent.started)


def _usage(agent: AgentState) -> str:
    found = Usage.from_dict(agent.usage)
    return found.short() if found else ""


def _result(agent: AgentState) -> str:
    """The outcome, once there is one beyond the phase itself."""
    return "" if agent.outcome == agent.phase else agent.outcome


def latest_output(agent: AgentState) -> str:
    if agent.error and agent.phase != RUNNING:
        return agent.error
    return logtail.latest(Path(agent.log)) if agent.started is not None else ""


def row(agent: AgentState) -> tuple[str, ...]:
    exit_code = "" if agent.exit_code is None else str(agent.exit_code)
    return (agent.name, agent.phase, exit_code, str(agent.commits), _result(agent),
            _elapsed(agent), _usage(agent), latest_output(agent))  # fmt: skip


def totals(run: RunState) -> tuple[str, str]:
    """The footer: commits and usage over all agents."""
    used = run.usage_total()
    return str(sum(a.commits for a in run.agents)), used.short() if used else ""


def logs_line(run: RunState) -> str:
    """Where the logs are, once (relative to the repository when inside it)."""
    if not run.agents:
        return ""
    folder = Path(run.agents[0].log).parent.parent  # <runs>/<run>/<agent>/agent.log
    try:
        shown = os.path.relpath(folder, run.repo)
    except ValueError:
        shown = str(folder)
    if shown.startswith(".."):
        shown = str(folder)
    return f"logs: `gitfleet logs AGENT` (in {shown}/)"


def reasons(run: RunState) -> list[str]:
    """Why agents failed to start or land oddly: one line each, under the tables."""
    return [f"{a.name}: {a.error}" for a in run.agents if a.error]


def agent_table(run: RunState) -> Any:
    """A rich Table of the agents of ``run`` (also used by ``gitfleet status``)."""
    from rich import box
    from rich.table import Table

    commits, used = totals(run)
    table = Table(
        title=f"gitfleet run {run.run} ({run.status})",
        title_justify="left",
        caption="\n".join([*reasons(run), logs_line(run)]) or None,
        caption_justify="left",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
        padding=(0, 1, 0, 0),
        show_footer=len(run.agents) > 1,
    )
    footers = {"agent": "total", "commits": commits, "usage": used}
    for col in HEAD:
        table.add_column(
            col,
            footer=footers.get(col, ""),
            no_wrap=True,
            overflow="ellipsis",
            min_width=MIN_WIDTH.get(col),
            ratio=1 if col == "latest output" else None,
            justify="right" if col in ("exit", "commits", "time", "usage") else "left",
        )
    for agent in run.agents:
        table.add_row(*row(agent))
    return table


def plain_table(run: RunState) -> str:
    """The same table as plain aligned text, for pipes and logs."""
    rows = [HEAD] + [(*r[:-1], r[-1][:PLAIN_LATEST]) for r in map(row, run.agents)]
    if len(run.agents) > 1:
        commits, used = totals(run)
        rows.append(("total", "", "", commits, "", "", used, ""))
    widths = [max(len(r[i]) for r in rows) for i in range(len(HEAD) - 1)]
    lines = [f"gitfleet run {run.run} ({run.status})"]
    for cells in rows:
        padded = [cell.ljust(width) for cell, width in zip(cells, widths, strict=False)]
        lines.append("  ".join([*padded, cells[-1]]).rstrip())
    return "\n".join(lines + reasons(run) + [logs_line(run)]).rstrip()


class PlainDisplay:
    """One line per event: for pipes, CI logs and ``--json`` runs (on stderr then); every
    ``heartbeat`` seconds one more line per running agent with its latest output."""

    def __init__(self, stream: TextIO | None = None, heartbeat: float | None = None) -> None:
        self.stream = stream or sys.stdout
        self.heartbeat = heartbeat if heartbeat is not None else heartbeat_from_env()
        self._next_beat = time.monotonic() + self.heartbeat

    def start(self, run: RunState) -> None:
        self._line(
            f"run {run.run}: {plural(len(run.agents), 'agent')} from {run.base[:12]} "
            f"onto {run.target}"
        )

    def event(self, run: RunState, agent: AgentState | None, message: str) -> None:
        self._line(f"{agent.name}: {message}" if agent else message)

    def refresh(self, run: RunState) -> None:
        now = time.monotonic()
        if now < self._next_beat:
            return
        self._next_beat = now + self.heartbeat
        for agent in run.agents:
            if agent.phase == RUNNING:
                said = latest_output(agent)
                self._line(
                    f"{agent.name}: running {_elapsed(agent)}" + (f": {said}" if said else "")
                )

    def stop(self, run: RunState) -> None:
        pass

    def _line(self, text: str) -> None:
        print(f"gitfleet: {text}", file=self.stream, flush=True)


def heartbeat_from_env() -> float:
    try:
        return max(0.1, float(os.environ.get("GITFLEET_HEARTBEAT") or HEARTBEAT))
    except ValueError:
        return HEARTBEAT


class LiveDisplay:
    """A rich live table, redrawn on every event and a few times a second."""

    REDRAW = 0.25  # seconds: the supervisor calls refresh far more often than that

    def __init__(self) -> None:
        from rich.console import Console
        from rich.live import Live

        self.console = Console()
        self.live = Live(console=self.console, refresh_per_second=4, transient=False)
        self._drawn = 0.0

    def start(self, run: RunState) -> None:
        self.live.start()
        self._draw(run)

    def event(self, run: RunState, agent: AgentState | None, message: str) -> None:
        if agent is None:
            self.live.console.print(f"gitfleet: {message}")
        self._draw(run)

    def refresh(self, run: RunState) -> None:
        if time.monotonic() - self._drawn >= self.REDRAW:
            self._draw(run)

    def stop(self, run: RunState) -> None:
        self._draw(run)
        self.live.stop()

    def _draw(self, run: RunState) -> None:
        self._drawn = time.monotonic()
        self.live.update(agent_table(run))


def choose(json_output: bool) -> Display:
    if json_output:
        return PlainDisplay(sys.stderr)
    if sys.stdout.isatty():
        return LiveDisplay()
    return PlainDisplay(sys.stdout)
