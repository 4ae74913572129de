"""open_source: JSON arrays, null, NDJSON, stdin, and how damage is reported."""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path

import pytest

from mail2dataverse.errors import ConfigError, SourceError
from mail2dataverse.model import RecordRef, UnreadableRecord
from mail2dataverse.sources import RecordSource, open_source

FIXTURES = Path(__file__).parent / "fixtures"


def write(tmp_path: Path, name: str, data: bytes | str) -> Path:
    path = tmp_path / name
    path.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
    return path


def read_all(src: RecordSource) -> list[tuple[RecordRef, object]]:
    with src:
        src.validate()
        return list(src)


# -- the CLI's real output ----------------------------------------------------------------------


def test_reference_messages_stream_as_is():
    path = FIXTURES / "messages.json"
    with open_source(path, "messages") as src:
        assert src.format == "json"
        assert src.validate() == 3
        assert src.count == 3
        pairs = list(src)
    expected = json.loads(path.read_text(encoding="utf-8"))
    assert [r for _, r in pairs] == expected  # passed through untouched, \u003c decoded
    ref, first = pairs[0]
    assert ref == RecordRef(str(path), 0, "18f3a9c2b7d41e05")
    assert first["body"].startswith('<div dir="ltr">Hi Dana')
    assert first["from"][0]["name"] == "Zoë Ångström"
    assert first["date"] == "2025-03-04T14:05:09Z"  # kept for the incremental sync
    assert "to" in pairs[1][1] and "cc" not in pairs[1][1]


def test_reference_contacts(tmp_path):
    with open_source(FIXTURES / "contacts.json", "contacts") as src:
        assert src.validate() == 3
        records = [r for _, r in src]
    assert "emails" not in records[2]
    assert records[2]["company_name"] == "Herrera & Hijos Construcción"


def test_source_can_be_iterated_twice_and_name_is_the_path(tmp_path):
    path = write(tmp_path, "messages.json", '[{"id": "a"}, {"id": "b"}]')
    src = open_source(str(path), "messages")
    assert src.name == str(path)
    assert [r.index for r, _ in src] == [0, 1]
    assert [r.id for r, _ in src] == ["a", "b"]
    src.close()
    with pytest.raises(SourceError, match="closed"):
        list(src)


@pytest.mark.parametrize("text", ["null", "null\n", "  null  \n"])
def test_null_means_no_records(tmp_path, text):
    src = open_source(write(tmp_path, "m.json", text), "messages")
    assert read_all(src) == []
    assert src.count == 0


def test_empty_array(tmp_path):
    assert read_all(open_source(write(tmp_path, "m.json", "[]\n"), "messages")) == []


def test_floats_and_big_integers_become_plain_numbers(tmp_path):
    path = write(tmp_path, "m.json", '[{"id": "a", "size": 248576, "score": 0.5, "huge": 123456789012345678901234567890}]')
    [(_, record)] = read_all(open_source(path, "messages"))
    assert record == {"id": "a", "size": 248576, "score": 0.5, "huge": 123456789012345678901234567890}
    assert type(record["score"]) is float
    json.dumps(record)  # serialisable downstream


def test_utf8_bom_and_utf16_files_are_accepted(tmp_path):
    text = '[{"id": "a", "subject": "Zoë"}]'
    for name, data in [("bom.json", b"\xef\xbb\xbf" + text.encode()), ("u16.json", text.encode("utf-16"))]:
        [(_, record)] = read_all(open_source(write(tmp_path, name, data), "messages"))
        assert record["subject"] == "Zoë"


# -- NDJSON -------------------------------------------------------------------------------------


def test_ndjson_skips_blank_lines(tmp_path):
    path = write(tmp_path, "m.ndjson", '{"id": "a"}\n\n   \n{"id": "b"}\n')
    src = open_source(path, "messages")
    assert src.format == "ndjson"
    assert [(r.index, r.id) for r, _ in read_all(src)] == [(0, "a"), (1, "b")]


def test_ndjson_bad_line_names_file_and_line(tmp_path):
    path = write(tmp_path, "m.jsonl", '{"id": "a"}\n\n{"id": \n')
    with pytest.raises(SourceError) as err:
        open_source(path, "messages").validate()
    assert str(err.value).startswith(f"{path}:3: invalid JSON: ")


def test_ndjson_non_object_line(tmp_path):
    path = write(tmp_path, "m.ndjson", '{"id": "a"}\n"oops"\n')
    with pytest.raises(SourceError, match=r"m\.ndjson:2: record 2 is a string, not an object"):
        open_source(path, "messages").validate()


def test_ndjson_an_encoded_surrogate_is_not_utf8_text(tmp_path):
    # json.loads decoded lines with "surrogatepass": ED A0 80 became a lone surrogate that no
    # check saw (the preview's spool then crashed writing it)
    path = write(tmp_path, "m.ndjson", b'{"id": "a"}\n{"id": "b", "s": "\xed\xa0\x80"}\n')
    with pytest.raises(SourceError, match=r"m\.ndjson:2: not UTF-8 text: invalid continuation byte$"):
        open_source(path, "messages").validate()



