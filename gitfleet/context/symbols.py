"""Definitions in source files: line tags for a whole tree, tree-sitter for what is shown.

``tags`` finds definitions with a few line patterns per language: ~10x faster than parsing,
it is what the index runs on every file (the file graph needs names, and the patterns find
96% of the names tree-sitter does on site-packages, 99.7% of their hits being right).
``definitions`` parses with tree-sitter grammars shipped in per-language wheels, for the
few files a pack or a skeleton shows, where exact spans and members matter. Only the
per-language wheels are used (``tree-sitter-python`` and friends): the language pack 1.x
downloads grammars at run time, and gitfleet must work without a network. A file in a
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

# tree-sitter parses ~10 MB/s here: a 5,000-file tree holds 20-40 MB, seconds of parsing.
# So the index tags every file with the line patterns below (the names are all the graph
# needs), and tree-sitter parses only the few files shown to a person or a model (packs,
# skeletons), up to FULL_PARSE_BYTES. ``definitions`` past ``max_parse`` bytes (by
# default MAX_PARSE_BYTES) falls back to the tags.
MAX_PARSE_BYTES = 24 * 1024
FULL_PARSE_BYTES = 512 * 1024

# Line patterns: group 1 the indent (empty: top level), group 2 the keyword, group 3 the
# name. Every pattern starts at a newline (the text gets one prepended), which lets the
# regex engine skip ahead to candidates, and takes the indent atomically (the lookahead +
# backreference idiom; possessive quantifiers need python 3.11): a plain [ \t]* is retried
# at every shorter length on every line, which made tagging three times slower.
_IND = rb"\n(?=([ \t]*))\1"
_JS_ID = rb"[A-Za-z_$][\w$]*"
_TAG_PATTERNS: dict[str, tuple[bytes, ...]] = {
    "python": (
        _IND + rb"(?:async[ \t]+)?(def|class)[ \t]+([A-Za-z_]\w*)",
        # module constants: an assignment at column 0 (tree-sitter's query takes the same)
        rb"\n()()([A-Za-z_]\w*)[ \t]*(?::[^\n=]*)?=(?!=)",
    ),
    "javascript": (
        _IND + rb"(?:export[ \t]+)?(?:default[ \t]+)?(?:declare[ \t]+)?(?:abstract[ \t]+)?"
        rb"(?:async[ \t]+)?(function|class|interface|type|enum)(?:[ \t]*\*[ \t]*|[ \t]+)("
        + _JS_ID
        + rb")",
        # const/let at top level; any declaration whose value is a function
        _IND + rb"(?:export[ \t]+)?(const|let|var)[ \t]+(" + _JS_ID + rb")(?=[ \t]*(?::[^=\n]*)?"
        rb"=[ \t]*(?:async\b[ \t]*)?(?:function\b|class\b|\([^()\n]*\)[ \t]*(?::[^=\n]*)?=>|"
        + _JS_ID
        + rb"[ \t]*=>))",
        rb"\n()(const|let)[ \t]+(" + _JS_ID + rb")",
        # methods: `name(params) {`, or a typed signature `name(params): T;`
        _IND + rb"(?:(?:public|private|protected|static|async|readonly|override|abstract|get|set)"
        rb"[ \t]+)*()\*?[ \t]*#?(" + _JS_ID + rb")[ \t]*(?:<[^>\n]*>)?\([^()\n]*\)[ \t]*"
        rb"(?:\{|:[^{;\n]+[{;])",
    ),
    "go": (
        rb"\n()(func|type)[ \t]+(?:\([^)\n]*\)[ \t]*)?([A-Za-z_]\w*)",
        rb"\n()(const|var)[ \t]+([A-Za-z_]\w*)",
    ),
    "rust": (
        _IND + rb"(?:pub(?:\([^)\n]*\))?[ \t]+)?"
        rb"(?:(?:const|async|unsafe|default|extern(?:[ \t]+\"[^\"\n]*\")?)[ \t]+)*"
        rb"(fn|struct|enum|union|trait|type|mod|const|static)[ \t]+(?:mut[ \t]+)?([A-Za-z_]\w*)",
        _IND + rb"(macro_rules)![ \t]*([A-Za-z_]\w*)",
    ),
}
_TAG_PATTERNS["typescript"] = _TAG_PATTERNS["tsx"] = _TAG_PATTERNS["javascript"]
_TAGS = {lang: tuple(re.compile(p) for p in pats) for lang, pats in _TAG_PATTERNS.items()}
# Go's grouped declarations, `const (` ... `)`: each member line names one.
_GO_GROUP = re.compile(rb"\n(const|var|type)[ \t]*\(\n(.*?)\n\)", re.S)
_GO_MEMBER = re.compile(rb"(?:^|\n)[ \t]+([A-Za-z_]\w*)")
_NOT_METHODS = frozenset(
    b"if for while switch catch return function with do else new typeof await super".split()
)
_KINDS = {
    b"def": "function",
    b"fn": "function",
    b"func": "function",
    b"function": "function",
    b"class": "class",
    b"struct": "class",
    b"mod": "module",
    b"macro_rules": "macro",
    b"": "constant",
    b"const": "constant",
    b"let": "constant",
    b"var": "constant",
    b"static": "constant",
}


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
        return tags(source, lang)
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


class Tagged(NamedTuple):
    """A file's line tags as columns: the index stores them so, with no object per tag."""

    names: list[str]
    kinds: list[str]
    lines: list[int]
    ends: list[int]
    depths: list[int]


