"""Console-script entry points. Hook verbs take a fast path that skips click entirely:
they run on every commit and push, and importing click alone costs more than python's start.
"""

from __future__ import annotations

import sys

from gitfleet.errors import boundary


def main(argv: list[str] | None = None) -> None:
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:2] in (["hook", "pre-commit"], ["hook", "pre-merge-commit"]):
        from gitfleet import idcheck

        boundary(lambda: idcheck.pre_commit_main(args[2:]))
    if args[:2] == ["hook", "pre-push"]:
        from gitfleet.gate import prepush

        boundary(lambda: prepush.main(args[2:], sys.stdin))

    from gitfleet.cli import run

    boundary(lambda: run(args))


def remote_helper_main() -> None:
    """``git-remote-gitfleet``: git runs it for push URLs of the form ``gitfleet::<url>``."""
    from gitfleet.gate import remote_helper

    boundary(lambda: remote_helper.main(sys.argv[1:], sys.stdin, sys.stdout))
