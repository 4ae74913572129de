"""The JSON-array reader over reads that end anywhere: in a record, in a character, in an escape.

The reader decodes what it reads and hands record after record to the C scanner; a record cut
by the end of the text read so far is parsed again once more is read. So the records, and the
damage found, must not depend on where the reads end: every case is read through files that
hand out 1, 2, 3, 7, 64 or 4096 bytes at a time, and the answer must be the one ``json.loads``
gives (or the same error, at the same byte, as with whole reads).
"""

from __future__ import annotations

import io
import json
import sys

import pytest

from mail2dataverse.errors import SourceError
from mail2dataverse.model import UnreadableRecord
from mail2dataverse.sources import json_array, open_source
from mail2dataverse.sources.inputs import CHUNK
from mail2dataverse.sources.json_scan import MAX_DEPTH

PIECES = (1, 2, 3, 7, 64, 4096)

RECORDS = [
    {"id": "m1", "subject": "Zoë Ångström – 😀 𝄞", "to": [{"email": "a@b.example"}], "n": 1741097109},
    {"s": "[" * 300 + "{" * 10, "t": 'a \\" [[ \\\\" ]]', "u": ["", "]]]", "\\"]},  # brackets in strings
    {"e": "\u003cdiv\u003e \u2028 \U0001F600 \\ud800 as text", "big": 2 ** 70 + 1, "neg": -(2 ** 64), "f": -0.25e-3},
    [], {}, "a string", 12345678, -0.5, 1e300, True, False, None, [[[[1]]]],
]


class Pieces(io.RawIOBase):
    """Reads of at most ``size`` bytes from ``f``."""

    def __init__(self, f, size: int):
        super().__init__()
        self._f, self._size = f, size

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        return self._f.read(self._size if n is None or n < 0 else min(n, self._size))

    def close(self) -> None:
        self._f.close()
        super().close()


@pytest.fixture
def pieces(monkeypatch):
    """Set the size of every read the JSON reader makes: ``pieces(size)``."""
    real = json_array.open_bytes

    def use(size: int) -> None:
        monkeypatch.setattr(json_array, "open_bytes", lambda *a: Pieces(real(*a), size))

    return use


def read(path) -> tuple[list, str | None]:
    """The records read before an error, and the error without the file name."""
    records = []
    try:
        with open_source(path, "messages") as src:
            records.extend(r for r in src.records())
    except SourceError as exc:
        return records, str(exc).removeprefix(f"{path}:")
    return records, None


def write(tmp_path, data: bytes):
    path = tmp_path / "m.json"
    path.write_bytes(data)
    return path


@pytest.mark.parametrize("size", PIECES)
@pytest.mark.parametrize("layout", ["compact", "indented", "spaced"])
def test_records_do_not_depend_on_where_the_reads_end(tmp_path, pieces, size, layout):
    if layout == "compact":
        data = json.dumps(RECORDS, ensure_ascii=False, separators=(",", ":"))
    elif layout == "indented":
        data = json.dumps(RECORDS, ensure_ascii=True, indent=2)  # escapes: \u00eb, surrogate pairs
    else:
        data = " \n[ " + " ,\n\t".join(json.dumps(r) for r in RECORDS) + " \r\n]\n "
    pieces(size)
    assert read(write(tmp_path, data.encode())) == (json.loads(data), None)


@pytest.mark.parametrize("size", PIECES)
def test_a_number_cut_by_a_read_is_read_whole(tmp_path, pieces, size):
    pieces(size)
    data = b"[123456789, -98765, 1.5e300, 0.000125, 12345678901234567890123, 7]"
    assert read(write(tmp_path, data)) == (json.loads(data), None)


DAMAGED = [
    b'[{"id": "a"}, {"id": "b" "c"}]',  # a missing comma inside a record
    b'[{"id": "a"}, {"id": "b"} {"id": "c"}]',  # and between records
    b'[{"s": "\xc3\xa9t\xc3\xa9"}, {"s": "\xc3\x28"}]',  # not UTF-8 after a good record
    b'[{"s": "Zo\xc3\xab"}, !]',
    b'[{"id": "a"}, {"s": "cut',  # truncated in a string
    b'[{"id": "a"}, {"n": 1.',  # truncated in a number
    b'[{"id": "a"}, {"n": tr',  # truncated in a literal
    b'[{"id": "a"}, {"s": "\\u00',  # truncated in an escape
    b'[{"id": "a"}, {"s": "\xf0\x9f\x98',  # truncated in a character
    b'[{"id": "a"}]  x',  # data after the array
    b'[{"id": "a"}, {"n": NaN}]',
    b'[{"id": "a"}, {"n": 1e999}]',
    b'[{"id": "a"}, {"n": ' + b"7" * 101 + b"}]",
    b'[{"id": "a"}, ' + b"[" * MAX_DEPTH + b"]" * MAX_DEPTH + b"]",
]


