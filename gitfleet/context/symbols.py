"""Definitions in source files, found with tree-sitter grammars shipped in per-language wheels.

Only the per-language wheels are used (``tree-sitter-python`` and friends): the language pack
1.x downloads grammars at run time, and gitfleet must work without a network. A file in a
language without a grammar simply has no definitions; lexical retrieval still sees it.
References are not parsed here: the index takes them from the identifiers a file mentions
(cheap, and language-agnostic), matched against the names defined elsewhere.
"""

from __future__ import annotations

import importlib
import re
from functools import cache
from typing import Any, NamedTuple

# Queries capture the *name* of each definition; the captured node's parent is the whole
# definition, which gives the line span used for excerpts.
_PY = """
(class_definition name: (identifier) @def.class)
(function_definition name: (identifier) @def.function)
(module (expression_statement (assignment left: (identifier) @def.constant)))
"""
_JS = """
(class_declaration name: (identifier) @def.class)
(function_declaration name: (identifier) @def.function)
(generator_function_declaration name: (identifier) @def.function)
(method_definition name: (property_identifier) @def.method)
(variable_declarator name: (identifier) @def.function
  value: [(arrow_function) (function_expression) (class)])
(program (lexical_declaration (variable_declarator name: (identifier) @def.constant)))
(program (export_statement (lexical_declaration
  (variable_declarator name: (identifier) @def.constant))))
"""
_TS = """
(class_declaration name: (type_identifier) @def.class)
(abstract_class_declaration name: (type_identifier) @def.class)
(interface_declaration name: (type_identifier) @def.type)
(type_alias_declaration name: (type_identifier) @def.type)
(enum_declaration name: (identifier) @def.type)
(function_declaration name: (identifier) @def.function)
(generator_function_declaration name: (identifier) @def.function)
(method_definition name: (property_identifier) @def.method)
(method_signature name: (property_identifier) @def.method)
(variable_declarator name: (identifier) @def.function
  value: [(arrow_function) (function_expression) (class)])
(program (lexical_declaration (variable_declarator name: (identifier) @def.constant)))
(program (export_statement (lexical_declaration
  (variable_declarator name: (identifier) @def.constant))))
"""
_GO = """
(function_declaration name: (identifier) @def.function)
(method_declaration name: (field_identifier) @def.method)
(type_spec name: (type_identifier) @def.type)
(source_file (const_declaration (const_spec name: (identifier) @def.constant)))
(source_file (var_declaration (var_spec name: (identifier) @def.constant)))
"""
_RUST = """
(function_item name: (identifier) @def.function)
(function_signature_item name: (identifier) @def.function)
(struct_item name: (type_identifier) @def.class)
(enum_item name: (type_identifier) @def.type)
(union_item name: (type_identifier) @def.type)
(trait_item name: (type_identifier) @def.type)
(type_item name: (type_identifier) @def.type)
(mod_item name: (identifier) @def.module)
(const_item name: (identifier) @def.constant)
(static_item name: (identifier) @def.constant)
(macro_definition name: (identifier) @def.macro)
"""

# language -> (wheel module, function returning the grammar pointer, query)
_GRAMMARS: dict[str, tuple[str, str, str]] = {
    "python": ("tree_sitter_python", "language", _PY),
    "javascript": ("tree_sitter_javascript", "language", _JS),
    "typescript": ("tree_sitter_typescript", "language_typescript", _TS),
    "tsx": ("tree_sitter_typescript", "language_tsx", _TS),
    "go": ("tree_sitter_go", "language", _GO),
    "rust": ("tree_sitter_rust", "language", _RUST),
}

# tree-sitter parses ~10 MB/s here, and the tenth of files past this size hold more than
# half the bytes of a typical tree: the index tags them with the line patterns below (enough
# to link files), and the few that reach a pack are parsed in full then (FULL_PARSE_BYTES).
MAX_PARSE_BYTES = 24 * 1024
FULL_PARSE_BYTES = 512 * 1024

