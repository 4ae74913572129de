"""The JSON reader's single pass: nesting and surrogate checks made on the bytes as they stream.

The checks run on each chunk before ijson parses it, so they must give the same answer wherever
the chunks are cut: inside a string, between a backslash and what it escapes, between the two
halves of a surrogate pair. Every case is read through files that hand out 1, 2, 3, 7 or 64
bytes at a time.
"""

from __future__ import annotations

import io
import json

import ijson
import pytest

from mail2dataverse.sources.json_scan import MAX_DEPTH, LoneSurrogate, ScanningReader, TooDeep

PIECES = (1, 2, 3, 7, 64)


class Pieces(io.RawIOBase):
    """A file whose reads return at most ``size`` bytes."""

    def __init__(self, data: bytes, size: int):
        super().__init__()
        self._data, self._size, self._pos = data, size, 0

    def read(self, n: int = -1) -> bytes:
        n = self._size if n < 0 else min(n, self._size)
        out = self._data[self._pos:self._pos + n]
        self._pos += len(out)
        return out


def parse(data: bytes, size: int, **kwargs) -> list:
    reader = ScanningReader(Pieces(data, size), **kwargs)
    return list(ijson.get_backend("yajl2_c").items(reader, "item", use_float=True))


TRICKY = [
    {"s": "[" * 1000, "t": "{" * 1000},  # brackets inside strings are not nesting
    {"s": 'a \\" [[[ \\\\" ' + "[" * 300},  # escaped quotes and an escaped backslash before a quote
    {"s": "\\" * 7 + '"' + "[" * 300},  # a run of backslashes, then an escaped quote
    {"s": "", "t": "", "u": ["", "[", "]]]]"]},  # empty strings and strings of brackets only
    {"s": "\u00e9\u00e8 \U0001F600 [{"},  # non-ASCII bytes among the brackets
]


@pytest.mark.parametrize("size", PIECES)
def test_brackets_in_strings_are_not_nesting_wherever_the_chunks_are_cut(size):
    data = json.dumps(TRICKY, ensure_ascii=False).encode()
    assert parse(data, size) == TRICKY


@pytest.mark.parametrize("size", PIECES)
def test_the_deepest_accepted_nesting_passes_and_one_more_level_is_refused_at_its_bracket(size):
    # the top-level array is level 1: a record may nest MAX_DEPTH - 1 levels
    ok = b'[{"a": "[[["}, ' + b"[" * (MAX_DEPTH - 1) + b"]" * (MAX_DEPTH - 1) + b"]"
    assert len(parse(ok, size)) == 2
    deep = b'[{"a": "\\\\"}, ' + b"[" * MAX_DEPTH + b"]" * MAX_DEPTH + b"]"
    with pytest.raises(TooDeep) as err:
        parse(deep, size)
    assert err.value.offset == deep.index(b"[" * MAX_DEPTH) + MAX_DEPTH - 1  # the 257th bracket


@pytest.mark.parametrize("size", PIECES)
def test_the_parser_never_sees_the_bytes_beyond_the_refused_bracket(size):
    # the damage after the deep bracket is never reached: the depth is what is reported
    data = b"[" + b"[" * 100_000 + b"!"
    reader = ScanningReader(Pieces(data, size))
    with pytest.raises(TooDeep):
        list(ijson.get_backend("yajl2_c").items(reader, "item"))
    assert reader.pos <= MAX_DEPTH  # what the parser was given


@pytest.mark.parametrize("size", PIECES)
def test_a_surrogate_pair_split_across_chunks_is_not_lone(size):
    data = b'[{"s": "smile \\ud83d\\ude00"}, {"s": "x"}]'
    assert parse(data, size)[0]["s"] == "smile \U0001F600"


@pytest.mark.parametrize("size", PIECES)
@pytest.mark.parametrize("body", [b'"a\\ud800"', b'"a\\udc00b"', b'"\\ud800\\ud800"', b'"x\\ud83d"'])
def test_a_lone_surrogate_is_seen_before_the_c_parser_reads_it(size, body):
    with pytest.raises(LoneSurrogate):
        parse(b'[{"s": ' + body + b"}]", size)
    # with Python's backend (the caller's remedy) the check is off and the text is kept
    assert ijson.get_backend("python").items(
        ScanningReader(Pieces(b'[{"s": ' + body + b"}]", size), surrogates=False), "item")
