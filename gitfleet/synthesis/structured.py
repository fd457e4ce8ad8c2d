"""Rung 2: a three-way merge of JSON, YAML and TOML by parsed value, written as text edits.

The merge itself is by value (:mod:`.values`). The text is the target's, edited: TOML
through tomlkit and YAML through ruamel.yaml's round trip (both keep comments, key order
and layout), JSON rewritten only when the target's text is exactly what ``json.dumps``
writes for it with its indent (else the rung declines rather than re-lay a hand-formatted
file). Then the result is certified: it parses, with duplicate keys a failure (``json``
with ``object_pairs_hook``, ruamel.yaml and tomllib reject them, where PyYAML keeps the
last), and its value equals the three-way merge of the values.
"""

import io
import json
import re
import sys
from collections.abc import Callable
from functools import cache, lru_cache
from typing import Any

from gitfleet.synthesis import insertions, values
from gitfleet.synthesis.sides import Decline, Sides, check_size, decode

KINDS = {".json": "json", ".yaml": "yaml", ".yml": "yaml", ".toml": "toml"}
# Generated files: merging them by value yields a file the tool would not have written.
LOCKFILES = frozenset(
    {
        "package-lock.json",
        "npm-shrinkwrap.json",
        "yarn.lock",
        "pnpm-lock.yaml",
        "uv.lock",
        "poetry.lock",
        "Pipfile.lock",
        "pdm.lock",
        "Cargo.lock",
        "Gemfile.lock",
        "composer.lock",
        "go.sum",
        "flake.lock",
        "bun.lock",
    }
)


class Unparseable(Exception):
    """The text does not parse (duplicate keys included); the message says where."""


def kind_of(path: str) -> str | None:
    dot = path.rfind(".")
    return KINDS.get(path[dot:].lower()) if dot > path.rfind("/") else None


@lru_cache(maxsize=64)
def load(kind: str, text: str) -> Any:
    """The plain value of ``text``; duplicate keys raise :class:`Unparseable`.

    Cached: in a fleet the merged text one landing certifies is the next landing's target
    and is parsed again by the gate, and a YAML parse costs milliseconds. The value is
    shared, so callers never mutate it.
    """
    try:
        if kind == "json":
            return json.loads(text, object_pairs_hook=_no_duplicates)
        if kind == "toml":
            return _tomllib().loads(text)
        return _yaml_safe().load(text)
    except Unparseable:
        raise
    except Exception as exc:  # each parser has its own error family
        raise Unparseable(_first_line(exc)) from None


def _first_line(exc: Exception) -> str:
    text = str(exc).strip() or type(exc).__name__
    return " ".join(text.split())[:200]


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for key, value in pairs:
        if key in found:
            raise Unparseable(f"duplicate key {key!r}")
        found[key] = value
    return found


def _tomllib() -> Any:
    if sys.version_info >= (3, 11):
        import tomllib
    else:
        import tomli as tomllib
    return tomllib


@cache
def _yaml_safe() -> Any:
    from ruamel.yaml import YAML

    return YAML(typ="safe", pure=True)  # duplicate keys raise DuplicateKeyError


def merge(sides: Sides, kind: str) -> bytes:
    """The merged text, or :class:`Decline` saying why not."""
    name = sides.path.rsplit("/", 1)[-1]
    if name in LOCKFILES:
        raise Decline(f"{name} is a lockfile: regenerate it rather than merge it")
    check_size(sides)
    texts = {
        "base": decode(sides.base, "base") if sides.base is not None else None,
        "target": decode(sides.ours, "target"),
        "branch": decode(sides.theirs, "branch"),
    }
    parsed: dict[str, Any] = {}
    for side, text in texts.items():
        try:
            parsed[side] = values.MISSING if text is None else load(kind, text)
        except Unparseable as exc:
            raise Decline(f"the {side} version does not parse as {kind.upper()}: {exc}") from None
    try:
        merged = values.merge(parsed["base"], parsed["target"], parsed["branch"])
    except values.Contradiction as exc:
        raise Decline(f"both sides changed {exc.args[0]} differently") from None
    joined = _joined_insertions(sides, kind, merged)
    if joined is not None:
        return joined
    ours, theirs = texts["target"], texts["branch"]
    assert ours is not None and theirs is not None
    text = _WRITERS[kind](ours, theirs, parsed["target"], merged)
    _certify(kind, text, merged)
    return text.encode("utf-8")


def _joined_insertions(sides: Sides, kind: str, merged: Any) -> bytes | None:
    """Both sides' inserted lines kept as they are, when that text certifies: the smallest
    edit there is (a nav item, a table appended), byte for byte what each side wrote."""
    try:
        text, _ = insertions.join(sides, union=False, whole_blocks=True)
        _certify(kind, text.decode("utf-8"), merged)
    except (Decline, UnicodeDecodeError):
        return None
    return text


def _certify(kind: str, text: str, merged: Any) -> None:
    try:
        again = load(kind, text)
    except Unparseable as exc:
        raise Decline(f"the merged text does not parse: {exc}") from None
    if not values.same(again, merged):
        raise Decline("the merged text does not hold the merged value")


# --- JSON -----------------------------------------------------------------------------


def _json_text(ours: str, theirs: str, ours_value: Any, merged: Any) -> str:
    for settings in _json_layouts(ours):
        if _dump_json(ours_value, settings) == ours:
            return _dump_json(merged, settings)
    raise Decline(
        "the target's JSON is not laid out as json.dumps writes it, so it cannot be "
        "edited without re-laying it"
    )


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
    import difflib

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


_WRITERS: dict[str, Callable[[str, str, Any, Any], str]] = {
    "json": _json_text,
    "toml": _toml_text,
    "yaml": _yaml_text,
}
