"""``gitfleet demo``: parsing only."""

from __future__ import annotations

import click

from gitfleet.cli import echo_json
from gitfleet.fleet import demo as demo_mod


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
    result = demo_mod.demo(agents, keep=keep)
    if as_json:
        echo_json(result.to_dict())
        return
    click.echo(demo_mod.table(result.without, result.with_))
    click.echo(
        f"\nWithout gitfleet {result.without.distinct_ids} distinct ids went to {agents} "
        f"articles and {result.without.refused_pushes} pushes were refused; with it, "
        f"{result.with_.distinct_ids} ids, {result.with_.articles_landed} articles landed."
    )
    if result.folder:
        click.echo(f"kept: {result.folder}")
