"""Showing a run while it happens: a live table in a terminal, one line per event elsewhere."""

from __future__ import annotations

import sys
import time
from typing import Any, Protocol, TextIO

from gitfleet.fleet.runstate import AgentState, RunState


class Display(Protocol):
    def start(self, run: RunState) -> None: ...
    def event(self, run: RunState, agent: AgentState | None, message: str) -> None: ...
    def refresh(self, run: RunState) -> None: ...
    def stop(self, run: RunState) -> None: ...


def _elapsed(agent: AgentState) -> str:
    if agent.started is None:
        return ""
    end = agent.ended if agent.ended is not None else time.time()
    return f"{end - agent.started:.0f}s"


def reasons(run: RunState) -> list[str]:
    """Why agents failed to start or land oddly: one line each, under the tables."""
    return [f"{a.name}: {a.error}" for a in run.agents if a.error]


def agent_table(run: RunState) -> Any:
    """A rich Table of the agents of ``run`` (also used by ``gitfleet status``)."""
    from rich.table import Table

    table = Table(
        title=f"gitfleet run {run.run} ({run.status})",
        title_justify="left",
        caption="\n".join(reasons(run)) or None,
        caption_justify="left",
    )
    for col in ("agent", "id", "branch", "state", "exit", "commits", "result", "time", "log"):
        table.add_column(col, no_wrap=col in ("agent", "id", "branch", "log"))
    for a in run.agents:
        table.add_row(
            a.name,
            a.id or "-",
            a.branch,
            a.phase,
            "" if a.exit_code is None else str(a.exit_code),
            str(a.commits),
            a.outcome,
            _elapsed(a),
            a.log,
        )
    return table


def plain_table(run: RunState) -> str:
    """The same table as plain aligned text, for pipes and logs (nothing truncated)."""
    head = ("agent", "id", "branch", "state", "exit", "commits", "result", "time", "log")
    rows = [head] + [
        (a.name, a.id or "-", a.branch, a.phase, "" if a.exit_code is None else str(a.exit_code),
         str(a.commits), a.outcome, _elapsed(a), a.log)
        for a in run.agents
    ]  # fmt: skip
    widths = [max(len(r[i]) for r in rows) for i in range(len(head) - 1)]
    lines = [f"gitfleet run {run.run} ({run.status})"]
    for row in rows:
        cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=False)]
        lines.append("  ".join([*cells, row[-1]]).rstrip())
    return "\n".join(lines + reasons(run))


class PlainDisplay:
    """One line per event: for pipes, CI logs and ``--json`` runs (on stderr then)."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stdout

    def start(self, run: RunState) -> None:
        self._line(
            f"run {run.run}: {len(run.agents)} agents from {run.base[:12]} onto {run.target}"
        )

    def event(self, run: RunState, agent: AgentState | None, message: str) -> None:
        self._line(f"{agent.name}: {message}" if agent else message)

    def refresh(self, run: RunState) -> None:
        pass

    def stop(self, run: RunState) -> None:
        pass

    def _line(self, text: str) -> None:
        print(f"gitfleet: {text}", file=self.stream, flush=True)


class LiveDisplay:
    """A rich live table, redrawn on every event and a few times a second."""

    def __init__(self) -> None:
        from rich.console import Console
        from rich.live import Live

        self.console = Console()
        self.live = Live(console=self.console, refresh_per_second=4, transient=False)

    def start(self, run: RunState) -> None:
        self.live.start()
        self.refresh(run)

    def event(self, run: RunState, agent: AgentState | None, message: str) -> None:
        if agent is None:
            self.live.console.print(f"gitfleet: {message}")
        self.refresh(run)

    def refresh(self, run: RunState) -> None:
        self.live.update(agent_table(run))

    def stop(self, run: RunState) -> None:
        self.refresh(run)
        self.live.stop()


def choose(json_output: bool) -> Display:
    if json_output:
        return PlainDisplay(sys.stderr)
    if sys.stdout.isatty():
        return LiveDisplay()
    return PlainDisplay(sys.stdout)
