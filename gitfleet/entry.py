"""Console-script entry points: ``gitfleet`` here; ``git-remote-gitfleet`` is
:func:`gitfleet.gate.helper.entry`, so neither process imports the other's half."""

from __future__ import annotations

import sys

from gitfleet.cli import run
from gitfleet.errors import boundary


def main(argv: list[str] | None = None) -> None:
    """``gitfleet``: every verb, the hooks' included, goes through the click CLI."""
    args = list(sys.argv[1:] if argv is None else argv)
    boundary(lambda: run(args))
