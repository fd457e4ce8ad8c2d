"""``gitfleet demo``: parsing only."""

from __future__ import annotations

import click

from gitfleet.cli import echo_json
from gitfleet.fleet import demo as demo_mod
from gitfleet.fleet.words import plural


@click.command()
@click.option(
    "--agents",
    type=click.IntRange(min=2, max=30),
    default=9,
    show_default=True,
    help="How many agents the evening has.",
)
@click.option("--keep", is_flag=True, help="Keep the temp folder to look around in.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def demo(agents: int, keep: bool, as_json: bool) -> None:
    """Replay the story's evening offline: nine agents without, then with gitfleet."""

    if not as_json:
        click.echo(f"Replaying the evening with {agents} agents in a temp folder (offline)...")
    result = demo_mod.demo(agents, keep=keep, progress=None if as_json else click.echo)
    if as_json:
        echo_json(result.to_dict())
        return
    click.echo(demo_mod.table(result.without, result.with_))
    click.echo(
        f"\nWithout gitfleet {plural(result.without.distinct_ids, 'distinct id')} went to "
        f"{plural(agents, 'article')} and "
        f"{plural(result.without.refused_pushes, 'push', 'pushes')} "
        f"{'was' if result.without.refused_pushes == 1 else 'were'} refused; with it, "
        f"{plural(result.with_.distinct_ids, 'id')}, "
        f"{plural(result.with_.articles_landed, 'article')} landed."
    )
    if result.folder:
        click.echo(f"kept: {result.folder}")
