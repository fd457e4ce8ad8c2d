"""The synthesis rungs and the gate, each on its own, including their refusals."""

from __future__ import annotations

import json

import pytest

from gitfleet.synthesis import gate, lines, structured
from gitfleet.synthesis.attributes import intent
from gitfleet.synthesis.ladder import Ladder
from gitfleet.synthesis.sides import MAX_BYTES, Decline, Sides


def dumps(value: object) -> bytes:
    return (json.dumps(value, indent=2) + "\n").encode()


def settle(path: str, base: bytes | None, ours: bytes, theirs: bytes, **files: bytes):  # type: ignore[no-untyped-def]
    """The ladder over three versions, with ``files`` as the target's tree."""
    tree = {name.replace("__", "/").replace("_dot_", "."): data for name, data in files.items()}
    ladder = Ladder(["attributes", "structured", "lines"], tree.get)
    return ladder.settle(Sides(path, base, ours, theirs))


# --- structured -----------------------------------------------------------------------


def test_json_lists_keep_both_insertions_target_first_and_shared_ones_once() -> None:
    base = dumps({"items": ["a"], "title": "t"})
    ours = dumps({"items": ["a", "b", "same"], "title": "t"})
    theirs = dumps({"items": ["a", "same", "c"], "title": "t", "new": 1})
    merged = structured.merge(Sides("sidebar.json", base, ours, theirs), "json")
    assert json.loads(merged) == {"items": ["a", "b", "same", "c"], "title": "t", "new": 1}
    assert merged.endswith(b"}\n") and b'\n  "items": [\n    "a",' in merged


def test_one_key_changed_two_ways_stays_a_conflict() -> None:
    sides = Sides("conf.json", dumps({"port": 1}), dumps({"port": 2}), dumps({"port": 3}))
    with pytest.raises(Decline, match="both sides changed port differently"):
        structured.merge(sides, "json")


def test_a_side_that_does_not_parse_is_named() -> None:
    sides = Sides("conf.json", dumps({"a": 1}), dumps({"a": 1, "b": 2}), b'{"a": 1,, }\n')
    with pytest.raises(Decline, match="the branch version does not parse as JSON"):
        structured.merge(sides, "json")


def test_duplicate_keys_count_as_not_parsing() -> None:
    sides = Sides("c.json", b'{"a": 1}\n', b'{"a": 1, "a": 2}\n', b'{"a": 1, "b": 1}\n')
    with pytest.raises(Decline, match=r"target version .*duplicate key 'a'"):
        structured.merge(sides, "json")
    yaml_dup = Sides("c.yml", b"a: 1\n", b"a: 1\na: 2\n", b"a: 1\nb: 1\n")
    with pytest.raises(Decline, match="target version does not parse"):
        structured.merge(yaml_dup, "yaml")


def test_lockfiles_are_not_merged() -> None:
    sides = Sides("web/package-lock.json", dumps({}), dumps({"a": 1}), dumps({"b": 1}))
    with pytest.raises(Decline, match="lockfile"):
        structured.merge(sides, "json")


def test_yaml_nav_items_from_both_sides_keep_comments_and_layout() -> None:
    base = (
        b"site_name: Demo  # the site\nnav:\n  - Home: index.md\n  - Articles:\n      - a/SP-0.md\n"
    )
    ours = base + b"      - a/SP-1.md\n"
    theirs = base + b"      - a/SP-2.md\n"
    merged = structured.merge(Sides("mkdocs.yml", base, ours, theirs), "yaml")
    assert merged == base + b"      - a/SP-1.md\n      - a/SP-2.md\n"


def test_toml_tables_of_one_array_from_both_sides() -> None:
    base = b'# every article\n[[articles]]\nid = "SP-0"\n'
    ours = base + b'\n[[articles]]\nid = "SP-1"\n'
    theirs = base + b'\n[[articles]]\nid = "SP-2"  # mine\n'
    merged = structured.merge(Sides("data/a.toml", base, ours, theirs), "toml")
    assert merged.startswith(b"# every article\n")
    assert b'id = "SP-2"  # mine' in merged
    assert merged.index(b"SP-1") < merged.index(b"SP-2")


# --- lines ----------------------------------------------------------------------------


