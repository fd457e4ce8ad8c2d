"""The command line: parsing only. Each verb lives in ``gitfleet/cli/<verb>_cmd.py`` and
calls one plain function of the package; subcommands are imported only when used so that
``gitfleet hook ...`` and ``gitfleet ids allocate`` start fast.
"""

from __future__ import annotations

import importlib
import json
from typing import Any

import click

from gitfleet import __version__

# verb -> "module:attribute" of its click command
COMMANDS = {
    "init": "gitfleet.cli.init_cmd:init",
    "uninstall": "gitfleet.cli.init_cmd:uninstall",
    "ids": "gitfleet.cli.ids_cmd:ids",
    "hook": "gitfleet.cli.hook_cmd:hook",
    "daemon": "gitfleet.cli.daemon_cmd:daemon",
    "land": "gitfleet.cli.land_cmd:land",
    "merge-driver": "gitfleet.cli.merge_driver_cmd:merge_driver",
    "queue": "gitfleet.cli.land_cmd:queue",
    "spawn": "gitfleet.cli.fleet_cmd:spawn",
    "status": "gitfleet.cli.fleet_cmd:status",
    "resolve": "gitfleet.cli.fleet_cmd:resolve",
    "logs": "gitfleet.cli.fleet_cmd:logs",
    "clean": "gitfleet.cli.fleet_cmd:clean",
    "report": "gitfleet.cli.fleet_cmd:report",
    "demo": "gitfleet.cli.demo_cmd:demo",
    "context": "gitfleet.cli.context_cmd:context",
    "doctor": "gitfleet.cli.doctor_cmd:doctor",
    "completion": "gitfleet.cli.doctor_cmd:completion",
    "server": "gitfleet.cli.server_cmd:server",
    "check": "gitfleet.cli.server_cmd:check",
}


class LazyGroup(click.Group):
    """A group whose subcommands are imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = COMMANDS.get(cmd_name)
        if target is None:
            return None
        module_name, attr = target.split(":")
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name != module_name:
                raise
            return None
        command: click.Command = getattr(module, attr)
        return command


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="gitfleet")
def cli() -> None:
    """Run many coding agents in one git repository without collisions.

    Ids are allocated atomically from a ledger, pushes land one at a time through a local
    queue, and every agent works in its own worktree and branch.
    """


def run(args: list[str]) -> int:
    """Run the CLI with our error boundary in charge of exit codes."""
    try:
        # Without standalone mode click returns (not raises) the code of `ctx.exit(n)` and
        # of `raise Exit(n)`; commands use either to say "refused".
        code = cli.main(args=args, prog_name="gitfleet", standalone_mode=False)
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except click.exceptions.Abort:
        raise KeyboardInterrupt from None
    except click.exceptions.ClickException as exc:
        exc.show()
        return exc.exit_code
    return code if isinstance(code, int) else 0


def echo_json(data: Any) -> None:
    """Print ``data`` as indented JSON, the machine-readable form of every verb."""

    click.echo(json.dumps(data, indent=2, sort_keys=False))