@pytest.mark.parametrize(("line", "column", "reason"), [
    ('{"id": "b", "n": NaN}', 18, "NaN is not a JSON value (JSON has no NaN or Infinity)"),
    ('{"id": "b", "n": Infinity}', 18, "Infinity is not a JSON value (JSON has no NaN or Infinity)"),
    ('{"id": "b", "s": "NaN", "n": [1, -Infinity]}', 34, "-Infinity is not a JSON value (JSON has no NaN or Infinity)"),
    ('\ufeff{"id": "b", "n": NaN}', 19, "NaN is not a JSON value (JSON has no NaN or Infinity)"),
])
def test_ndjson_refuses_nan_and_infinity_where_they_stand(tmp_path, line, column, reason):
    """json.loads reads NaN and (-)Infinity (Python's extension, not JSON): the NDJSON reader let
    them through. Refused as the JSON-array reader refuses them
    (test_json_array_reads.py::test_nan_and_infinity_are_refused_where_they_stand), at
    file:line:column and naming the record (blank lines are not records)."""
    path = write(tmp_path, "m.ndjson", '{"id": "a"}\n\n' + line + "\n")
    with pytest.raises(SourceError) as err:
        open_source(path, "messages").validate()
    assert str(err.value) == f"{path}:3:{column}: invalid JSON in record 2: {reason}"


def test_ndjson_refuses_a_real_beyond_a_float_as_the_json_array_reader_does(tmp_path):
    path = write(tmp_path, "m.ndjson", '{"id": "a", "n": 1e400}\n')
    with pytest.raises(SourceError) as err:
        open_source(path, "messages").validate()
    assert str(err.value) == f"{path}:1:18: record 1: a number beyond the range of a float (a damaged or hostile export?)"


def test_ndjson_an_over_long_integer_is_named_by_column_and_record(tmp_path):
    """It was named file:line only, where the JSON-array reader names the column and the record."""
    path = write(tmp_path, "m.ndjson", '{"id": "a"}\n\n{"id": "b", "n": -' + "7" * 100 + "}\n")
    with pytest.raises(SourceError) as err:
        open_source(path, "messages").validate()
    assert str(err.value) == (f"{path}:3:18: record 2: an integer of 101 characters "
                              "(limit 100; a damaged or hostile export?)")


def test_ndjson_byte_order_marks_of_joined_files_are_skipped(tmp_path):
    path = write(tmp_path, "m.ndjson", b'\xef\xbb\xbf{"id": "a"}\n\xef\xbb\xbf{"id": "b"}\n')
    assert [r.id for r, _ in read_all(open_source(path, "messages"))] == ["a", "b"]


def test_ndjson_a_lone_surrogate_escape_makes_an_unreadable_record(tmp_path):
    path = write(tmp_path, "m.ndjson", '{"id": "a", "s": "\\ud83d\\ude00"}\n{"id": "b", "s": "x\\udc00"}\n'
                                       '{"id": "c", "s": "\\\\ud800"}\n')
    records = [r for _, r in read_all(open_source(path, "messages"))]
    assert records[0] == {"id": "a", "s": "\U0001F600"} and records[2] == {"id": "c", "s": "\\ud800"}
    assert isinstance(records[1], UnreadableRecord) and records[1].id == "b"


def test_ndjson_detected_without_suffix(tmp_path):
    src = open_source(write(tmp_path, "export", '{"id": "a"}\n{"id": "b"}\n'), "messages")
    assert src.format == "ndjson" and src.validate() == 2


def test_explicit_format_wins_over_suffix(tmp_path):
    src = open_source(write(tmp_path, "m.txt", '{"id": "a"}\n'), "messages", fmt="jsonl")
    assert src.format == "ndjson" and src.validate() == 1


# -- stdin --------------------------------------------------------------------------------------


class _Stdin(io.TextIOWrapper):
    """A text stdin whose ``.buffer`` is binary, like the real one."""


@pytest.mark.parametrize("data,fmt", [
    ((FIXTURES / "messages.json").read_bytes(), "json"),
    (b'{"id": "18f3a9c2b7d41e05"}\n{"id": "x"}\n', "ndjson"),
    (b"null\n", "json"),
])
def test_stdin_is_spooled_and_detected(monkeypatch, data, fmt):
    monkeypatch.setattr(sys, "stdin", _Stdin(io.BytesIO(data), encoding="utf-8"))
    with open_source("-", "messages") as src:
        assert src.name == "-" and src.format == fmt
        count = src.validate()
        pairs = list(src)  # read again from the spool after validation
    assert len(pairs) == count
    assert all(ref.source == "-" for ref, _ in pairs)