# Line patterns for big files: top-level-ish definitions only, good enough to link them.
_LINE_DEFS = {
    "python": re.compile(rb"^([ \t]*)(?:async[ \t]+)?(def|class)[ \t]+([A-Za-z_]\w*)", re.M),
    "javascript": re.compile(
        rb"^([ \t]*)(?:export[ \t]+)?(?:default[ \t]+)?(?:async[ \t]+)?"
        rb"(function\*?|class)[ \t]+([A-Za-z_$][\w$]*)",
        re.M,
    ),
    "go": re.compile(rb"^()(func|type)[ \t]+(?:\([^)]*\)[ \t]*)?([A-Za-z_]\w*)", re.M),
    "rust": re.compile(
        rb"^([ \t]*)(?:pub(?:\([^)]*\))?[ \t]+)?(?:async[ \t]+)?"
        rb"(fn|struct|enum|trait|mod)[ \t]+([A-Za-z_]\w*)",
        re.M,
    ),
}
_LINE_DEFS["typescript"] = _LINE_DEFS["tsx"] = _LINE_DEFS["javascript"]
_LINE_KINDS = {b"def": "function", b"fn": "function", b"func": "function"}


class Definition(NamedTuple):
    """One named definition: ``line``/``end_line`` are 1-based and inclusive.

    A NamedTuple, not a dataclass: tens of thousands of these are pickled in the index cache.
    """

    name: str
    kind: str
    line: int
    end_line: int
    depth: int  # 0 for top level, 1 for a method in a class, ...


def supported(lang: str | None) -> bool:
    return lang in _GRAMMARS


@cache
def _parser_and_query(lang: str) -> tuple[Any, Any]:
    import tree_sitter as ts

    module_name, func, query_text = _GRAMMARS[lang]
    module = importlib.import_module(module_name)
    language = ts.Language(getattr(module, func)())
    return ts.Parser(language), ts.Query(language, query_text)


# Node types that open a scope: a definition inside one is a member, not top level.
_SCOPES = frozenset(
    {
        "class_definition",
        "function_definition",
        "class_declaration",
        "function_declaration",
        "method_definition",
        "impl_item",
        "trait_item",
        "function_item",
        "interface_declaration",
    }
)


def _depth(node: Any) -> int:
    depth = 0
    parent = node.parent
    while parent is not None:
        depth += parent.type in _SCOPES
        parent = parent.parent
    return depth


def definitions(
    source: bytes, lang: str | None, *, max_parse: int = MAX_PARSE_BYTES
) -> list[Definition]:
    """The definitions in ``source``, in file order; empty for unsupported languages."""
    if lang not in _GRAMMARS:
        return []
    if len(source) > max_parse:
        return _line_definitions(source, lang)
    import tree_sitter as ts

    parser, query = _parser_and_query(lang)
    tree = parser.parse(source)
    captures: dict[str, list[Any]] = ts.QueryCursor(query).captures(tree.root_node)
    found: list[Definition] = []
    for capture, nodes in captures.items():
        kind = capture.split(".", 1)[1]
        for node in nodes:
            whole = node.parent if node.parent is not None else node
            if whole.type == "variable_declarator" and whole.parent is not None:
                whole = whole.parent
            name = node.text.decode("utf-8", "replace") if node.text else ""
            if not name:
                continue
            found.append(
                Definition(
                    name=name,
                    kind=kind,
                    line=whole.start_point[0] + 1,
                    end_line=whole.end_point[0] + 1,
                    depth=_depth(whole),
                )
            )
    found.sort(key=lambda d: (d.line, d.name))
    return found


def _line_definitions(source: bytes, lang: str) -> list[Definition]:
    """Definitions of a big file by line patterns; spans end where the next one starts."""
    found: list[Definition] = []
    line, pos = 1, 0
    for match in _LINE_DEFS[lang].finditer(source):
        line += source.count(b"\n", pos, match.start())  # counted once, front to back
        pos = match.start()
        kind = _LINE_KINDS.get(match.group(2), "class" if match.group(2) == b"class" else "type")
        depth = 1 if match.group(1) else 0
        found.append(Definition(match.group(3).decode("ascii", "replace"), kind, line, line, depth))
    spans: list[Definition] = []
    for i, d in enumerate(found):
        end = found[i + 1].line - 1 if i + 1 < len(found) else source.count(b"\n") + 1
        spans.append(d._replace(end_line=max(d.line, end)))
    return spans
