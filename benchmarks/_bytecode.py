"""Make sure gitfleet's bytecode exists before anything is timed.

A wheel install compiles every module at install time (pip's default), so that is what a
user's hooks and commands start from. A source checkout under PYTHONDONTWRITEBYTECODE=1
(set on some CI machines, including ours) never gets bytecode, and every process would
time compiling gitfleet instead of running it.
"""

from __future__ import annotations

import compileall
import os
from pathlib import Path

import gitfleet


def ensure_bytecode() -> str:
    """Compile the installed package in place; return one line saying what was done.

    For an editable install that writes ``__pycache__`` into the source tree (ignored by
    git), which is what the package would have written itself without the variable.
    """
    package = Path(gitfleet.__file__).resolve().parent
    compileall.compile_dir(package, quiet=1)
    unset = not os.environ.get("PYTHONDONTWRITEBYTECODE")
    why = "" if unset else " (PYTHONDONTWRITEBYTECODE is set here)"
    return f"bytecode: compiled {package}, as a wheel install does{why}"
