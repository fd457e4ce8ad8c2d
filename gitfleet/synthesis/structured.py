"""Rung 2: a three-way merge of JSON, YAML and TOML by parsed value, written as text edits.

The merge itself is by value (:mod:`.values`). The text is the target's, edited: first
both sides' inserted lines kept as they are, when that certifies (a nav item, a table
appended); else the merged value written into the target's text (:mod:`.rewrite`). Then
the result is certified: it parses, with duplicate keys a failure (``json``
with ``object_pairs_hook``, ruamel.yaml and tomllib reject them, where PyYAML keeps the
last), and its value equals the three-way merge of the values.
"""

import json
import sys
from dataclasses import dataclass
from functools import cache, lru_cache
from typing import Any

from gitfleet.synthesis import insertions, rewrite, values
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


@dataclass(frozen=True)
class Tagged:
    """A YAML value under a tag the safe loader does not know (mkdocs' ``!!python/name:``,
    CloudFormation's ``!Ref``): kept as data, compared whole, never merged inside."""

    tag: str
    value: Any


@cache
def _yaml_safe() -> Any:
    from ruamel.yaml import YAML
    from ruamel.yaml.constructor import SafeConstructor
    from ruamel.yaml.nodes import MappingNode, ScalarNode

    class Constructor(SafeConstructor):  # a subclass: the registration stays ours
        pass

    def tagged(loader: Any, suffix: str, node: Any) -> Tagged:
        if isinstance(node, ScalarNode):
            value = loader.construct_scalar(node)
        elif isinstance(node, MappingNode):
            value = loader.construct_mapping(node, deep=True)
        else:
            value = loader.construct_sequence(node, deep=True)
        return Tagged(str(getattr(node.tag, "value", node.tag)), value)

    Constructor.add_multi_constructor("", tagged)
    yaml = YAML(typ="safe", pure=True)  # duplicate keys raise DuplicateKeyError
    yaml.Constructor = Constructor
    return yaml


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
    text = rewrite.WRITERS[kind](ours, theirs, parsed["target"], merged)
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
