"""Writing a merged value back into the target's text, keeping its layout.

TOML through tomlkit and YAML through ruamel.yaml's round trip (both keep comments, key
order and layout): the target's document is edited to hold the merged value, taking what
it lacks from the branch's document, so new items keep the branch's formatting too. JSON
is edited in place by :mod:`.jsontext` (or, failing that, rewritten only when the target's
text is exactly what ``json.dumps`` writes for it with its indent). A YAML file
ruamel.yaml would not write back unchanged is declined the same way.
"""

import difflib
import io
import json
import re
from collections.abc import Callable
from functools import cache
from typing import Any

from gitfleet.synthesis import jsontext, values
from gitfleet.synthesis.sides import Decline

# --- JSON -----------------------------------------------------------------------------


def _json_text(ours: str, theirs: str, ours_value: Any, merged: Any) -> str:
    """The target's JSON edited in place; else, when the target is exactly what
    ``json.dumps`` writes with its indent, the merged value written the same way."""
    try:
        return jsontext.edit(ours, theirs, ours_value, merged)
    except Decline:
        pass
    for settings in _json_layouts(ours):
        if _dump_json(ours_value, settings) == ours:
            return _dump_json(merged, settings)
    raise Decline("the target's JSON cannot be edited in place (an empty container to fill)")


def _json_layouts(text: str) -> list[tuple[int | str | None, bool, bool]]:
    indent: int | str | None = None
    for line in text.splitlines()[1:]:
        stripped = line.lstrip(" \t")
        if stripped and len(stripped) < len(line):
            ws = line[: len(line) - len(stripped)]
            indent = ws if "\t" in ws else len(ws)
            break
    newline = text.endswith("\n")
    return [(indent, ascii_only, newline) for ascii_only in (False, True)]


def _dump_json(value: Any, settings: tuple[int | str | None, bool, bool]) -> str:
    indent, ascii_only, newline = settings
    text = json.dumps(value, indent=indent, ensure_ascii=ascii_only)
    return text + "\n" if newline else text


# --- TOML and YAML: edit the target's round-trip document with the branch's nodes ------


def _toml_text(ours: str, theirs: str, ours_value: Any, merged: Any) -> str:
    import tomlkit

    doc = tomlkit.parse(ours)
    _transform(doc, ours_value, merged, tomlkit.parse(theirs), _toml_insert)
    return tomlkit.dumps(doc)


def _toml_insert(seq: Any, at: int, item: Any) -> None:
    import tomlkit
    from tomlkit.items import AoT

    if isinstance(seq, AoT):
        # tables of one array are set apart by a blank line, as people write them
        for table in list(seq)[:at]:
            if not table.as_string().endswith("\n\n"):
                table.add(tomlkit.nl())
    seq.insert(at, item)


def _yaml_text(ours: str, theirs: str, ours_value: Any, merged: Any) -> str:
    for layout in sorted(_LAYOUTS, key=lambda x: x != _guess_layout(ours)):
        yaml = _yaml_round_trip(*layout)
        doc = yaml.load(ours)
        if _dump_yaml(yaml, doc) != ours:
            continue  # this layout would re-lay the file
        _transform(doc, ours_value, merged, yaml.load(theirs), lambda s, i, x: s.insert(i, x))
        return _dump_yaml(yaml, doc)
    raise Decline("ruamel.yaml cannot write the target's YAML back unchanged (its layout)")


# (mapping indent, sequence indent, dash offset): the block styles people write
_LAYOUTS = [(m, s, o) for m in (2, 4) for s, o in ((m, 0), (m + 2, 2), (4, 2), (2, 0))]
_KEY_THEN_DASH = re.compile(r"^( *)[^\s#-][^\n]*:\n( *)- ", re.M)
_NESTED_KEY = re.compile(r"^[^\s#][^\n]*:\n( +)[^\s#-]", re.M)


def _guess_layout(text: str) -> tuple[int, int, int]:
    """The layout a file most likely has, tried first (each try costs a load and a dump)."""
    nested = _NESTED_KEY.search(text)
    mapping = len(nested.group(1)) if nested else 2
    dash = _KEY_THEN_DASH.search(text)
    offset = len(dash.group(2)) - len(dash.group(1)) if dash else 0
    return mapping, offset + 2, offset


