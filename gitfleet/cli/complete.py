"""Dynamic shell completion (``gitfleet completion SHELL``): series, ids, agents, runs.

Each completer answers from the repository around the current folder and answers nothing,
never an error, where there is none: a shell is typing, not asking for a diagnosis.
"""

from __future__ import annotations

import contextlib

import click
from click.shell_completion import CompletionItem

from gitfleet import config
from gitfleet.errors import GitfleetError
from gitfleet.fleet import agents, runstate
from gitfleet.git.repo import discover
from gitfleet.ids import verbs


def series(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[CompletionItem]:
    with contextlib.suppress(GitfleetError, OSError):
        cfg = config.load(discover().toplevel)
        return [
            CompletionItem(s.prefix) for s in cfg.series.values() if s.prefix.startswith(incomplete)
        ]
    return []


def ids(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[CompletionItem]:
    with contextlib.suppress(GitfleetError, OSError):
        repo = discover()
        states = verbs.open_ledger(repo, config.load(repo.toplevel)).states()
        return [
            CompletionItem(i, help=s.status) for i, s in states.items() if i.startswith(incomplete)
        ]
    return []


def agent_presets(
    ctx: click.Context, param: click.Parameter, incomplete: str
) -> list[CompletionItem]:
    with contextlib.suppress(GitfleetError, OSError):
        cfg = config.load(discover().toplevel)
        return [CompletionItem(n) for n in agents.known_presets(cfg) if n.startswith(incomplete)]
    return []


def runs(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[CompletionItem]:
    with contextlib.suppress(GitfleetError, OSError):
        found = runstate.load_all(discover())
        return [CompletionItem(r.run, help=r.status) for r in found if r.run.startswith(incomplete)]
    return []


def agents_of_run(
    ctx: click.Context, param: click.Parameter, incomplete: str
) -> list[CompletionItem]:
    """The agents of the newest run (``logs AGENT``, ``resolve AGENT``)."""
    with contextlib.suppress(GitfleetError, OSError):
        found = runstate.load_all(discover())
        newest = max(found, key=lambda r: r.created) if found else None
        names = [a.name for a in newest.agents] if newest else []
        return [CompletionItem(n) for n in names if n.startswith(incomplete)]
    return []
