"""``gitfleet ids``: allocate, list, show, release, export."""

from __future__ import annotations

import sys

import click

from gitfleet.cli import complete, echo_json
from gitfleet.ids import verbs as ids_api
from gitfleet.ids.ledger import IdState
from gitfleet.ids.remote import migrate as migrate_ledger

_context = ids_api.here


@click.group(name="ids")
def ids() -> None:
    """Allocate and inspect ids from the ledger."""


@ids.command()
@click.argument("series", shell_complete=complete.series)
@click.option(
    "-n",
    "--count",
    default=1,
    show_default=True,
    type=click.IntRange(1, 100000),
    help="How many contiguous ids to allocate in one transaction.",
)
@click.option("--owner", help="Owner of the ids (default: this worktree's branch).")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def allocate(series: str, count: int, owner: str | None, as_json: bool) -> None:
    """Allocate COUNT new ids of SERIES; prints one per line."""
    repo, cfg = _context()
    got = ids_api.allocate(repo, cfg, series, count, owner)
    click.echo(ids_api.allocation_text(repo, series, owner, got, as_json))


def _line(state: IdState) -> str:
    return f"{state.id}\t{state.status}\t{state.owner or '-'}"


@ids.command(name="list")
@click.argument("series", required=False, shell_complete=complete.series)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def list_(series: str | None, as_json: bool) -> None:
    """List allocated ids (id, state, owner)."""
    repo, cfg = _context()
    states = ids_api.list_ids(repo, cfg, series)
    if as_json:
        echo_json([s.to_dict() for s in states])
        return
    if sys.stdout.isatty():  # people get a header; pipes get the bare tab-separated rows
        click.echo("ID\tSTATE\tOWNER")
    if states:
        click.echo("\n".join(_line(s) for s in states))
    elif sys.stdout.isatty():
        click.echo("(no ids yet: `gitfleet ids allocate SERIES`)")


@ids.command()
def recover() -> None:
    """Start a new local ledger above the marks a lost one left (never reissues an id)."""
    repo, cfg = _context()
    marks = ids_api.recover(repo, cfg)
    above = ", ".join(f"{s} above {n}" for s, n in sorted(marks.items())) or "no series yet"
    click.echo(f"a new ledger continues {above}")


@ids.command()
def export() -> None:
    """Print every ledger record, oldest first, as JSON lines (a backup, or for tools)."""
    repo, cfg = _context()
    for record in ids_api.open_ledger(repo, cfg).backend.read():
        click.echo(record.to_json())


@ids.command()
@click.argument("ident", metavar="ID", shell_complete=complete.ids)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def show(ident: str, as_json: bool) -> None:
    """Show one id's state and owner."""
    repo, cfg = _context()
    state = ids_api.show(repo, cfg, ident)
    if as_json:
        echo_json(state.to_dict())
    else:
        click.echo(_line(state))


@ids.command()
@click.argument("idents", metavar="ID...", nargs=-1, required=True)
@click.option("--force", is_flag=True, help="Release even ids that a commit claims.")
def release(idents: tuple[str, ...], force: bool) -> None:
    """Give ids back; they are never reissued."""
    repo, cfg = _context()
    for ident in ids_api.release(repo, cfg, list(idents), force=force):
        click.echo(f"released {ident}")


@ids.command()
@click.option(
    "--to",
    "to",
    required=True,
    type=click.Choice(["remote", "local"]),
    help="The backend to move the ledger to (from the other one).",
)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def migrate(to: str, as_json: bool) -> None:
    """Copy every ledger record to the other backend; never loses or reissues an id."""

    repo, cfg = _context()
    result = migrate_ledger(repo, cfg, to)
    if as_json:
        echo_json(result.to_dict())
    else:
        marks = ", ".join(f"{s} up to {n}" for s, n in result.high_water.items()) or "no ids"
        click.echo(
            f"copied {result.copied} records from the {result.source} ledger "
            f"({result.already_there} already there); {marks}\n{result.next_step}"
        )