_NO_TAGS = Tagged([], [], [], [], [])


def tags(source: bytes, lang: str | None) -> list[Definition]:
    """Definitions by line patterns: fast, every file of a tree; spans end at the next one."""
    return list(map(Definition, *tag_columns(source, lang)))


def tag_columns(source: bytes, lang: str | None) -> Tagged:
    """``tags`` as columns."""
    patterns = _TAGS.get(lang or "")
    if not patterns:
        return _NO_TAGS
    text = b"\n" + source  # every pattern starts at a newline; line 1 has one too
    # (offset of the line's newline, keyword, name, indented); each tagger run costs
    # nothing next to the per-hit Python work, so that is kept to a minimum.
    hits: list[tuple[int, bytes, bytes, bytes]] = []
    for pattern in patterns:
        for m in pattern.finditer(text):
            keyword, name, indent = m.group(2, 3, 1)
            hits.append((m.start(), keyword, name, indent))
    if lang == "go":
        for block in _GO_GROUP.finditer(text):
            for m in _GO_MEMBER.finditer(block.group(2)):
                offset = text.rfind(b"\n", 0, block.start(2) + m.start(1))
                hits.append((offset, block.group(1), m.group(1), b""))
    if len(patterns) > 1:
        hits.sort()
    names: list[str] = []
    kinds: list[str] = []
    lines: list[int] = []
    depths: list[int] = []
    line, pos, last = 1, 0, (-1, b"")
    for offset, keyword, name, indent in hits:
        if (offset, name) == last:  # two patterns tagged one line (JS consts)
            continue
        last = (offset, name)
        if not keyword and lang != "python" and name in _NOT_METHODS:
            continue  # `if (x) {` has the shape of a method
        line += text.count(b"\n", pos + 1, offset + 1)
        pos = offset
        kind = _KINDS.get(keyword, "type")
        if (not keyword and indent) or (
            keyword == b"func" and text[offset + 5 : offset + 8].lstrip()[:1] == b"("
        ):
            kind = "method"
        names.append(name.decode("ascii", "replace"))
        kinds.append(kind)
        lines.append(line)
        depths.append(1 if indent else 0)
    # A definition runs until the next one at its depth or shallower (depths are 0 or 1).
    next_top = next_any = source.count(b"\n") + (1 if source.endswith(b"\n") else 2)
    ends = [0] * len(lines)
    for i in range(len(lines) - 1, -1, -1):
        ends[i] = max(lines[i], (next_any if depths[i] else next_top) - 1)
        next_any = lines[i]
        if not depths[i]:
            next_top = lines[i]
    return Tagged(names, kinds, lines, ends, depths)