def test_both_sides_appending_lines_keep_both_target_first() -> None:
    base = b"# Index\n- one\n"
    merged = lines.merge(Sides("index.md", base, base + b"- two\n", base + b"- three\n"))
    assert merged == b"# Index\n- one\n- two\n- three\n"


def test_a_line_both_inserted_appears_once() -> None:
    base = b"a\n"
    merged = lines.merge(Sides("x.txt", base, base + b"same\nb\n", base + b"same\nc\n"))
    assert merged == b"a\nsame\nb\nc\n"


def test_insert_versus_change_is_not_applied() -> None:
    base = b"def f():\n    return 1\n"
    ours = b"def f():\n    return 2\n"
    theirs = b"def f():\n    return 3\n"
    with pytest.raises(Decline, match="both sides changed base lines"):
        lines.merge(Sides("f.py", base, ours, theirs))


def test_lines_that_would_define_a_name_twice_are_refused() -> None:
    base = b"import os\n"
    ours = base + b"\n\ndef helper():\n    return 1\n"
    theirs = base + b"\n\ndef helper():\n    return 2\n"
    with pytest.raises(Decline, match=r"define .*helper twice"):
        lines.merge(Sides("m.py", base, ours, theirs))


def test_lines_inside_ordered_constructs_are_refused() -> None:
    base = b"match x:\n    case 1:\n        pass\n"
    ours = base + b"    case 2:\n        a()\n"
    theirs = base + b"    case 3:\n        b()\n"
    with pytest.raises(Decline, match="ordered construct"):
        lines.merge(Sides("m.py", base, ours, theirs))
    base = b"@app.route\ndef f():\n    pass\n"
    with pytest.raises(Decline, match="ordered construct"):
        lines.merge(Sides("d.py", base, b"@auth\n" + base, b"@cache\n" + base))


def test_lines_inside_comma_separated_containers_are_refused() -> None:
    base = b"ITEMS = [\n    1,\n]\n"
    ours = b"ITEMS = [\n    1,\n    2,\n]\n"
    theirs = b"ITEMS = [\n    1,\n    3,\n]\n"
    with pytest.raises(Decline, match="comma"):
        lines.merge(Sides("c.py", base, ours, theirs))
    with pytest.raises(Decline, match="structured"):
        lines.merge(Sides("c.json", b"[]", b"[1]", b"[2]"))


# --- the ladder: attributes, binary and huge files ------------------------------------


def test_binary_and_huge_files_are_never_touched() -> None:
    found = settle("logo.json", b"\0a", b"\0b", b"\0c")
    assert isinstance(found, list) and all("binary" in r for r in found)
    big = b"x" * (MAX_BYTES + 1)
    found = settle("big.json", dumps([big.decode()]), dumps(["a"]), dumps(["b"]))
    assert isinstance(found, list) and any("over 1 MiB" in r for r in found)
    assert not any(r.startswith("lines: ") and "MiB" not in r for r in found)


def test_binary_attribute_in_the_target_tree_stops_the_ladder() -> None:
    base = dumps(["a"])
    found = settle(
        "data/list.json",
        base,
        dumps(["a", "b"]),
        dumps(["a", "c"]),
        _dot_gitattributes=b"*.json binary\n",
    )
    assert isinstance(found, list) and len(found) == 1
    assert found[0].startswith("attributes: the owner says never") and "*.json binary" in found[0]


def test_union_and_structured_drivers_from_attributes() -> None:
    attrs = b"*.log merge=union\nregistry.data merge=gitfleet-json\n"
    merged, rung = settle("a/x.log", b"a\n", b"a\nb\n", b"a\nc\n", _dot_gitattributes=attrs)  # type: ignore[misc]
    assert (merged, rung) == (b"a\nb\nc\n", "attributes")
    merged, rung = settle(
        "registry.data", dumps([1]), dumps([1, 2]), dumps([1, 3]), _dot_gitattributes=attrs
    )  # type: ignore[misc]
    assert json.loads(merged) == [1, 2, 3] and rung == "attributes"


