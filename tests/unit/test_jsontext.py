"""The preview's JSON text (engine/jsontext.py): orjson's bytes are the standard library's."""

from __future__ import annotations

import dataclasses
import datetime
import json
import uuid

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from fuzz_profiles import examples
from mail2dataverse import jsontext

STDLIB = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), default=str).encode

# Every character but lone surrogates (no UTF-8 exists for them), control characters included
TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=40)
SCALARS = st.none() | st.booleans() | st.integers(-(2**63), 2**64 - 1) | TEXT
PLAIN = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=5) | st.dictionaries(TEXT, inner, max_size=5),
                     max_leaves=30)


@given(PLAIN)
@settings(max_examples=examples(300))
@example({"subject": "Re: order – \u2028\x7f\x00\x1f\"\\/", "n": [1, True, None, {"": ""}]})
def test_plain_data_reads_exactly_as_the_standard_library_writes_it(value):
    assert jsontext.dumps_bytes(value) == STDLIB(value).encode("utf-8")


@given(st.floats(allow_nan=False, allow_infinity=False))
@settings(max_examples=examples(200))
@example(1e16)
@example(1e-7)
@example(-0.0)
def test_a_float_is_the_same_number(value):
    assert json.loads(jsontext.dumps_bytes([value])) == [value]


@dataclasses.dataclass(frozen=True)
class _Ref:
    source: str
    index: int


def _nested(depth: int) -> list:
    value: list = []
    for _ in range(depth):
        value = [value]
    return value


@pytest.mark.parametrize("value", [
    {"big": 2**64, "negative": -(2**63) - 1},  # past 64 bits: left to the standard library
    _nested(300),                               # deeper than orjson goes: the same
    {"ref": _Ref("m.json", 3), "when": datetime.datetime(2025, 1, 2, 3, 4, tzinfo=datetime.timezone.utc),
     "day": datetime.date(2025, 1, 2), "tags": ("a", "b"), "set": {1}, "raw": b"x", "id": uuid.UUID(int=5)},
    {7: "seven", True: "yes", None: "none"},    # keys that are not strings, as the standard library writes them
])
def test_what_is_not_plain_json_reads_as_the_standard_library_writes_it(value):
    assert jsontext.dumps_bytes(value) == STDLIB(value).encode("utf-8")


def test_without_orjson_the_text_is_the_same(monkeypatch):
    value = {"subject": "Jörg – hi", "n": [1, 2**70], "ref": _Ref("m.json", 1)}
    fast = jsontext.dumps_bytes(value)
    monkeypatch.setattr(jsontext, "orjson", None)
    assert jsontext.dumps_bytes(value) == fast


def test_a_lone_surrogate_is_refused_as_before():
    with pytest.raises(UnicodeEncodeError):
        jsontext.dumps_bytes({"subject": "\ud800"})
