"""``gitfleet spawn``, ``status``, ``logs``, ``clean`` and ``report``: parsing only."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from gitfleet import config
from gitfleet.cli import complete, echo_json
from gitfleet.errors import Refusal
from gitfleet.fleet import clean as clean_mod
from gitfleet.fleet import display, lander, runstate
from gitfleet.fleet import report as report_mod
from gitfleet.fleet import spawn as spawn_mod
from gitfleet.fleet import status as status_mod
from gitfleet.fleet.agents import PLACEHOLDERS, PRESETS
from gitfleet.fleet.display import agent_table, plain_table
from gitfleet.fleet.runstate import RunState
from gitfleet.git.repo import discover


def _print_report(run_state: RunState, as_json: bool, summary: bool = True) -> bool:
    """Print the run's report (with Claude's summary when a key is set); True if all landed."""

    repo = discover()
    rep = report_mod.build(repo, config.load(repo.toplevel), run_state)
    if summary:
        rep = report_mod.with_summary(rep)
    if as_json:
        echo_json(rep.to_dict())
    else:
        click.echo(report_mod.render_text(rep))
        for warning in rep.warnings:
            click.echo(f"gitfleet: warning: {warning}", err=True)
    return rep.succeeded


SPAWN_EPILOG = f"""\b
Examples:
  gitfleet spawn 3 --agent claude --task "Write article {{id}} about tides"
  gitfleet spawn 4 --agent aider --tasks tasks.txt --max-parallel 2
  gitfleet spawn 2 --agent-cmd "my-agent --brief {{brief}}" --no-land

\b
Placeholders, filled in per argument of --agent-cmd and [agents.NAME] argv:
  {", ".join("{" + p + "}" for p in PLACEHOLDERS)}
  ({{prompt}} is the whole brief, {{brief}} its path, {{gitdir}} the worktree's git
  dir, {{commondir}} the repository's; --task takes {{id}} {{branch}}
  {{worktree}} {{run}}). Each agent's environment also has GITFLEET_ID,
  GITFLEET_BRIEF, GITFLEET_BRANCH, GITFLEET_WORKTREE, GITFLEET_RUN, GITFLEET_AGENT.
"""


@click.command(epilog=SPAWN_EPILOG)
@click.argument("count", type=click.IntRange(min=1), metavar="N")
@click.option("--series", metavar="S", help="Id series to allocate from (default: the only one).")
@click.option(
    "--task",
    metavar="TEMPLATE",
    help="Task of every agent; {id} {branch} {worktree} {run} are filled in.",
)
@click.option(
    "--tasks",
    "tasks_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="File of N tasks: one per line, or separated by lines of ---.",
)
@click.option(
    "--agent",
    metavar="PRESET",
    shell_complete=complete.agent_presets,
    help=f"{', '.join(sorted(PRESETS))}, or an [agents.NAME] of gitfleet.toml.",
)
@click.option(
    "--agent-cmd",
    metavar="CMD",
    help="Agent command, split like a shell would (placeholders below).",
)
@click.option(
    "--max-parallel",
    type=click.IntRange(min=1),
    metavar="K",
    help="Agents at once (default: all N).",
)
@click.option(
    "--timeout",
    type=click.FloatRange(min=0, min_open=True),
    metavar="SECONDS",
    help="Stop an agent (and all it started) after this long (default: never).",
)
@click.option("--base", metavar="REF", help="Start the branches here (default: the fresh target).")
@click.option(
    "--land/--no-land", default=True, show_default=True, help="Land each finished agent's commits."
)
@click.option("--context", is_flag=True, help="Put a context pack for the task into each brief.")
@click.option(
    "--resolve-attempts",
    type=click.IntRange(min=0),
    default=1,
    show_default=True,
    metavar="N",
    help="Times a conflict goes back to its agent (the agent rung of [land] resolve).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the final report as JSON.")
def spawn(
    count: int,
    series: str | None,
    task: str | None,
    tasks_file: Path | None,
    agent: str | None,
    agent_cmd: str | None,
    max_parallel: int | None,
    timeout: float | None,
    base: str | None,
    land: bool,
    context: bool,
    resolve_attempts: int,
    as_json: bool,
) -> None:
    """Run N agents, each in its own worktree with its id allocated, and land their work."""

    repo = discover()
    cfg = config.load(repo.toplevel)
    many = count > cfg.max_agents and sys.stdin.isatty() and sys.stdout.isatty()
    if many:
        click.confirm(
            f"Spawn {count} agents, more than [spawn] max_agents ({cfg.max_agents})?", abort=True
        )
    opts = spawn_mod.SpawnOptions(
        count=count, task=task, tasks_file=tasks_file, agent=agent, agent_cmd=agent_cmd,
        series=series, max_parallel=max_parallel, timeout=timeout, base=base, land=land,
        context=context, resolve_attempts=resolve_attempts, allow_many=many,
    )  # fmt: skip
    started: list[RunState] = []
    try:
        state = spawn_mod.spawn(repo, cfg, opts, display.choose(as_json), started.append)
    except KeyboardInterrupt:
        if started:  # show where the interrupted run stands, then exit 130
            _print_report(started[0], as_json, summary=False)
        raise
    all_landed = _print_report(state, as_json)
    hint = lander.pull_hint(repo, cfg, state.target) if state.land and not as_json else None
    if hint:
        click.echo(f"gitfleet: {hint}")
    if not all_landed:
        raise Refusal(
            f"not every agent of run {state.run} landed (see above); inspect with "
            f"`gitfleet logs AGENT`, clean up with `gitfleet clean {state.run}`"
        )
    if not as_json:
        click.echo(f"worktrees are kept for a look; remove them with `gitfleet clean {state.run}`")


@click.command()
@click.argument("agent", shell_complete=complete.agents_of_run)
@click.argument("run", required=False, shell_complete=complete.runs)
@click.option(
    "--attempts", type=click.IntRange(min=1), default=1, show_default=True, metavar="N",
    help="Times to hand the conflict back before giving up.",
)  # fmt: skip
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def resolve(agent: str, run: str | None, attempts: int, as_json: bool) -> None:
    """Hand AGENT's conflict back to it again (default: the newest run), then land it.

    Its worktree is rebased onto the fresh target (or its rebase in progress is kept), its
    command runs again with GITFLEET_RESOLVE=1 and a brief saying what conflicts, and its
    branch is landed through the queue once it finishes the rebase.
    """
    from gitfleet.fleet import handback

    repo = discover()
    result = handback.resolve(repo, config.load(repo.toplevel), agent, run, attempts)
    if as_json:
        echo_json(result.to_dict())
    else:
        click.echo(f"{result.branch}: {result.status}: {result.message}")
    if not result.ok:
        raise Refusal(f"{agent} did not land; see above")


@click.command()
@click.argument("run", required=False, shell_complete=complete.runs)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.option("--watch", is_flag=True, help="Keep showing the run until it ends.")
def status(run: str | None, as_json: bool, watch: bool) -> None:
    """Show a run's agents (default: the newest run)."""

    repo = discover()
    state = status_mod.current(repo, run)
    if as_json:
        echo_json(state.to_dict())
        return
    if not sys.stdout.isatty():
        click.echo(plain_table(state))
        if watch:
            status_mod.watch(repo, state, lambda newer: click.echo(plain_table(newer)))
        return
    from rich.console import Console
    from rich.live import Live

    console = Console()
    if not watch:
        console.print(agent_table(state))
        return
    with Live(agent_table(state), console=console, refresh_per_second=2) as live:
        status_mod.watch(repo, state, lambda newer: live.update(agent_table(newer)))


