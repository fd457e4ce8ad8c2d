"""What tree-sitter tells synthesis about source in the five languages it parses.

The grammars are the per-language wheels the context engine already ships (they carry
their grammar; tree-sitter-language-pack would download one at run time). Three questions:
does the text parse, which names are defined at which level, and which case/match-arm
labels each switch has. Levels are named by the enclosing definitions (``class A >
def f``), not by offsets, so the same definition counts the same in every version.
"""

import importlib
import re
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from functools import cache
from typing import Any

_GRAMMARS: dict[str, tuple[str, str]] = {
    "python": ("tree_sitter_python", "language"),
    "javascript": ("tree_sitter_javascript", "language"),
    "typescript": ("tree_sitter_typescript", "language_typescript"),
    "tsx": ("tree_sitter_typescript", "language_tsx"),
    "go": ("tree_sitter_go", "language"),
    "rust": ("tree_sitter_rust", "language"),
}
_BY_SUFFIX = {
    ".py": "python",
    ".pyi": "python",
    ".js": "javascript",
    ".mjs": "javascript",
    ".cjs": "javascript",
    ".jsx": "javascript",
    ".ts": "typescript",
    ".mts": "typescript",
    ".cts": "typescript",
    ".tsx": "tsx",
    ".go": "go",
    ".rs": "rust",
}

# Node types that define a name; the value is the field holding it.
DEFINITIONS = {
    "function_definition": "name",
    "class_definition": "name",
    "function_declaration": "name",
    "generator_function_declaration": "name",
    "class_declaration": "name",
    "method_definition": "name",
    "interface_declaration": "name",
    "method_declaration": "name",
    "type_spec": "name",
    "function_item": "name",
    "struct_item": "name",
    "enum_item": "name",
    "trait_item": "name",
    "mod_item": "name",
}
# Scopes without a name of their own: their header text names the level.
_ANON_SCOPES = frozenset({"impl_item"})
# Arms of a switch or match: their order matters, and two with one label are a bug.
CASE_ARMS = frozenset({"case_clause", "switch_case", "expression_case", "type_case", "match_arm"})
# Constructs whose lines' order is meaning: never interleave two sides' insertions there.
ORDERED = CASE_ARMS | {"decorator", "attribute_item", "switch_default", "default_case"}
# Comma-separated containers: inserting whole lines into one needs commas rung 3 never adds.
CONTAINERS = frozenset(
    {
        "list",
        "dictionary",
        "set",
        "tuple",
        "argument_list",
        "parameters",
        "array",
        "object",
        "arguments",
        "formal_parameters",
        "literal_value",
        "array_expression",
        "tuple_expression",
        "field_initializer_list",
        "enum_variant_list",
        "import_list",
    }
)


def language_of(path: str) -> str | None:
    dot = path.rfind(".")
    return _BY_SUFFIX.get(path[dot:].lower()) if dot > path.rfind("/") else None


@cache
def _parser(lang: str) -> Any:
    import tree_sitter as ts

    module_name, func = _GRAMMARS[lang]
    module = importlib.import_module(module_name)
    return ts.Parser(ts.Language(getattr(module, func)()))


def parse(source: bytes, lang: str) -> Any:
    """The syntax tree's root node."""
    return _parser(lang).parse(source).root_node


def parses(source: bytes, lang: str) -> bool:
    return not parse(source, lang).has_error


def _walk(node: Any) -> Iterator[Any]:
    stack = [node]
    while stack:
        current = stack.pop()
        yield current
        stack.extend(reversed(current.children))


def _text(node: Any) -> str:
    return bytes(node.text).decode("utf-8", "replace")


def _name(node: Any) -> str | None:
    """The name a definition node defines (Go methods by receiver too), else None."""
    field = DEFINITIONS.get(node.type)
    if field is None:
        return None
    named = node.child_by_field_name(field)
    if named is None:
        return None
    name = _text(named)
    receiver = node.child_by_field_name("receiver")
    return f"({_text(receiver)}).{name}" if receiver is not None else name