def test_attributes_nested_files_and_patterns() -> None:
    tree = {".gitattributes": b"*.md merge=union\n", "docs/.gitattributes": b"*.md -merge\n"}
    assert intent(tree.get, "index.md").driver == "union"
    assert intent(tree.get, "docs/a/b.md").driver == "never"
    assert (
        intent({".gitattributes": b"/docs/**/x.md binary\n"}.get, "docs/a/x.md").driver == "never"
    )
    assert intent({".gitattributes": b"/x.md binary\n"}.get, "docs/x.md").driver is None


# --- the gate -------------------------------------------------------------------------


def test_gate_refuses_added_conflict_markers() -> None:
    result = b"a\n<<<<<<< HEAD\nb\n=======\nc\n>>>>>>> x\n"
    found = gate.check_file("f.txt", b"a\n", b"a\n", result, result)
    assert [f.problem for f in found] == ["conflict markers were added"]
    heading = b"Title\n=======\n"  # a lone ======= is a markdown underline
    assert gate.check_file("r.md", b"", b"", heading, heading) == []


def test_gate_refuses_two_case_3_arms() -> None:
    base = b"switch (x) {\n  case 1:\n    a();\n    break;\n}\n"
    ours = base.replace(b"}\n", b"  case 3:\n    b();\n    break;\n}\n")
    theirs = base.replace(b"  case 1:", b"  case 3:\n    c();\n    break;\n  case 1:")
    result = theirs.replace(b"}\n", b"  case 3:\n    b();\n    break;\n}\n")
    found = gate.check_file("s.js", base, ours, theirs, result)
    assert any("duplicate case label `3` of `(x)`" in f.problem for f in found)
    assert gate.check_file("s.js", base, ours, base, ours) == []


def test_gate_refuses_a_dropped_line_but_allows_a_deliberate_deletion() -> None:
    base = b"a\nb\n"
    ours = b"a\nb\nmain's\n"
    theirs = b"a\nb\nmine\n"
    found = gate.check_file("f.txt", base, ours, theirs, b"a\nb\nmine\n")
    assert found and "main's" in found[0].problem
    assert gate.check_file("f.txt", base, b"a\n", b"a\nb\nc\n", b"a\nc\n") == []


def test_gate_refuses_what_no_longer_parses_where_both_sides_did() -> None:
    found = gate.check_file("c.json", b"{}", b'{"a": 1}', b'{"b": 1}', b'{"a": 1, "a": 2}')
    assert any("duplicate key" in f.problem for f in found)
    found = gate.check_file("m.py", b"", b"x = 1\n", b"y = 2\n", b"x = (1\n")
    assert any("no longer parses as python" in f.problem for f in found)
    assert gate.check_file("m.py", b"", b"x = (\n", b"y = 2\n", b"x = (\ny = 2\n") == []


def test_adjacent_keys_changed_on_each_side_are_edited_in_place_keeping_comments() -> None:
    base = b"# settings\nport: 1  # the port\nhost: a\n"
    ours = b"# settings\nport: 2  # the port\nhost: a\n"
    theirs = b"# settings\nport: 1  # the port\nhost: b\n"
    merged = structured.merge(Sides("s.yaml", base, ours, theirs), "yaml")
    assert merged == b"# settings\nport: 2  # the port\nhost: b\n"
    base = b'# settings\nport = 1  # the port\nhost = "a"\n'
    ours = b'# settings\nport = 2  # the port\nhost = "a"\n'
    theirs = b'# settings\nport = 1  # the port\nhost = "b"\n'
    merged = structured.merge(Sides("s.toml", base, ours, theirs), "toml")
    assert merged == b'# settings\nport = 2  # the port\nhost = "b"\n'


def test_inserted_lines_that_would_not_certify_are_merged_by_value() -> None:
    # each side appended the same key: joined lines would hold it twice (a duplicate key)
    base = b"a: 1\n"
    sides = Sides("s.yml", base, base + b"b: 2\nc: 3\n", base + b"b: 2\nd: 4\n")
    assert structured.load("yaml", structured.merge(sides, "yaml").decode()) == {
        "a": 1,
        "b": 2,
        "c": 3,
        "d": 4,
    }


