"""What the JSON-array reader checks around the C scanner: the depth of a record, refused tokens.

:func:`deep_at` follows the nesting of a record's bytes in C (``replace``/``translate``/``split``),
so it must not be fooled by brackets, quotes and backslashes inside strings; the reader calls it
only for records with enough brackets to be too deep. :func:`refused_token` finds again, after
the scanner refused a number or a ``NaN``, where that token is (the scanner does not say).
"""

from __future__ import annotations

import json

import pytest

from mail2dataverse.sources.json_scan import MAX_DEPTH, deep_at, may_be_too_deep, refused_token

TRICKY = [
    {"s": "[" * 1000, "t": "{" * 1000},  # brackets inside strings are not nesting
    {"s": 'a \\" [[[ \\\\" ' + "[" * 300},  # escaped quotes and an escaped backslash before a quote
    {"s": "\\" * 7 + '"' + "[" * 300},  # a run of backslashes, then an escaped quote
    {"s": "", "t": "", "u": ["", "[", "]]]]"]},  # empty strings and strings of brackets only
    {"s": "\u00e9\u00e8 \U0001F600 [{"},  # non-ASCII bytes among the brackets
]


@pytest.mark.parametrize("record", TRICKY, ids=range(len(TRICKY)))
def test_brackets_quotes_and_backslashes_in_strings_are_not_nesting(record):
    # padded with real nesting, so that the exact count runs (few brackets are decided at once)
    data = json.dumps([[[{**record, "pad": "{" * 300}]]], ensure_ascii=False).encode()
    assert may_be_too_deep(data.decode(), 0, len(data))  # enough brackets for a close look
    assert deep_at(data) is None


def test_the_deepest_accepted_record_passes_and_one_more_level_is_refused_at_its_bracket():
    # the top-level array is level 1: a record may nest MAX_DEPTH - 1 levels
    ok = b"[" * (MAX_DEPTH - 1) + b"]" * (MAX_DEPTH - 1)
    assert deep_at(ok) is None
    deep = b'{"a": "\\\\", "b": ' + b"[" * MAX_DEPTH + b"]" * MAX_DEPTH + b"}"
    assert deep_at(deep) == deep.index(b"[") + MAX_DEPTH - 2  # the record's object is level 2


def test_a_record_cut_in_the_middle_of_a_string_is_judged_on_what_is_there():
    # the reader looks at a record that ends at the end of the text read so far, before reading on
    assert deep_at(b'{"a": "[[[' + b"[" * 1000) is None
    assert deep_at(b'{"a": "x", "b": ' + b"[" * 1000) == 16 + MAX_DEPTH - 2


def test_few_brackets_are_never_looked_at_closely():
    text = json.dumps({"to": [{"email": "a@b"}], "s": "[x]"})
    assert not may_be_too_deep(text, 0, len(text))


@pytest.mark.parametrize(("text", "kind", "token"), [
    ('{"s": "NaN", "n": NaN}', "constant", "NaN"),
    ('{"s": "-Infinity \\" Infinity", "n": [1, -Infinity]}', "constant", "-Infinity"),
    ('{"a": 12, "b": "' + "9" * 200 + '", "c": -' + "9" * 150 + "}", "int", "-" + "9" * 150),
    ('{"a": 1e10, "b": "1e400", "c": 2.5E+400}', "float", "2.5E+400"),
    ('{"a": 1' + "0" * 120 + ".5}", "int", None),  # a long real is not an integer
])
def test_the_refused_token_is_found_past_strings_that_look_like_it(text, kind, token):
    found = refused_token(text, 0, kind, 100)
    if token is None:
        assert found is None
    else:
        assert found is not None and text[found[0]:found[1]] == token
