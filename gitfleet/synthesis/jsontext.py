"""Editing JSON text in place: the target's file, changed only where the merge changed it.

``json`` keeps no layout, so this module parses with positions (every value's span, every
object member's span) and turns the difference between the target's value and the merged
value into text splices: a new member or list item is written after its neighbour with
the separator and indentation the neighbours already use, its own text copied from the
branch's file; a changed scalar has its span replaced; a removed member or item is cut
with its comma. The caller certifies the result (it parses, and holds the merged value).
"""

import difflib
import json
from typing import Any, NamedTuple

from gitfleet.synthesis import values
from gitfleet.synthesis.sides import Decline

_WS = " \t\n\r"
_DECODER = json.JSONDecoder()


class Node(NamedTuple):
    """A JSON value's span in its text; members (key, member start, value) or items."""

    start: int
    end: int
    members: list[tuple[str, int, "Node"]]  # objects
    items: list["Node"]  # arrays


def parse(text: str) -> Node:
    """The root value's node (``json`` has already said the text is valid)."""
    node, end = _value(text, _skip(text, 0))
    if _skip(text, end) != len(text):
        raise Decline("trailing text after the JSON value")
    return node


def _skip(text: str, at: int) -> int:
    while at < len(text) and text[at] in _WS:
        at += 1
    return at


def _value(text: str, at: int) -> tuple[Node, int]:
    if text[at] == "{":
        return _object(text, at)
    if text[at] == "[":
        return _array(text, at)
    _, end = _DECODER.raw_decode(text, at)
    return Node(at, end, [], []), end


def _object(text: str, start: int) -> tuple[Node, int]:
    members: list[tuple[str, int, Node]] = []
    at = _skip(text, start + 1)
    while text[at] != "}":
        key, after = _DECODER.raw_decode(text, at)
        value, end = _value(text, _skip(text, _skip(text, after) + 1))  # past the colon
        members.append((key, at, value))
        at = _skip(text, end)
        if text[at] == ",":
            at = _skip(text, at + 1)
    return Node(start, at + 1, members, []), at + 1


def _array(text: str, start: int) -> tuple[Node, int]:
    items: list[Node] = []
    at = _skip(text, start + 1)
    while text[at] != "]":
        item, end = _value(text, at)
        items.append(item)
        at = _skip(text, end)
        if text[at] == ",":
            at = _skip(text, at + 1)
    return Node(start, at + 1, [], items), at + 1


Edit = tuple[int, int, str]  # replace text[start:end] with the string


def edit(ours: str, theirs: str, have: Any, want: Any) -> str:
    """``ours`` changed to hold ``want`` (its value is ``have``), new text from ``theirs``."""
    edits: list[Edit] = []
    _edits(ours, parse(ours), have, want, theirs, parse(theirs), edits)
    out = ours
    for start, end, text in sorted(edits, key=lambda e: (e[0], e[1]), reverse=True):
        out = out[:start] + text + out[end:]
    return out


def _edits(
    text: str,
    node: Node,
    have: Any,
    want: Any,
    donor_text: str,
    donor: Node | None,
    out: list[Edit],
) -> None:
    if values.same(have, want):
        return
    if isinstance(have, dict) and isinstance(want, dict) and (node.members or not have):
        _object_edits(text, node, have, want, donor_text, donor, out)
    elif isinstance(have, list) and isinstance(want, list):
        _array_edits(text, node, have, want, donor_text, donor, out)
    else:
        out.append((node.start, node.end, _text_of(want, donor_text, donor)))


def _text_of(value: Any, donor_text: str, donor: Node | None) -> str:
    """The branch's own text for ``value`` when it has it, else plain ``json.dumps``."""
    if donor is not None:
        return donor_text[donor.start : donor.end]
    return json.dumps(value, ensure_ascii=False)


def _object_edits(
    text: str, node: Node, have: dict[str, Any], want: dict[str, Any], donor_text: str,
    donor: Node | None, out: list[Edit],
) -> None:  # fmt: skip
    mine = {key: (start, value) for key, start, value in node.members}
    theirs = {key: (start, value) for key, start, value in donor.members} if donor else {}
    spans = [(s, v.end) for _, s, v in node.members]
    for index, (key, _, value) in enumerate(node.members):
        if key not in want:
            out.append(_cut(text, node, spans, index))
            continue
        elif not values.same(have[key], want[key]):
            twin = theirs.get(key, (0, None))[1]
            _edits(text, value, have[key], want[key], donor_text, twin, out)
    anchor: int | None = None  # where new keys go: after the last kept key before them
    pending: list[str] = []
    for key in want:
        if key in mine:
            if pending:
                out.append(_insert(text, node, spans, anchor, pending))
                pending = []
            anchor = mine[key][1].end
        elif key in theirs:
            pending.append(donor_text[theirs[key][0] : theirs[key][1].end])
        else:
            raise Decline(f"no text for the new key {key!r}")
    if pending:
        out.append(_insert(text, node, spans, anchor, pending))


def _array_edits(
    text: str, node: Node, have: list[Any], want: list[Any], donor_text: str,
    donor: Node | None, out: list[Edit],
) -> None:  # fmt: skip
    keys = [values.fingerprint(x) for x in have]
    wanted = [values.fingerprint(x) for x in want]
    donor_keys = {values.fingerprint(v): i for i, v in enumerate(_items_of(donor_text, donor))}
    spans = [(item.start, item.end) for item in node.items]
    ops = difflib.SequenceMatcher(None, keys, wanted, autojunk=False).get_opcodes()
    for op, h1, h2, w1, w2 in ops:
        if op in ("delete", "replace"):
            for index in range(h1, h2):
                out.append(_cut(text, node, spans, index))
        if op in ("insert", "replace"):
            after = spans[h1 - 1][1] if h1 > 0 else None
            entries = []
            for value in want[w1:w2]:
                at = donor_keys.get(values.fingerprint(value))
                twin = donor.items[at] if donor is not None and at is not None else None
                entries.append(_text_of(value, donor_text, twin))
            out.append(_insert(text, node, spans, after, entries))


def _items_of(donor_text: str, donor: Node | None) -> list[Any]:
    if donor is None:
        return []
    return [json.loads(donor_text[i.start : i.end]) for i in donor.items]


def _separator(text: str, node: Node, spans: list[tuple[int, int]]) -> str:
    """What sits between two entries here (``,\\n    ``), from the text itself."""
    if len(spans) >= 2:
        return text[spans[0][1] : spans[1][0]]
    if spans:
        gap = text[node.start + 1 : spans[0][0]]
        return "," + (gap if "\n" in gap else " ")
    raise Decline("an empty container: no layout to copy")


def _insert(
    text: str, node: Node, spans: list[tuple[int, int]], after: int | None, entries: list[str]
) -> Edit:
    """``entries`` written after the entry ending at ``after`` (None: before the first)."""
    sep = _separator(text, node, spans)
    if after is None:
        first = spans[0][0]
        return (first, first, "".join(entry + sep for entry in entries))
    return (after, after, "".join(sep + entry for entry in entries))


def _cut(text: str, node: Node, spans: list[tuple[int, int]], index: int) -> Edit:
    """Remove entry ``index`` with the separator on one side of it."""
    start, end = spans[index]
    if index + 1 < len(spans):
        return (start, spans[index + 1][0], "")
    if index > 0:
        return (spans[index - 1][1], end, "")
    return (node.start + 1, node.end - 1, "")
