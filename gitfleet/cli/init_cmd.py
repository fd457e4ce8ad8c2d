"""``gitfleet init`` and ``gitfleet uninstall``."""

from __future__ import annotations

import click

from gitfleet import config, install
from gitfleet.cli import echo_json
from gitfleet.git.repo import discover


@click.command()
@click.option(
    "--series",
    "series",
    multiple=True,
    metavar="PREFIX",
    help="An id series to manage, e.g. SP for SP-152 (repeatable).",
)
@click.option(
    "--guard",
    "guarded",
    multiple=True,
    metavar="PATH",
    help="A file agents must not edit, e.g. an id counter (repeatable).",
)
@click.option(
    "--no-route",
    is_flag=True,
    help="Do not route pushes through git-remote-gitfleet (hook-only gating).",
)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def init(series: tuple[str, ...], guarded: tuple[str, ...], no_route: bool, as_json: bool) -> None:
    """Write gitfleet.toml, seed the ledger, install the hooks and route pushes."""
    result = install.init(discover(), list(series), list(guarded), route=not no_route)
    if as_json:
        echo_json(result.to_dict())
        return
    if result.config_written:
        click.echo(f"wrote {result.config_path} (review it, then commit it)")
    for name, high in result.seeded.items():
        click.echo(f"series {name}: ledger starts above {high}")
    for hook, where in result.hooks.items():
        click.echo(f"hook {hook}: {where}")
    if result.routed:
        click.echo(f"pushes routed through the queue: {result.routed}")
    if result.merge_drivers:
        click.echo(
            "merge drivers registered: "
            + ", ".join(result.merge_drivers)
            + " (opt files in with .gitattributes, e.g. `*.json merge=gitfleet`)"
        )
    for warning in result.warnings:
        click.echo(f"warning: {warning}", err=True)
    if not result.seeded:
        click.echo(
            f"no [series.*] in {config.CONFIG_NAME} yet; add one or run "
            "`gitfleet init --series PREFIX`"
        )


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def uninstall(as_json: bool) -> None:
    """Remove gitfleet's hooks and push routing, restoring what was there."""
    result = install.uninstall(discover())
    if as_json:
        echo_json(result)
        return
    for hook, where in result["hooks"].items():
        click.echo(f"hook {hook}: {'removed ' + where if where else 'not installed'}")
    click.echo(f"push routing for {result['unrouted']!r}: restored")
