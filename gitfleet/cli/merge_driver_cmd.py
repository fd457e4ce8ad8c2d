"""``gitfleet merge-driver``: the synthesis rungs as a git merge driver (parsing only)."""

from __future__ import annotations

from pathlib import Path

import click

_FILE = click.Path(exists=True, dir_okay=False, path_type=Path)


@click.command("merge-driver")
@click.argument("base", type=_FILE)
@click.argument("ours", type=_FILE)
@click.argument("theirs", type=_FILE)
@click.argument("path")
@click.option(
    "--as",
    "kind",
    type=click.Choice(["json", "yaml", "toml"]),
    help="Merge as this format whatever the file's name says.",
)
def merge_driver(base: Path, ours: Path, theirs: Path, path: str, kind: str | None) -> None:
    """Merge a file for git: BASE OURS THEIRS are git's %O %A %B, PATH its %P.

    Runs the structured (JSON/YAML/TOML by value) and lines (both sides only inserted)
    rungs; writes the result into OURS and exits 0, or leaves git's conflict markers there
    and exits 1 with each rung's reason. `gitfleet init` registers it as the `gitfleet`
    merge driver; opt files in with `.gitattributes` lines such as `*.json merge=gitfleet`.
    """
    from gitfleet.synthesis import driver

    reasons = driver.merge_files(base, ours, theirs, path, kind)
    if reasons:
        click.echo(f"gitfleet merge-driver: {path} stays conflicted:", err=True)
        for reason in reasons:
            click.echo(f"  {reason}", err=True)
        raise click.exceptions.Exit(1)