def test_yaml_with_tags_the_safe_loader_does_not_know() -> None:
    base = (
        b"site_name: Demo\nnav:\n  - Home: index.md\n"
        b"markdown_extensions:\n  - pymdownx.emoji:\n"
        b"      emoji_index: !!python/name:material.extensions.emoji.twemoji\n"
    )
    ours = base.replace(b"  - Home: index.md\n", b"  - Home: index.md\n  - A: a.md\n")
    theirs = base.replace(b"site_name: Demo", b"site_name: Demo site")
    merged = structured.merge(Sides("mkdocs.yml", base, ours, theirs), "yaml")
    assert merged == ours.replace(b"site_name: Demo", b"site_name: Demo site")
    twice = ours.replace(b"twemoji", b"to_svg")
    with pytest.raises(Decline, match="changed markdown_extensions"):
        structured.merge(Sides("mkdocs.yml", base, twice, theirs.replace(b"twemoji", b"x")), "yaml")


def test_two_different_functions_added_at_one_place_are_both_kept() -> None:
    base = b"import os\n"
    ours = base + b"\n\ndef mine():\n    return 1\n"
    theirs = base + b"\n\ndef yours():\n    return 2\n"
    merged = lines.merge(Sides("m.py", base, ours, theirs))
    assert merged == base + b"\n\ndef mine():\n    return 1\n\n\ndef yours():\n    return 2\n"
    go = b"package a\n"
    merged = lines.merge(
        Sides(
            "a.go", go, go + b"\nfunc A() int { return 1 }\n", go + b"\nfunc B() int { return 2 }\n"
        )
    )
    assert b"func A()" in merged and b"func B()" in merged


@pytest.mark.parametrize(
    ("path", "base", "arm"),
    [
        ("m.py", b"match x:\n    case 1:\n        pass\n", b"    case 3:\n        go()\n"),
        ("m.go", b"package a\nfunc f(x int) {\n\tswitch x {\n\tcase 1:\n\t}\n}\n", b"\tcase 3:\n"),
        ("m.rs", b"fn f(x: i32) -> i32 {\n    match x {\n        1 => 1,\n    }\n}\n",
         b"        3 => 3,\n"),
    ],
)  # fmt: skip
def test_gate_finds_a_second_case_3_in_each_language(path: str, base: bytes, arm: bytes) -> None:
    lines_ = base.splitlines(keepends=True)
    at = next(i for i, line in enumerate(lines_) if b"1" in line and b"fn" not in line) + 1
    if path.endswith(".py"):
        at += 1
    one = b"".join([*lines_[:at], arm, *lines_[at:]])
    both = b"".join([*lines_[:at], arm, arm, *lines_[at:]])
    found = gate.check_file(path, base, one, one, both)
    assert any("duplicate case label `3`" in f.problem for f in found), (found, both)


def test_hand_formatted_json_is_edited_in_place() -> None:
    base = (
        b'{\n    "name": "site",\n    "deps": {"a": "1"},\n'
        b'    "items": [\n        {"id": 1}\n    ]\n}\n'
    )
    ours = base.replace(b'{"id": 1}\n', b'{"id": 1},\n        {"id": 2}\n')
    theirs = base.replace(b'{"id": 1}\n', b'{"id": 1},\n        {"id": 9}\n').replace(
        b'{"a": "1"}', b'{"a": "1", "b": "2"}'
    )
    merged = structured.merge(Sides("package.data.json", base, ours, theirs), "json")
    assert merged == (
        b'{\n    "name": "site",\n    "deps": {"a": "1", "b": "2"},\n    "items": [\n'
        b'        {"id": 1},\n        {"id": 2},\n        {"id": 9}\n    ]\n}\n'
    )


def test_overloads_and_property_setters_are_not_duplicate_definitions() -> None:
    base = b"from typing import overload\n\n\nclass A:\n    pass\n"
    ours = base + b"\n\n@overload\ndef f(x: int) -> int: ...\n"
    theirs = base + b"\n\n@overload\ndef f(x: str) -> str: ...\n"
    result = ours + b"\n\n@overload\ndef f(x: str) -> str: ...\n"
    assert gate.check_file("o.py", base, ours, theirs, result) == []
    plain = result.replace(b"@overload\n", b"")
    found = gate.check_file("o.py", base, ours.replace(b"@overload\n", b""),
                            theirs.replace(b"@overload\n", b""), plain)  # fmt: skip
    assert any("duplicate definition" in f.problem and "f" in f.problem for f in found)
