"""Console-script entry points. Hook verbs take a fast path that skips click entirely:
they run on every commit and push, and importing click alone costs more than python's start.
"""

from __future__ import annotations

import sys

from gitfleet.errors import boundary

_COMMIT_HOOKS = (["hook", "pre-commit"], ["hook", "pre-merge-commit"])


def _dispatch(args: list[str]) -> int | None:
    if args[:2] in _COMMIT_HOOKS:
        from gitfleet import idcheck

        return idcheck.pre_commit_main(args[2:])
    if args[:2] == ["hook", "pre-push"]:
        from gitfleet.gate import prepush

        return prepush.main(args[2:], sys.stdin)
    from gitfleet.cli import run

    return run(args)


def main(argv: list[str] | None = None) -> None:
    args = list(sys.argv[1:] if argv is None else argv)
    boundary(lambda: _dispatch(args))


def _remote_helper() -> int:
    from gitfleet.gate import remote_helper

    return remote_helper.main(sys.argv[1:], sys.stdin, sys.stdout)


def remote_helper_main() -> None:
    """``git-remote-gitfleet``: git runs it for push URLs of the form ``gitfleet::<url>``."""
    boundary(_remote_helper)
