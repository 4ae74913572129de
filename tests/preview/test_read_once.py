"""A preview reads its input once, checks it as it streams, and still prints nothing for damage.

The summary comes first and is only known at the end, so every record is spooled and nothing is
printed before the last byte has been read: damage found at the very end of the input (a
truncated array, nesting too deep in the last record) still stops the preview with no output.
With ``--limit N`` the reader stops after N records: the rest is neither read nor checked, and
the summary says so.
"""

from __future__ import annotations

import json

import pytest

from mail2dataverse.cli import main
from mail2dataverse.sources import json_array

MSG = {"id": "m0", "grant_id": "g1", "subject": "Quote", "date": 1741097109, "body": "<p>" + "x" * 2000 + "</p>",
       "from": [{"name": "Ana Silva", "email": "ana@company1.example"}],
       "to": [{"name": "Owner", "email": "owner@acme-widgets.example"}]}


def export(tmp_path, n: int, tail: bytes = b"]") -> tuple:
    """``n`` messages (about 2 KB each, so the file spans many read chunks), then ``tail``."""
    body = ",\n".join(json.dumps({**MSG, "id": f"m{i}"}) for i in range(n)).encode()
    path = tmp_path / "messages.json"
    path.write_bytes(b"[\n" + body + tail)
    return path, path.read_bytes()


@pytest.fixture
def bytes_read(monkeypatch):
    """The bytes the JSON reader reads from its input, over every time it opens it."""
    total = [0]
    real = json_array.open_bytes

    class Counting:
        def __init__(self, f):
            self._f = f

        def read(self, n=-1):
            data = self._f.read(n)
            total[0] += len(data)
            return data

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self._f.close()

    monkeypatch.setattr(json_array, "open_bytes", lambda *a: Counting(real(*a)))
    return total


@pytest.mark.parametrize("fmt", ["json", "ndjson", "yaml", "table", "html"])
@pytest.mark.parametrize("tail", [b"", b",\n{\"id\": \"last\", \"subject\": ", b",\n" + b"[" * 1000])
def test_damage_at_the_very_end_prints_no_plan(tmp_path, capsys, fmt, tail):
    path, data = export(tmp_path, 300, tail)
    assert main(["preview", "--messages", str(path), "--format", fmt]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""  # not even the summary
    line = data.count(b"\n") + 1  # the damage is on the last line
    assert f"{path}:{line}:" in captured.err
    assert ("nested deeper than 256 levels" if tail.endswith(b"[") else "ends in the middle of the JSON") in captured.err


def test_the_input_is_read_once(tmp_path, capsys, bytes_read):
    path, data = export(tmp_path, 300)
    assert main(["preview", "--messages", str(path), "--format", "ndjson"]) == 0
    assert len(capsys.readouterr().out.splitlines()) > 300
    # the records once, plus the first chunk looked at to tell an array from null
    assert len(data) <= bytes_read[0] <= len(data) + json_array.CHUNK


def test_with_limit_the_rest_is_not_read_and_the_summary_says_so(tmp_path, capsys, bytes_read, monkeypatch):
    monkeypatch.setenv("COLUMNS", "400")  # the table cuts its lines to the terminal width
    path, data = export(tmp_path, 2000, b",\n{\"id\": \"truncated")  # 4 MB, damaged at the end
    assert main(["preview", "--messages", str(path), "--format", "ndjson", "--limit", "5"]) == 0
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert sum(r["kind"] == "email" for r in lines) == 5
    [source] = lines[0]["sources"]
    assert source == {"kind": "messages", "name": str(path), "records": 5, "rest_not_read": True}
    assert bytes_read[0] < len(data) // 10  # it stopped reading after the fifth record
    assert main(["preview", "--messages", str(path), "--format", "table", "--limit", "5"]) == 0
    assert f"read: {path} up to record 5 only; the rest was not read (nor checked for damage)" in capsys.readouterr().out
    # without --limit the damage is found, and nothing is printed
    assert main(["preview", "--messages", str(path), "--format", "ndjson"]) == 2
    assert capsys.readouterr().out == ""


def test_a_limit_beyond_the_input_reads_it_whole(tmp_path, capsys):
    path, _ = export(tmp_path, 3)
    assert main(["preview", "--messages", str(path), "--format", "ndjson", "--limit", "10"]) == 0
    [source] = json.loads(capsys.readouterr().out.splitlines()[0])["sources"]
    assert source == {"kind": "messages", "name": str(path), "records": 3}


def test_a_message_twice_in_the_input_is_skipped_naming_the_first(tmp_path, capsys):
    # the planner keeps a digest and a position per email, not strings: the reason still says where
    path = tmp_path / "messages.json"
    path.write_text(json.dumps([{**MSG, "id": "a"}, {**MSG, "id": "b"}, {**MSG, "id": "a"}]), encoding="utf-8")
    assert main(["preview", "--messages", str(path), "--format", "ndjson"]) == 0
    skipped = [json.loads(x) for x in capsys.readouterr().out.splitlines() if '"skipped"' in x]
    assert [(r["record"], r["reason"]) for r in skipped if r["kind"] == "email"] == [
        (f"{path} record 3 (id a)", f"duplicate: same message as {path} record 1")]
