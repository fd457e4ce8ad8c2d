"""A three-way merge of parsed values (dicts, lists, scalars), as rung 2 needs it.

- keys added on either side are kept, in the order the sides put them;
- a value changed on one side only takes that change;
- when both sides only inserted (or deleted) items of one list, every new item is kept,
  the target's first, and an item both added identically appears once;
- the same key changed two different ways is a :class:`Contradiction`.
"""

import difflib
import json
from typing import Any


class Contradiction(Exception):
    """Both sides changed one value differently; ``args[0]`` names where."""


class _Missing:
    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()


def same(a: Any, b: Any) -> bool:
    """Equality that keeps ``1``, ``1.0`` and ``True`` apart, as the file does."""
    if isinstance(a, dict) and isinstance(b, dict):
        return list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    return type(a) is type(b) and a == b


def merge(base: Any, ours: Any, theirs: Any, where: str = "") -> Any:
    """The three-way merge of ``ours`` and ``theirs`` from ``base`` (MISSING: absent)."""
    if same(ours, theirs):
        return ours
    if same(base, ours):
        return theirs
    if same(base, theirs):
        return ours
    if isinstance(ours, dict) and isinstance(theirs, dict):
        return _merge_dicts(base if isinstance(base, dict) else {}, ours, theirs, where)
    lists = isinstance(ours, list) and isinstance(theirs, list)
    if lists and (base is MISSING or isinstance(base, list)):
        return _merge_lists([] if base is MISSING else base, ours, theirs, where)
    raise Contradiction(where or "the top level")


def _merge_dicts(
    base: dict[str, Any], ours: dict[str, Any], theirs: dict[str, Any], where: str
) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for key in _key_order(ours, theirs):
        b, o, t = base.get(key, MISSING), ours.get(key, MISSING), theirs.get(key, MISSING)
        here = f"{where}.{key}" if where else str(key)
        if o is MISSING or t is MISSING:
            kept = t if o is MISSING else o
            if b is MISSING:
                merged[key] = kept  # added on one side
            elif not same(b, kept):
                raise Contradiction(f"{here} (deleted on one side, changed on the other)")
            continue  # deleted on one side, untouched on the other
        merged[key] = merge(b, o, t, here)
    return merged


def _key_order(ours: dict[str, Any], theirs: dict[str, Any]) -> list[str]:
    """Ours' keys in ours' order; each key only theirs has goes after its predecessor there."""
    order = list(ours)
    previous: str | None = None
    for key in theirs:
        if key not in ours and key not in order:
            at = order.index(previous) + 1 if previous is not None else 0
            order.insert(at, key)
        previous = key
    return order


def fingerprint(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=repr)


def _gaps(base: list[Any], side: list[Any], where: str) -> tuple[list[list[Any]], set[int]]:
    """What ``side`` inserted before each base item (and at the end), and which it deleted."""
    matcher = difflib.SequenceMatcher(
        None, [fingerprint(x) for x in base], [fingerprint(x) for x in side], autojunk=False
    )
    inserted: list[list[Any]] = [[] for _ in range(len(base) + 1)]
    deleted: set[int] = set()
    for op, b1, b2, s1, s2 in matcher.get_opcodes():
        if op == "insert":
            inserted[b1].extend(side[s1:s2])
        elif op == "delete":
            deleted.update(range(b1, b2))
        elif op == "replace":
            raise Contradiction(f"{where or 'the top level'}[{b1}] (an item was changed in place)")
    return inserted, deleted


def _merge_lists(base: list[Any], ours: list[Any], theirs: list[Any], where: str) -> list[Any]:
    if len(base) == len(ours) == len(theirs):  # items edited in place: merge item by item
        try:
            return [
                merge(b, o, t, f"{where}[{i}]")
                for i, (b, o, t) in enumerate(zip(base, ours, theirs, strict=True))
            ]
        except Contradiction:
            pass  # maybe inserts after all (e.g. one side replaced, other appended)
    ours_in, ours_del = _gaps(base, ours, where)
    theirs_in, theirs_del = _gaps(base, theirs, where)
    ours_added = [fingerprint(x) for gap in ours_in for x in gap]
    merged: list[Any] = []
    for i in range(len(base) + 1):
        merged.extend(ours_in[i])
        merged.extend(x for x in theirs_in[i] if fingerprint(x) not in ours_added)
        if i < len(base) and i not in ours_del and i not in theirs_del:
            merged.append(base[i])
    return merged
