"""``gitfleet doctor`` and ``gitfleet completion``: parsing and printing only."""

from __future__ import annotations

import click
from click.shell_completion import get_completion_class

from gitfleet import doctor as doctor_checks
from gitfleet.cli import cli, echo_json
from gitfleet.errors import Refusal
from gitfleet.git.repo import discover


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def doctor(as_json: bool) -> None:
    """Check the set-up (git, identity, config, hooks, push routing, daemon, agent CLIs) and
    say how to fix each problem. Exits 1 when something needs fixing."""
    found = doctor_checks.diagnose(discover())
    if as_json:
        echo_json([f.to_dict() for f in found])
    else:
        for f in found:
            click.echo(f"{'ok ' if f.ok else 'FIX'}  {f.check}: {f.seen}")
            if not f.ok and f.fix:
                click.echo(f"     -> {f.fix}")
    problems = [f for f in found if not f.ok]
    if problems:
        raise Refusal(f"{len(problems)} problem(s) to fix, each with its fix above")


_SHELLS = {"bash": "bash_source", "zsh": "zsh_source", "fish": "fish_source"}


@click.command()
@click.argument("shell", type=click.Choice(sorted(_SHELLS)))
def completion(shell: str) -> None:
    """Print the completion script for SHELL; e.g. add to ~/.bashrc:

    eval "$(gitfleet completion bash)"
    """
    cls = get_completion_class(shell)
    assert cls is not None  # every choice is a shell click knows
    script = cls(cli, {}, "gitfleet", "_GITFLEET_COMPLETE").source()
    click.echo(script)
