"""Rung 1's input: the owner's ``.gitattributes``, read from the target's tree.

libgit2 reads attributes from the working tree (none in a bare clone) and never runs
external drivers (libgit2 #3564); ``git check-attr --source`` needs git >= 2.40. So the
files are read here from the tree being landed onto, every ``.gitattributes`` on the
path's way down, later lines and deeper files winning, as gitattributes(5) says.
Only what synthesis needs is resolved: ``merge`` (set, unset, a driver name) and the
``binary`` macro (``-diff -merge -text``).
"""

from collections.abc import Callable
from typing import NamedTuple

from gitfleet.ids.claims import glob_regex

# A file's text by its path in the tree, or None when there is no such file.
ReadFile = Callable[[str], bytes | None]

NEVER = "never"  # binary / -merge: the owner says no machine merge


class Intent(NamedTuple):
    """``driver``: NEVER, a merge driver name (``union``, ``gitfleet-json``...) or None."""

    driver: str | None
    source: str = ""  # the .gitattributes line that decided, for the report


def intent(read: ReadFile, path: str) -> Intent:
    """What the target's ``.gitattributes`` files say about merging ``path``."""
    decided = Intent(None)
    parts = path.split("/")
    for depth in range(len(parts)):
        folder = "/".join(parts[:depth])
        data = read(f"{folder}/.gitattributes" if folder else ".gitattributes")
        if data is None:
            continue
        relative = "/".join(parts[depth:])
        for line in data.decode("utf-8", "replace").splitlines():
            found = _line_intent(line, relative)
            if found is not None:
                where = f"{folder}/.gitattributes" if folder else ".gitattributes"
                decided = Intent(found, f"{where}: {line.strip()}") if found else Intent(None)
    return decided


def _line_intent(line: str, path: str) -> str | None:
    """The merge intent one line gives ``path`` ("" for reset to unspecified), or None."""
    fields = line.split()
    if not fields or fields[0].startswith("#") or not _matches(fields[0], path):
        return None
    found: str | None = None
    for attr in fields[1:]:
        if attr in ("binary", "-merge"):
            found = NEVER
        elif attr == "merge":
            found = "text"  # git's default text merge: the ladder may still try
        elif attr.startswith("merge="):
            found = attr.removeprefix("merge=")
        elif attr == "!merge":
            found = ""
    return found


def matches(pattern: str, path: str) -> bool:
    """Whether a gitattributes-style pattern names ``path`` (no slash: any folder)."""
    return _matches(pattern, path)


def _matches(pattern: str, path: str) -> bool:
    if pattern.endswith("/"):
        return False  # gitattributes(5): directory patterns match nothing
    if "/" not in pattern.rstrip("/"):
        return glob_regex(pattern).match(path.rsplit("/", 1)[-1]) is not None
    return glob_regex(pattern.lstrip("/")).match(path) is not None
