"""``gitfleet daemon start|stop|status``: the per-repository push queue daemon by hand.

Nobody has to run these: every client starts the daemon when it needs one, and it exits
after ``[daemon] idle_exit`` seconds without work.
"""

from __future__ import annotations

import click

from gitfleet.cli import echo_json
from gitfleet.git.repo import discover
from gitfleet.queue import client


@click.group(name="daemon")
def daemon() -> None:
    """Start, stop or inspect this repository's push queue daemon."""


@daemon.command()
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def start(as_json: bool) -> None:
    """Start the daemon (a no-op when one already runs)."""
    found = client.ensure_daemon(discover())
    if as_json:
        echo_json(found)
    else:
        click.echo(f"queue daemon running: pid {found['pid']}, socket {found['socket']}")


@daemon.command()
def stop() -> None:
    """Stop the daemon; leases of live pushes survive in its state file."""
    pid = client.stop_daemon(discover())
    click.echo("no queue daemon was running" if pid is None else f"stopped queue daemon {pid}")


@daemon.command()
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def status(as_json: bool) -> None:
    """Whether the daemon runs, with its pid, socket and lease counts."""
    found = client.status(discover())
    if as_json:
        echo_json({"running": found is not None, **(found or {})})
    elif found is None:
        click.echo("no queue daemon running (the next push starts one)")
    else:
        click.echo(
            f"queue daemon running: pid {found['pid']}, socket {found['socket']}, "
            f"{found['leases']} lease(s) held, {found['waiting']} waiting"
        )