def _level(node: Any) -> str:
    """The enclosing definitions of ``node``, outermost first."""
    parts = []
    parent = node.parent
    while parent is not None:
        name = _name(parent)
        if name is not None:
            parts.append(f"{parent.type} {name}")
        elif parent.type in _ANON_SCOPES:
            body = parent.child_by_field_name("body")
            end = body.start_byte if body is not None else parent.end_byte
            parts.append(bytes(parent.text[: end - parent.start_byte]).decode().strip())
        parent = parent.parent
    return " > ".join(reversed(parts))


# Python decorators under which one name is defined more than once on purpose.
_REDEFINING = re.compile(r"@(\w+\.)*(overload|setter|getter|deleter|register)\b")


def _redefines(node: Any) -> bool:
    """A Python ``@overload`` or ``@x.setter`` (and the like): a deliberate second definition."""
    parent = node.parent
    if parent is None or parent.type != "decorated_definition":
        return False
    return any(
        _REDEFINING.match(_text(child)) for child in parent.children if child.type == "decorator"
    )


def definitions(source: bytes, lang: str) -> Counter[str]:
    """How often each (level, kind, name) is defined (deliberate redefinitions left out)."""
    found: Counter[str] = Counter()
    for node in _walk(parse(source, lang)):
        name = _name(node)
        if name is not None and not _redefines(node):
            found[f"{_level(node)} | {node.type} {name}"] += 1
    return found


def case_labels(source: bytes, lang: str) -> Counter[str]:
    """How often each (level, switch subject, arm label) occurs."""
    found: Counter[str] = Counter()
    for node in _walk(parse(source, lang)):
        if node.type not in CASE_ARMS:
            continue
        label = _arm_label(node)
        if label is None:
            continue
        found[f"{_level(node)} | `{label}` of `{_subject(node)}`"] += 1
    return found


def _subject(arm: Any) -> str:
    """What the switch or match holding ``arm`` looks at (``x`` in ``switch (x)``)."""
    switch = arm.parent
    while switch is not None:
        field = switch.child_by_field_name("value") or switch.child_by_field_name("subject")
        if field is not None:
            return _text(field)
        switch = switch.parent
    return ""


def _arm_label(arm: Any) -> str | None:
    """The text of an arm's label (``3``, ``Some(x) if x > 1``), without its body."""
    if arm.type == "case_clause":  # python: everything between `case` and the block
        block = arm.child_by_field_name("consequence")
        end = block.start_byte if block is not None else arm.end_byte
        text = bytes(arm.text[: end - arm.start_byte]).decode("utf-8", "replace")
        return text.strip(" :\n").removeprefix("case").strip()
    pattern = arm.child_by_field_name("pattern") or arm.child_by_field_name("value")
    return _text(pattern) if pattern is not None else None


def around_lines(source: bytes, lang: str, first: int, last: int) -> tuple[set[str], set[str]]:
    """Node types around lines ``first..last`` (0-based, inclusive) of ``source``.

    Returns (types of nodes that enclose the lines from outside them, types of nodes that
    start or end within them).
    """
    enclosing: set[str] = set()
    touching: set[str] = set()
    for node in _walk(parse(source, lang)):
        start, end = node.start_point[0], node.end_point[0]
        if start < first and last < end:
            enclosing.add(node.type)
        elif start <= last and end >= first:
            touching.add(node.type)
    return enclosing, touching


Counts = Callable[[bytes, str], Counter[str]]


def new_duplicates(count: Counts, merged: bytes, sides: Iterable[bytes], lang: str) -> list[str]:
    """Keys ``count`` finds more than once in ``merged`` and more often than in every side."""
    found = count(merged, lang)
    before = [count(data, lang) for data in sides]
    return [
        key.split(" | ", 1)[-1]
        for key, n in found.items()
        if n > 1 and all(n > b.get(key, 0) for b in before)
    ]
