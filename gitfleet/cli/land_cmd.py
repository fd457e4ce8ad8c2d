"""``gitfleet land`` and ``gitfleet queue``: parsing and printing only."""

from __future__ import annotations

from typing import Any

import click

from gitfleet import config
from gitfleet.cli import echo_json
from gitfleet.errors import Refusal, sigterm_as_interrupt
from gitfleet.git.repo import discover
from gitfleet.land import landing
from gitfleet.queue import client as gate_queue

_CHECK_HELP = (
    "Shell command run on the rebased tree before it is pushed (default: [land] check "
    "in gitfleet.toml; --check '' runs none). It is your own command, run by the shell."
)


@click.command()
@click.argument("branches", nargs=-1, required=True)
@click.option("--onto", metavar="TARGET", help="Branch to land on (default: [fleet] target).")
@click.option("--check", metavar="CMD", help=_CHECK_HELP)
@click.option(
    "--allow-config",
    is_flag=True,
    help="Let fleet branches change gitfleet.toml (read it first: its commands run as you).",
)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def land(
    branches: tuple[str, ...],
    onto: str | None,
    check: str | None,
    allow_config: bool,
    as_json: bool,
) -> None:
    """Land BRANCHES on the target one at a time: rebase, check, push.

    Each branch is rebased onto the freshly fetched target in memory, the check runs on
    exactly that tree in a scratch worktree, and the push only succeeds if the target has
    not moved meanwhile (else it is redone). Branches themselves are never changed. Exits 1
    when any branch did not land.
    """

    repo = discover()
    with sigterm_as_interrupt():  # a killed land stops its check and drops its scratch tree
        results = landing.land(
            repo,
            config.load(repo.toplevel),
            list(branches),
            onto=onto,
            check=check,
            allow_config=allow_config,
            on_event=lambda text: click.echo(f"gitfleet: {text}", err=True),
        )
    if as_json:
        echo_json([r.to_dict() for r in results])
    else:
        for result in results:
            click.echo(_describe(result))
    failed = [r.branch for r in results if not r.ok]
    if failed:
        raise Refusal(
            f"{len(failed)} of {len(results)} branches did not land: {', '.join(failed)} "
            "(see above); fix them and run `gitfleet land` again"
        )


def _describe(result: Any) -> str:
    # "landed feat on main" already says the status: no "landed: landed" (issue 13).
    said = result.message.startswith(result.status)
    lines = [f"{result.branch}: " + ("" if said else f"{result.status}: ") + result.message]
    if result.check_output and not result.ok:
        tail = result.check_output.rstrip().splitlines()[-40:]
        lines += ["  check output (last lines):", *(f"    {line}" for line in tail)]
    return "\n".join(lines)


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def queue(as_json: bool) -> None:
    """Per target ref: who holds the lease, who waits, and the recent results."""

    snapshot = gate_queue.snapshot(discover())
    if as_json:
        echo_json(snapshot)
        return
    click.echo(format_snapshot(snapshot))


def format_snapshot(snapshot: dict[str, Any]) -> str:
    """The queue as lines a person reads."""
    daemon = snapshot.get("daemon")
    head = f"queue daemon: pid {daemon.get('pid')}" if daemon else "queue daemon: not running"
    out = [head]
    entries = snapshot.get("queues", [])
    if not entries:
        out.append("no leases, nothing waiting, no recent results")
    for entry in entries:
        out.append(f"{entry.get('ref')} on {entry.get('remote')}")
        holder = entry.get("holder")
        out.append(f"  holder:  {_who(holder) if holder else '-'}")
        for waiter in entry.get("waiting", []):
            out.append(f"  waiting: {_who(waiter)}")
        for result in entry.get("recent", [])[-5:]:
            what = result.get("branch") or result.get("label") or ""
            first = (result.get("message") or "").split("\n")[0].split("; ")[0]
            out.append(f"  recent:  {result.get('status', '?')} {what}: {first}")
    return "\n".join(out)


def _who(lease: dict[str, Any]) -> str:
    pids = ",".join(str(p) for p in lease.get("pids", []))
    token = lease.get("token")
    return f"{lease.get('label') or '?'} (pid {pids or '?'}, token {token or '-'})"
