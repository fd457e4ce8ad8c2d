"""Rung 3: both sides only inserted lines at one place; keep both, the target's first.

A conflicted hunk qualifies only when its base side is empty: neither side deleted or
changed a line there. A line both sides inserted identically appears once. Not libgit2's
``favor=union``, which also unions *changed* hunks (invalid JSON; ``return 2`` then
``return 3``, which parses). The rung refuses, leaving the conflict, when keeping both
would define one name twice at one level, when the file is a comma-separated container
(rung 2's work), or when the lines sit in an ordered construct (decorators, case arms).
"""

from merge3 import Merge3

from gitfleet.synthesis import structured, syntax
from gitfleet.synthesis.sides import Decline, Sides, check_size

_UNION = "union"


def merge(sides: Sides, *, union: bool = False) -> bytes:
    """The merged text, or :class:`Decline`. ``union``: git's union driver, which the
    owner asked for in ``.gitattributes``: every conflicted hunk keeps both sides."""
    check_size(sides)
    if not union and structured.kind_of(sides.path):
        raise Decline("a comma-separated container (JSON/YAML/TOML): left to the structured rung")
    base, ours, theirs = (_lines(x) for x in (sides.base or b"", sides.ours, sides.theirs))
    code = syntax.language_of(sides.path) is not None
    out: list[bytes] = []
    inserted: list[tuple[int, int]] = []  # 0-based line ranges the rung joined
    for region in Merge3(base, ours, theirs).merge_regions():
        kind = region[0]
        if kind == "unchanged":
            out.extend(base[region[1] : region[2]])
        elif kind in ("a", "same"):
            out.extend(ours[region[1] : region[2]])
        elif kind == "b":
            out.extend(theirs[region[1] : region[2]])
        else:
            _, z1, z2, a1, a2, b1, b2 = region  # type: ignore[misc]
            if z1 != z2 and not union:
                raise Decline(
                    f"both sides changed base lines {z1 + 1}-{z2} (not only inserted there)"
                )
            start = len(out)
            out.extend(_both(ours[a1:a2], theirs[b1:b2], code=code))
            inserted.append((start, len(out) - 1))
    merged = b"".join(out)
    if not union:
        _refuse_in_code(sides, merged, inserted)
    return merged


def _lines(data: bytes) -> list[bytes]:
    return data.splitlines(keepends=True)


def _both(ours: list[bytes], theirs: list[bytes], *, code: bool) -> list[bytes]:
    """Ours, then theirs' lines ours lacks (blank lines always kept: they separate).

    In source code only a whole identical block counts as the same insertion: single lines
    such as ``return x`` or ``}`` recur, and dropping one would change the code.
    """
    if ours == theirs:
        return ours
    if code:
        return _joined(ours) + theirs
    have = {line.rstrip(b"\r\n") for line in ours if line.strip()}
    return _joined(ours) + [
        line for line in theirs if not line.strip() or line.rstrip(b"\r\n") not in have
    ]


def _joined(lines: list[bytes]) -> list[bytes]:
    """``lines`` ending in a newline, so that what follows starts a line of its own."""
    if lines and not lines[-1].endswith(b"\n"):
        return [*lines[:-1], lines[-1] + b"\n"]
    return lines


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
