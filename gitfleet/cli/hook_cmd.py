"""``gitfleet hook NAME``: what the installed hook shims call."""

from __future__ import annotations

import sys

import click

from gitfleet.git.repo import refuse_state_override


@click.group()
def hook() -> None:
    """Entry points for git hooks (installed by `gitfleet init`)."""


@hook.command(name="pre-commit")
def pre_commit() -> None:
    """Refuse a commit whose files claim ids wrongly or edit guarded files."""
    from gitfleet.ids import idcheck  # each hook loads its own half (benchmarks/hook_latency)

    refuse_state_override()
    _exit(idcheck.pre_commit_main([]))


@hook.command(name="pre-merge-commit")
def pre_merge_commit() -> None:
    """The same check for the commit `git merge` is about to make."""
    from gitfleet.ids import idcheck  # each hook loads its own half (benchmarks/hook_latency)

    refuse_state_override()
    _exit(idcheck.pre_commit_main([]))


@hook.command(name="pre-push", context_settings={"ignore_unknown_options": True})
@click.argument("args", nargs=-1)
def pre_push(args: tuple[str, ...]) -> None:
    """Take the push lease, check outgoing ids, refuse stale pushes."""
    from gitfleet.gate import prepush  # each hook loads its own half (benchmarks/hook_latency)

    refuse_state_override()
    _exit(prepush.main(list(args), sys.stdin))


@hook.command(name="pre-receive")
def pre_receive() -> None:
    """The server guard: refuse a received push that breaks the id rules."""
    from gitfleet.server import receive  # each hook loads its own half (benchmarks/hook_latency)

    _exit(receive.main(sys.stdin))


def _exit(code: int) -> None:
    if code:
        raise SystemExit(code)
