"""Rung 3: both sides only inserted lines at one place; keep both, the target's first.

A conflicted hunk qualifies only when its base side is empty: neither side deleted or
changed a line there. A line both sides inserted identically appears once. Not libgit2's
``favor=union``, which also unions *changed* hunks (invalid JSON; ``return 2`` then
``return 3``, which parses). The rung refuses, leaving the conflict, when keeping both
would define one name twice at one level, when the file is a comma-separated container
(rung 2's work), or when the lines sit in an ordered construct (decorators, case arms).
"""

from gitfleet.synthesis import insertions, structured, syntax
from gitfleet.synthesis.sides import Decline, Sides, check_size


def merge(sides: Sides, *, union: bool = False) -> bytes:
    """The merged text, or :class:`Decline`. ``union``: git's union driver, which the
    owner asked for in ``.gitattributes``: every conflicted hunk keeps both sides."""
    check_size(sides)
    if not union and structured.kind_of(sides.path):
        raise Decline("a comma-separated container (JSON/YAML/TOML): left to the structured rung")
    code = syntax.language_of(sides.path) is not None
    merged, inserted = insertions.join(sides, union=union, whole_blocks=code)
    if not union:
        _refuse_in_code(sides, merged, inserted)
    return merged


def _refuse_in_code(sides: Sides, merged: bytes, inserted: list[tuple[int, int]]) -> None:
    """Decline when the joined lines sit where order matters or commas separate items."""
    for first, last in inserted:
        for line in merged.splitlines()[first : last + 1]:
            if line.rstrip().endswith(b",") or line.lstrip().startswith(b","):
                raise Decline(
                    f"lines {first + 1}-{last + 1} look like items of a comma-separated list"
                )
    lang = syntax.language_of(sides.path)
    if lang is None:
        return
    versions = {"target": sides.ours, "branch": sides.theirs}
    if not syntax.parses(merged, lang) and all(syntax.parses(d, lang) for d in versions.values()):
        raise Decline(f"keeping both sides does not parse as {lang}")
    for first, last in inserted:
        enclosing, touching = syntax.around_lines(merged, lang, first, last)
        ordered = touching & syntax.ORDERED or enclosing & syntax.ORDERED
        if ordered:
            raise Decline(
                f"lines {first + 1}-{last + 1} are in an ordered construct ({min(ordered)})"
            )
        inside = enclosing & syntax.CONTAINERS
        if inside:
            raise Decline(f"lines {first + 1}-{last + 1} are inside a {min(inside)}")
    twice = syntax.new_duplicates(syntax.definitions, merged, versions.values(), lang)
    if twice:
        raise Decline(f"keeping both would define {twice[0]} twice")