@pytest.mark.parametrize("data", DAMAGED, ids=range(len(DAMAGED)))
def test_damage_is_reported_at_the_same_byte_wherever_the_reads_end(tmp_path, pieces, data):
    path = write(tmp_path, data)
    whole = read(path)
    assert whole[1] is not None
    for size in PIECES:
        pieces(size)
        assert read(path) == whole, size


@pytest.mark.parametrize(("data", "error"), [
    (b'[{"id": "a"}, {"id": "b" "c"}]', "1:26: invalid JSON at byte 25 (after record 1): expected ',' or a closing bracket (found '\"')"),
    (b'[{"s": "\xc3\xa9"}, {"s": "\xc3\x28"}]', "1:21: invalid JSON at byte 21 (after record 1): not UTF-8 text: invalid continuation byte 0xc3"),
    (b'[{"id": "a"}, {"s": "\xf0\x9f\x98', "1:22: invalid JSON at byte 21 (after record 1): not UTF-8 text: unexpected end of data 0xf0"),
    (b'[{"id": "a"}, {"s": "cut', "1:25: invalid JSON at byte 24 (after record 1): the file ends in the middle of the JSON (a truncated export?)"),
    (b'[{"id": "a"}, {"n": 1.', "1:23: invalid JSON at byte 22 (after record 1): the file ends in the middle of the JSON (a truncated export?)"),
    (b'[{"id": "a"}, {"n": NaN}]', "1:21: invalid JSON at byte 20 (after record 1): NaN is not a JSON value (JSON has no NaN or Infinity)"),
    (b'[{"id": "a"}, {"n": 1e999}]', "1:21: record 2 at byte 20: a number beyond the range of a float (a damaged or hostile export?)"),
    (b'[{"id": "a"}, {"n": -' + b"7" * 100 + b"}]", "1:21: record 2 at byte 20: an integer of 101 characters (limit 100; a damaged or hostile export?)"),
    (b'[{"id": "a"}, [1, 2] x]', "1:22: invalid JSON at byte 21 (after record 2): expected ',' or ']' after a record (found 'x')"),
    (b'[{"id": "a"}]"', "1:14: invalid JSON at byte 13 (after record 1): unexpected data after the end of the array"),
    (b'[1,\x0b2]', "1:4: invalid JSON at byte 3 (after record 1): expected a value (found '\\x0b')"),
])
def test_damage_names_the_offending_byte(tmp_path, data, error):
    records, message = read(write(tmp_path, data))
    assert message == error



@pytest.mark.parametrize(("token", "column"), [("NaN", 21), ("Infinity", 21), ("-Infinity", 21), ("[1, -Infinity]", 25)])
def test_nan_and_infinity_are_refused_where_they_stand(tmp_path, token, column):
    """Python's json reads NaN and (-)Infinity; they are not JSON. The NDJSON reader refuses them
    with the same reason (test_sources_files.py::test_ndjson_refuses_nan_and_infinity_where_they_stand)."""
    records, message = read(write(tmp_path, b'[{"id": "a"}, {"n": ' + token.encode() + b"}]"))
    constant = token.strip("[1, ]")
    assert records == [{"id": "a"}]
    assert message == (f"1:{column}: invalid JSON at byte {column - 1} (after record 1): {constant} is not a JSON "
                       "value (JSON has no NaN or Infinity)")

def test_the_records_before_damage_are_yielded_first(tmp_path):
    # the reader streams: what comes before the bad byte is handed on (a sync validates first)
    records, message = read(write(tmp_path, b'[{"id": "a"}, {"id": "b"}, {"s": "\xff"}]'))
    assert records == [{"id": "a"}, {"id": "b"}] and "not UTF-8 text" in message


def padded(before: bytes, at: int) -> bytes:
    """``[{"pad": "xxx..."}`` then ``before``, which starts at byte ``at`` (the first read is CHUNK)."""
    head = b'[{"pad": "'
    return head + b"x" * (at - len(head) - 2) + b'"}' + before


@pytest.mark.parametrize(("name", "data"), [
    ("a record ends where the first read ends", padded(b',{"id": "b"}]', CHUNK)),
    ("a character is cut by the first read", padded(b',{"s": "\xc3\xa9\xf0\x9f\x98\x80"}]', CHUNK - 9)),
    ("a 4-byte character is cut by the first read", padded(b',{"s": "\xf0\x9f\x98\x80"}]', CHUNK - 10)),
    ("a number is cut by the first read", padded(b",1234567890]", CHUNK - 5)),
    ("an escape is cut by the first read", padded(b',{"s": "\\ud83d\\ude00 \\u00e9"}]', CHUNK - 11)),
])
def test_records_across_the_end_of_the_first_read(tmp_path, name, data):
    assert read(write(tmp_path, data)) == (json.loads(data), None)