def test_stdin_damage_is_reported(monkeypatch):
    monkeypatch.setattr(sys, "stdin", _Stdin(io.BytesIO(b'[{"id": "a"}, {"id"'), encoding="utf-8"))
    with pytest.raises(SourceError, match=r"^-:1:20: invalid JSON at byte 19 \(after record 1\)"):
        open_source("-", "messages").validate()


# -- damage -------------------------------------------------------------------------------------


def test_truncated_export_names_the_byte_offset(tmp_path):
    data = (FIXTURES / "messages.json").read_bytes()
    cut = data.index(b'"id": "18f3a4d01c9e7b22"') + 10  # inside record 3
    path = write(tmp_path, "messages.json", data[:cut])
    src = open_source(path, "messages")
    with pytest.raises(SourceError) as err:
        src.validate()
    line = data[:cut].count(b"\n") + 1
    column = len(data[:cut].rsplit(b"\n", 1)[-1].decode()) + 1
    assert str(err.value) == (
        f"{path}:{line}:{column}: invalid JSON at byte {cut} (after record 2): "
        "the file ends in the middle of the JSON (a truncated export?)"
    )
    # iterating without validating yields the intact records, then fails the same way
    seen = []
    with pytest.raises(SourceError, match=f"at byte {cut}"):
        for pair in src:
            seen.append(pair)
    assert len(seen) == 2


def test_truncated_big_export_offset_is_exact_beyond_the_first_chunk(tmp_path):
    records = [{"id": str(i), "body": "x" * 700} for i in range(500)]
    data = json.dumps(records).encode()
    bad = data.index(b'{"id": "400"')  # corrupt a byte deep inside the file (~280 KB in)
    data = data[:bad] + b"!" + data[bad + 1:]
    # one line: the column is the offset plus one
    with pytest.raises(SourceError, match=rf":1:{bad + 1}: invalid JSON at byte {bad} \(after record 400\): expected a value \(found '!'\)"):
        open_source(write(tmp_path, "m.json", data), "messages").validate()


def test_trailing_garbage(tmp_path):
    with pytest.raises(SourceError, match=r"byte 14 \(after record 1\): unexpected data after the end of the array"):
        open_source(write(tmp_path, "m.json", '[{"id": "a"}]\n[]'), "messages").validate()


@pytest.mark.parametrize("text,what", [
    ('{"data": [], "next_cursor": null}', "an object"),
    ("42", "a number"),
    ('"messages"', "a string"),
    ("true", "a boolean"),
])
def test_wrong_top_level_type(tmp_path, text, what):
    path = write(tmp_path, "m.json", text)
    with pytest.raises(SourceError, match=f"^{path}: the top-level JSON value is {what}, expected an array"):
        open_source(path, "messages").validate()


@pytest.mark.parametrize("text", ["", "  \n"])
def test_empty_file_is_not_an_empty_export(tmp_path, text):
    # the CLI prints nothing on stdout when it fails: that must not read as "no messages"
    with pytest.raises(SourceError, match="the file is empty"):
        open_source(write(tmp_path, "m.json", text), "messages").validate()


def test_null_followed_by_data(tmp_path):
    with pytest.raises(SourceError, match="byte 5 .*unexpected data after null"):
        open_source(write(tmp_path, "m.json", "null [1]"), "messages").validate()


def test_non_object_record_fails_validation_by_number_but_iterates(tmp_path):
    path = write(tmp_path, "m.json", '[{"id": "a"}, "oops", {"id": "c"}]')
    src = open_source(path, "messages")
    with pytest.raises(SourceError, match=r"^.*m\.json: record 2 is a string, not an object"):
        src.validate()
    assert src.validate(allow_non_objects=True) == 3
    assert [r for _, r in src] == [{"id": "a"}, "oops", {"id": "c"}]  # the mapper skips "oops"


# -- opening ------------------------------------------------------------------------------------


def test_missing_file(tmp_path):
    with pytest.raises(SourceError, match="no such file"):
        open_source(tmp_path / "nope.json", "messages")


def test_unknown_kind_and_format(tmp_path):
    path = write(tmp_path, "m.json", "[]")
    with pytest.raises(ConfigError, match="unknown record kind"):
        open_source(path, "events")
    with pytest.raises(ConfigError, match="unknown input format 'xml'"):
        open_source(path, "messages", fmt="xml")


def test_mbox_without_plugins_is_explained(tmp_path):
    path = write(tmp_path, "mail.mbox", "From a@b Thu Jan  1 00:00:00 2025\n\nhi\n")
    with pytest.raises(SourceError, match="cannot tell the format.*mbox plugin"):
        open_source(path, "messages")


def test_unrecognised_content(tmp_path):
    with pytest.raises(SourceError, match="cannot tell the format"):
        open_source(write(tmp_path, "notes.txt", "hello"), "messages")
