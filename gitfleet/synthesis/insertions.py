"""Both sides' insertions at one place, kept: the line merge rungs 2 and 3 share.

A three-way merge by lines (bzr's merge3) where a conflicted hunk whose base side is empty
keeps the target's lines, then the branch's. Never libgit2's ``favor=union``, which also
unions hunks that *changed* lines.
"""

from merge3 import Merge3

from gitfleet.synthesis.sides import Decline, Sides


def join(sides: Sides, *, union: bool, whole_blocks: bool) -> tuple[bytes, list[tuple[int, int]]]:
    """The three-way line merge where each conflicted hunk keeps both sides, the target's
    first, and the 0-based line ranges of those joined hunks.

    Without ``union`` a hunk where either side deleted or changed a base line is a
    :class:`Decline`. ``whole_blocks``: only a whole identical block counts as inserted
    twice (source code, where single lines such as ``return x`` or ``}`` recur).
    """
    base, ours, theirs = (_lines(x) for x in (sides.base or b"", sides.ours, sides.theirs))
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
            out.extend(_both(ours[a1:a2], theirs[b1:b2], whole_blocks=whole_blocks))
            inserted.append((start, len(out) - 1))
    return b"".join(out), inserted


def _lines(data: bytes) -> list[bytes]:
    return data.splitlines(keepends=True)


def _both(ours: list[bytes], theirs: list[bytes], *, whole_blocks: bool) -> list[bytes]:
    """Ours, then theirs' lines ours lacks (blank lines always kept: they separate)."""
    if ours == theirs:
        return ours
    if whole_blocks:
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