@click.command()
@click.argument("agent", shell_complete=complete.agents_of_run)
@click.option("--run", metavar="RUN", help="The run (default: the newest run with that agent).")
@click.option("-f", "--follow", is_flag=True, help="Keep printing while the agent runs.")
def logs(agent: str, run: str | None, follow: bool) -> None:
    """Print an agent's log (AGENT is its id, name or branch)."""

    repo = discover()
    state, found = status_mod.find_agent(repo, agent, run)
    path = Path(found.log)
    if follow:
        status_mod.follow(
            path, sys.stdout, lambda: status_mod.agent_running(repo, state.run, found.name)
        )
    else:
        status_mod.print_log(path, sys.stdout, found)


@click.command()
@click.argument("run", required=False, shell_complete=complete.runs)
@click.option("--all", "all_runs", is_flag=True, help="Clean every run.")
@click.option("--force", is_flag=True, help="Also drop unlanded commits and uncommitted changes.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def clean(run: str | None, all_runs: bool, force: bool, as_json: bool) -> None:
    """Remove landed worktrees and branches of a run and release ids never claimed."""

    repo = discover()
    result = clean_mod.clean(repo, config.load(repo.toplevel), run, all_runs=all_runs, force=force)
    if as_json:
        echo_json(result.to_dict())
    else:
        for branch in result.removed:
            click.echo(f"removed {branch} and its worktree")
        if result.released:
            click.echo(f"released {', '.join(result.released)}")
        for run_id in result.runs_removed:
            click.echo(f"run {run_id} cleaned")
    if result.kept:
        lines = "\n".join(f"  - {why}" for why in result.kept)
        raise Refusal(
            f"kept {len(result.kept)} agent(s) with work that has not landed:\n{lines}\n"
            "  commit what is uncommitted in its worktree, land its branch "
            "(`gitfleet land <branch>`), or drop it all with `gitfleet clean --force`"
        )


@click.command()
@click.argument("run", required=False, shell_complete=complete.runs)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def report(run: str | None, as_json: bool) -> None:
    """What a run produced: ids, commits, diffstat, landing, conflicts (and a summary)."""

    repo = discover()
    _print_report(runstate.load(repo, run), as_json)
