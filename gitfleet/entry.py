"""Console-script entry points: ``gitfleet`` and ``git-remote-gitfleet``."""

from __future__ import annotations

import sys

from gitfleet.cli import run
from gitfleet.errors import boundary
from gitfleet.gate import helper


def main(argv: list[str] | None = None) -> None:
    """``gitfleet``: every verb, the hooks' included, goes through the click CLI."""
    args = list(sys.argv[1:] if argv is None else argv)
    boundary(lambda: run(args))


def remote_helper_main() -> None:
    """``git-remote-gitfleet``: git runs it for push URLs of the form ``gitfleet::<url>``."""
    boundary(lambda: helper.main(sys.argv[1:], sys.stdin, sys.stdout))