def test_damage_right_after_the_end_of_the_first_read(tmp_path):
    data = padded(b",!]", CHUNK - 1)
    assert data.index(b"!") == CHUNK
    records, message = read(write(tmp_path, data))
    assert len(records) == 1
    assert message == f"1:{CHUNK + 1}: invalid JSON at byte {CHUNK} (after record 1): expected a value (found '!')"


def test_a_record_bigger_than_many_reads_costs_few_parses(tmp_path, monkeypatch):
    # each read past a cut record is at least as long as the record so far: 8 MB in a few steps
    calls = []

    def counting(text, index):
        calls.append(index)
        return real(text, index)

    real = json_array._SCAN
    monkeypatch.setattr(json_array, "_SCAN", counting)
    body = "<p>" + "y" * (8 << 20) + "</p>"
    data = json.dumps([{"id": "a"}, {"id": "big", "body": body}, {"id": "c"}]).encode()
    records, message = read(write(tmp_path, data))
    assert message is None and [r["id"] for r in records] == ["a", "big", "c"] and records[1]["body"] == body
    assert len(calls) < 30


def test_the_deepest_accepted_nesting_passes_and_one_more_level_is_refused_at_its_bracket(tmp_path):
    ok = b'[{"a": "[[["}, ' + b"[" * (MAX_DEPTH - 1) + b"]" * (MAX_DEPTH - 1) + b"]"
    assert len(read(write(tmp_path, ok))[0]) == 2
    deep = b'[{"a": "\\\\"}, ' + b"[" * MAX_DEPTH + b"]" * MAX_DEPTH + b"]"
    at = deep.index(b"[" * MAX_DEPTH) + MAX_DEPTH - 1  # the 257th bracket
    records, message = read(write(tmp_path, deep))
    assert records == [{"a": "\\"}]
    assert message.startswith(f"1:{at + 1}: JSON nested deeper than {MAX_DEPTH} levels at byte {at} (in record 2;")


@pytest.mark.parametrize("size", PIECES)
def test_a_deep_bomb_is_refused_without_reading_it_all(tmp_path, pieces, size, monkeypatch):
    # 100,000 "[" that never close: refused at the 257th, after reading a little of it
    data = b"[" + b"[" * 1_000_000 + b"!"
    got = []
    pieces(size)
    patched = json_array.open_bytes

    class Counting(Pieces):
        def read(self, n=-1):
            out = super().read(n)
            got.append(len(out))
            return out

    monkeypatch.setattr(json_array, "open_bytes", lambda *a: Counting(patched(*a), size))
    records, message = read(write(tmp_path, data))
    assert message.startswith(f"1:{MAX_DEPTH + 1}: JSON nested deeper than {MAX_DEPTH} levels at byte {MAX_DEPTH}")
    assert sum(got) < 300_000


def test_nesting_too_deep_is_reported_before_damage_past_it_and_after_damage_before_it(tmp_path):
    past = b"[" + b"[" * 300 + b"!"
    assert "nested deeper" in read(write(tmp_path, past))[1]
    before = b"[" + b"[" * 10 + b"!" + b"[" * 1000
    assert read(write(tmp_path, before))[1] == "1:12: invalid JSON at byte 11 (before the first record): expected a value (found '!')"


def test_a_record_as_deep_as_allowed_is_read_when_the_caller_is_itself_deep(tmp_path):
    # the C scanner shares Python's recursion limit (3.11): a caller 900 frames down still reads it
    data = b"[" + b"[" * (MAX_DEPTH - 1) + b"]" * (MAX_DEPTH - 1) + b"]"
    path = write(tmp_path, data)

    def down(n):
        return down(n - 1) if n else read(path)

    depth = sys.getrecursionlimit() - 100
    records, message = down(depth)
    assert message is None and len(records) == 1


@pytest.mark.parametrize("size", PIECES)
def test_a_lone_surrogate_escape_makes_an_unreadable_record_wherever_the_reads_end(tmp_path, pieces, size):
    pieces(size)
    data = b'[{"id": "a", "s": "\\ud83d\\ude00"}, {"id": "b", "s": "x\\ud800"}, {"id": "c", "s": "\\\\ud800"}, {"id": "d", "s": "\\uDC00"}]'
    records, message = read(write(tmp_path, data))
    assert message is None
    assert records[0] == {"id": "a", "s": "\U0001F600"} and records[2] == {"id": "c", "s": "\\ud800"}
    assert isinstance(records[1], UnreadableRecord) and records[1].id == "b" and "\\ud800 in $.s" in records[1].reason
    assert isinstance(records[3], UnreadableRecord) and records[3].id == "d"


def test_duplicate_keys_keep_the_last_value_and_integers_are_exact(tmp_path):
    data = b'[{"id": "m1", "id": "m2", "from": [], "from": [1], "n": 123456789012345678901234567890}]'
    assert read(write(tmp_path, data)) == ([{"id": "m2", "from": [1], "n": 123456789012345678901234567890}], None)
