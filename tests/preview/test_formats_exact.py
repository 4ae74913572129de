"""Each record is formatted once, as it is settled: the text is exactly what formatting the record
read back from its JSON line prints (how the spool worked before, and what the golden files hold).

The YAML documents come from one long-lived emitter and a node tree built directly; these
values are the ones where PyYAML's choices are subtle (quoting of strings that read as other
types, multi-line and long strings, empty collections, floats) or where JSON changes the value
(tuples, non-string keys, objects that are not JSON data).
"""

from __future__ import annotations

import datetime
import io
import json

import pytest
import yaml

from mail2dataverse.preview.render import record_format, render
from mail2dataverse.preview.spool import Spool, dumps, plain
from mail2dataverse.preview.yamldoc import Documents

TRICKY = [
    "", "yes", "No", "on", "off", "null", "~", "Null", "true", "False", "123", "-1", "+1", "0x1f", "1e3", ".5", ".inf",
    "2025-03-25", "2025-03-25T12:47:00Z", "<newest open opportunity>", "=", "a: b", "- x", "#c", "x #c", "'q'", '"dq"',
    "  lead", "trail  ", "line\nbreak", "ends\n\n", "\ttab", "Zoë Ångström – Tomás", "emoji 😀", "\u2028sep",
    "x" * 250, " ".join(["word"] * 60), "@at", "%pct", "!bang", "&amp", "*star", "|pipe", ">gt", "?q", "{b}", "[s]",
    "ctrl\x01char", "nbsp\u00a0", "back\\slash",
]


def _reference(record) -> str:
    return yaml.dump(json.loads(json.dumps(record, ensure_ascii=False, default=str)), Dumper=yaml.CSafeDumper,
                     sort_keys=False, allow_unicode=True, width=100, explicit_start=True)


def test_yaml_documents_are_what_yaml_dump_prints():
    docs = Documents()
    records = [{"kind": "email", "value": v, v or "empty": [v, {"nested": v}]} for v in TRICKY]
    records += [
        {"ints": [0, -5, 10**20], "floats": [0.0, -1.5, 1e17, 1e-7, 3.14159, float("inf"), float("-inf")],
         "bools": [True, False], "none": None, "empty": {}, "empty_list": [], "deep": {"a": {"b": {"c": [[], [{}]]}}}},
        {"tuple": ("a", 1), "int_keys": {1: "one", True: "t", None: "n", 2.5: "f"}, "when": datetime.date(2025, 3, 4)},
        {"merged": {1: "int", "1": "str"}, "obj": object.__new__(type("Thing", (), {"__str__": lambda s: "thing"}))},
    ]
    for record in records:
        assert docs(record) == _reference(record), record


def test_nan_reads_as_yaml_dump_prints_it():
    assert Documents()({"x": float("nan")}) == _reference({"x": float("nan")})


@pytest.mark.parametrize("fmt", ["json", "ndjson", "yaml", "table", "html"])
def test_a_record_with_values_that_are_not_json_data_shows_as_read_back(fmt):
    # a payload value that is a date, a tuple, a non-string key: the text functions get what the
    # JSON line would have given them
    rec = {"kind": "contact", "key": "a@b.example", "record": "contacts.json record 1", "outcome": "create",
           "reason": "new", "payload": {"birthdate": datetime.date(1990, 1, 2), "tags": ("a", "b"), 7: "seven"}}
    fmt_of = record_format(fmt, 200)
    assert fmt_of("contact", rec) == fmt_of("contact", plain(rec))


@pytest.mark.parametrize("fmt", ["json", "ndjson", "yaml", "table", "html"])
def test_the_spool_gives_the_records_back_in_order_across_its_batches(fmt, monkeypatch):
    from mail2dataverse.preview import spool as spool_mod

    monkeypatch.setattr(spool_mod, "_BATCH_BYTES", 300)  # many writes to the file, and a held tail
    fmt_of = record_format(fmt, 200)
    records = [{"kind": "email", "record": f"m.json record {i}", "outcome": "create", "subject": f"s{i}"}
               for i in range(50)]
    summary = {"kind": "summary", "against": None, "outcomes": ["create"], "tables": {"email": {"create": 50}},
               "inputs": {"messages": 50}, "sources": [], "selection": {}, "addresses": {}, "statuses": [],
               "skip_reasons": {}, "unlinked": 0, "warnings": [], "writes_not_sent": {}}
    with Spool(fmt_of) as spool:
        for rec in records:
            spool.write("email", rec)
        out = io.StringIO()
        render(fmt, summary, spool, out, width=200)
    text = out.getvalue()
    body = b"".join(fmt_of("email", rec) for rec in records).decode("utf-8")
    assert body in text
    if fmt == "json":
        assert json.loads(text)[1:] == records
    if fmt == "ndjson":
        assert [json.loads(line) for line in text.splitlines()[1:]] == [json.loads(dumps(r)) for r in records]
    if fmt == "yaml":
        assert list(yaml.safe_load_all(text))[1:] == records
    if fmt in ("table", "html"):
        assert [i for i in range(50) if f"m.json record {i}" in text] == list(range(50))


@pytest.mark.parametrize("payload", [{}, {"subject": "Quote \"Q3\"\n<b>", "n": 3, "f": 1.5, "flag": False, "none": None, "é": "ü"},
                                     {"nested": {"a": [1]}}, {7: "int key"}, {"nan": float("nan")}])
def test_the_html_payload_detail_is_the_indented_json(payload):
    from mail2dataverse.preview.html import _indented

    assert _indented(payload) == json.dumps(payload, ensure_ascii=False, indent=1)
