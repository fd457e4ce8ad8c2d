"""``gitfleet server install|uninstall|shim`` and ``gitfleet check``: the server guard."""

from __future__ import annotations

from pathlib import Path

import click

from gitfleet.cli import echo_json
from gitfleet.errors import Refusal
from gitfleet.git.repo import discover
from gitfleet.server import installer
from gitfleet.server.bare import open_bare
from gitfleet.server.ci import check_range


@click.group()
def server() -> None:
    """The server guard: a pre-receive hook for a repository that receives pushes."""


@server.command()
@click.argument("repository", type=click.Path(path_type=Path))
@click.option(
    "--hook",
    "hook_path",
    type=click.Path(path_type=Path),
    help="Write the shim here instead (e.g. a global custom_hooks/pre-receive.d/ file).",
)
@click.option("--json", "as_json", is_flag=True, help="Print what changed as JSON.")
def install(repository: Path, hook_path: Path | None, as_json: bool) -> None:
    """Install the pre-receive guard into REPOSITORY (a bare repository on this machine)."""
    done = installer.install(open_bare(repository), hook_path)
    if as_json:
        echo_json(done)
        return
    click.echo(f"installed the gitfleet guard as {done['hook']}")
    if done["chained"]:
        click.echo(f"  the hook that was there runs after it: {done['chained']}")


@server.command()
@click.argument("repository", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print what changed as JSON.")
def uninstall(repository: Path, as_json: bool) -> None:
    """Remove the guard from REPOSITORY and put back the hook that was there."""
    done = installer.uninstall(open_bare(repository))
    if as_json:
        echo_json(done)
    elif done["hook"] is None:
        click.echo("the gitfleet guard is not installed there; nothing to do")
    else:
        click.echo(f"removed the gitfleet guard ({done['hook']})")
        if done["restored"]:
            click.echo(f"  restored the hook that was there: {done['restored']}")


@server.command()
def shim() -> None:
    """Print the hook shim, for hosts that install hooks themselves (GitLab's
    `gitaly hooks set` takes a tarball of custom_hooks/pre-receive)."""
    click.echo(installer.shim_text(), nl=False)


@click.command()
@click.argument("rev_range", required=False, metavar="[REV-RANGE]")
@click.option(
    "--owner",
    help="Judge ownership as this branch (default: the current branch, else $GITHUB_HEAD_REF).",
)
def check(rev_range: str | None, owner: str | None) -> None:
    """Check the commits in REV-RANGE (default: the target's remote-tracking ref..HEAD)
    against the id rules, as the server guard would: for CI. Exit 1 on findings."""
    result = check_range(discover(), rev_range, owner)
    if result.findings:
        body = "\n".join(f"  - {p}" for p in result.findings)
        raise Refusal(f"{result.range} (as {result.branch}) breaks the id rules:\n{body}")
    click.echo(f"{result.range} (as {result.branch}): no id problems")