@cache
def _yaml_round_trip(mapping: int, sequence: int, offset: int) -> Any:
    from ruamel.yaml import YAML

    yaml = YAML()
    yaml.preserve_quotes = True
    yaml.width = 4096
    yaml.indent(mapping=mapping, sequence=sequence, offset=offset)
    return yaml


def _dump_yaml(yaml: Any, doc: Any) -> str:
    out = io.StringIO()
    yaml.dump(doc, out)
    return out.getvalue()


Insert = Callable[[Any, int, Any], None]


def _transform(node: Any, have: Any, want: Any, donor: Any, insert: Insert) -> None:
    """Edit round-trip ``node`` (plain value ``have``) to hold ``want``, taking what it
    lacks from ``donor``, the branch's round-trip node at the same place."""
    if isinstance(have, dict) and isinstance(want, dict):
        for key in [k for k in have if k not in want]:
            del node[key]
        for key, value in want.items():
            if key not in have:
                item = donor[key] if donor is not None and key in donor else value
                _set_key(node, key, item, list(want).index(key))
            elif not values.same(have[key], value):
                child = donor[key] if donor is not None and key in donor else None
                if _container_pair(have[key], value):
                    _transform(node[key], have[key], value, child, insert)
                else:
                    node[key] = child if child is not None else value
        return
    if isinstance(have, list) and isinstance(want, list):
        _transform_list(node, have, want, donor, insert)
        return
    raise Decline("the merged value cannot be written into the target's text")


def _container_pair(a: Any, b: Any) -> bool:
    return (isinstance(a, dict) and isinstance(b, dict)) or (
        isinstance(a, list) and isinstance(b, list)
    )


def _set_key(node: Any, key: str, item: Any, position: int) -> None:
    if hasattr(node, "insert") and not hasattr(node, "append"):  # ruamel's CommentedMap
        node.insert(position, key, item)
    else:
        node[key] = item


def _transform_list(
    node: Any, have: list[Any], want: list[Any], donor: Any, insert: Insert
) -> None:
    have_keys = [values.fingerprint(x) for x in have]
    want_keys = [values.fingerprint(x) for x in want]
    donor_items = list(donor) if donor is not None else []
    donor_keys = [values.fingerprint(values_plain(x)) for x in donor_items]
    ops = difflib.SequenceMatcher(None, have_keys, want_keys, autojunk=False).get_opcodes()
    for op, h1, h2, w1, w2 in reversed(ops):  # from the end: earlier indexes stay valid
        if op == "equal":
            continue
        if (
            op == "replace"
            and h2 - h1 == w2 - w1
            and all(_container_pair(have[h1 + i], want[w1 + i]) for i in range(h2 - h1))
        ):
            for i in range(h2 - h1):
                twin = _find(donor_items, donor_keys, want[w1 + i])
                _transform(node[h1 + i], have[h1 + i], want[w1 + i], twin, insert)
            continue
        for index in range(h2 - 1, h1 - 1, -1):
            del node[index]
        for offset, value in enumerate(want[w1:w2]):
            twin = _find(donor_items, donor_keys, value)
            insert(node, h1 + offset, twin if twin is not None else value)


def _find(items: list[Any], keys: list[str], value: Any) -> Any:
    key = values.fingerprint(value)
    return items[keys.index(key)] if key in keys else None


def values_plain(node: Any) -> Any:
    """A round-trip node as plain dicts, lists and scalars."""
    if hasattr(node, "unwrap"):  # tomlkit items
        return node.unwrap()
    if isinstance(node, dict):
        return {str(k): values_plain(v) for k, v in node.items()}
    if isinstance(node, list):
        return [values_plain(v) for v in node]
    if isinstance(node, str):
        return str(node)
    if isinstance(node, bool):
        return bool(node)
    if isinstance(node, int):
        return int(node)
    if isinstance(node, float):
        return float(node)
    return node


WRITERS: dict[str, Callable[[str, str, Any, Any], str]] = {
    "json": _json_text,
    "toml": _toml_text,
    "yaml": _yaml_text,
}
