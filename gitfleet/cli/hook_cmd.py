"""``gitfleet hook NAME``: what the installed hook shims call.

Normally reached through the fast path in ``gitfleet.entry`` (no click import); this
click form exists for ``--help`` and for callers that go through the full CLI.
"""

from __future__ import annotations

import sys

import click


@click.group()
def hook() -> None:
    """Entry points for git hooks (installed by `gitfleet init`)."""


@hook.command(name="pre-commit")
def pre_commit() -> None:
    """Refuse a commit whose files claim ids wrongly or edit guarded files."""
    from gitfleet import idcheck

    idcheck.pre_commit_main([])


@hook.command(name="pre-merge-commit")
def pre_merge_commit() -> None:
    """The same check for the commit `git merge` is about to make."""
    from gitfleet import idcheck

    idcheck.pre_commit_main([])


@hook.command(name="pre-push", context_settings={"ignore_unknown_options": True})
@click.argument("args", nargs=-1)
def pre_push(args: tuple[str, ...]) -> None:
    """Take the push lease, check outgoing ids, refuse stale pushes."""
    from gitfleet.gate import prepush

    code = prepush.main(list(args), sys.stdin)
    if code:
        raise SystemExit(code)
