"""engine/yamlio.py: one parse keeping nodes, located schema problems, locate()."""

from __future__ import annotations

import pytest

from mail2dataverse.errors import MappingError
from mail2dataverse.yamlio import find_node, json_path, load_yaml, locate, schema_problems

SCHEMA = {
    "type": "object",
    "additionalProperties": False,
    "required": ["name"],
    "properties": {
        "name": {"type": "string"},
        "items": {
            "type": "array",
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["id"],
                "properties": {"id": {"type": "integer"}, "tags": {"type": "array", "items": {"type": "string"}}},
            },
        },
        "kind": {"anyOf": [{"type": "string"}, {"type": "object", "required": ["x"]}]},
    },
}


def problems(text: str) -> list[str]:
    data, node = load_yaml(text, "f.yaml")
    return [str(p) for p in schema_problems(data, node, SCHEMA, "f.yaml")]


def test_load_returns_data_and_nodes():
    data, node = load_yaml("a: 1\nb: [x, y]\n", "f.yaml")
    assert data == {"a": 1, "b": ["x", "y"]}
    assert locate(node, ["b", 1]) == (2, 8)


def test_empty_document():
    assert load_yaml("", "f.yaml") == (None, None)
    assert load_yaml("# just a comment\n", "f.yaml") == (None, None)
    assert locate(None, ["a"]) == (1, 1)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a: [1,\n", "f.yaml:2:1: $: invalid YAML: while parsing a flow node: did not find expected node content"),
        ("a: 'open\n", "f.yaml:2:1: $: invalid YAML: the quote opened at line 1, column 4 is never closed: add the closing quote"
         " (the parser says: while scanning a quoted scalar: found unexpected end of stream)"),
        ("a: 1\n b: 2\n", "f.yaml:2:3: $: invalid YAML: this line is indented more than the line above it, as if it belonged under"
         " 'a', which already has a value: indent it like the line above"
         " (the parser says: mapping values are not allowed in this context)"),
        ("--- 1\n--- 2\n", "f.yaml:2:1: $: invalid YAML: expected a single document in the stream: but found another document"),
        ("a: *nope\n", "f.yaml:1:4: $: invalid YAML: '*' starts an alias to an '&anchor' in YAML, and there is none by that name:"
         " put a value that starts with '*' in quotes (the parser says: found undefined alias)"),
        ("\ta: 1\n", "f.yaml:1:1: $: invalid YAML: a tab character: YAML indents with spaces only; replace the tab with spaces"
         " (the parser says: while scanning for the next token: found character that cannot start any token)"),
    ],
)
def test_syntax_errors_are_located(text, message):
    with pytest.raises(MappingError) as err:
        load_yaml(text, "f.yaml")
    assert str(err.value) == message


def test_duplicate_keys_are_refused_everywhere():
    with pytest.raises(MappingError) as err:
        load_yaml("a: 1\nb:\n  - c: 1\n    c: 2\na: 3\n", "f.yaml")
    assert str(err.value) == (
        "f.yaml:4:5: $.b[0].c: duplicate key 'c' (first defined on line 3)\n"
        "f.yaml:5:1: $.a: duplicate key 'a' (first defined on line 1)"
    )


def test_all_schema_problems_sorted_and_located():
    text = "name: 3\nitems:\n  - id: x\n    tgs: []\n  - tags: [1]\nextra: true\n"
    assert problems(text) == [
        "f.yaml:1:7: $.name: 3 is not of type 'string'",
        "f.yaml:3:9: $.items[0].id: 'x' is not of type 'integer'",
        "f.yaml:4:5: $.items[0].tgs: unknown key 'tgs': did you mean 'tags'? (expected one of: id, tags)",
        "f.yaml:5:5: $.items[1]: missing required key 'id'",
        "f.yaml:5:12: $.items[1].tags[0]: 1 is not of type 'string'",
        "f.yaml:6:1: $.extra: unknown key 'extra' (expected one of: items, kind, name)",
    ]


def test_required_at_the_root_points_at_the_document():
    assert problems("items: []\n") == ["f.yaml:1:1: $: missing required key 'name'"]


def test_any_of_reports_the_branch_that_matched_the_type():
    assert problems("name: n\nkind: {y: 1}\n") == ["f.yaml:2:7: $.kind: missing required key 'x'"]
    assert problems("name: n\nkind: 5\n") == ["f.yaml:2:7: $.kind: 5 is not of type 'string' or 'object'"]


def test_locate_key_points_at_the_key_not_its_value():
    _, node = load_yaml("outer:\n  inner:\n    deep: 1\n", "f.yaml")
    assert locate(node, ["outer"], key="inner") == (2, 3)
    assert locate(node, ["outer", "inner"]) == (3, 5)
    assert locate(node, ["outer", "missing", "x"]) == (2, 3)  # deepest node that exists
    assert find_node(node, ["outer", "inner", "deep"]).value == "1"


def test_locate_non_string_keys():
    _, node = load_yaml("1: a\ntrue: b\n", "f.yaml")
    assert locate(node, [1]) == (1, 4)
    assert locate(node, [True]) == (2, 7)


@pytest.mark.parametrize(
    ("path", "text"),
    [
        ([], "$"),
        (["columns", "firstname", "transforms", 1], "$.columns.firstname.transforms[1]"),
        (["columns", "parentcustomerid_account@odata.bind"], "$.columns['parentcustomerid_account@odata.bind']"),
        (["a b", 0], "$['a b'][0]"),
    ],
)
def test_json_path(path, text):
    assert json_path(path) == text
