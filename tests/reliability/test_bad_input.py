"""Bad input corpus: malformed and hostile exports, mappings and configs through the CLI.

Each case runs ``mail2dataverse sync`` in-process (``cli.main``) against the emulator and must
end in one of two ways:

* ``error``: exit status 2, a short error on stderr (one line for source and config errors; one
  line per problem, ``file:line:col: $.path: message``, for mapping files), nothing written;
* ``run``: exit status 0 or 1 with a JSON report in which every input record is accounted for
  (inputs = written + skipped + failed) and every skip and failure carries its reason.

Never a traceback, never an exception escaping ``main``. A few representative cases also run as
a real subprocess, which is where a traceback would show.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from mail2dataverse import cli
from mail2dataverse.emulator import Emulator
from mail2dataverse.errors import MAX_REASON_CHARS

from .test_crash_resume import env

OWNER = "owner@acme-widgets.example"
MSG = {
    "id": "m1", "grant_id": "g1", "thread_id": "t1", "object": "message",
    "subject": "Quote", "from": [{"name": "Ana Silva", "email": "ana@company1.example"}],
    "to": [{"name": "Owner", "email": OWNER}], "date": "2025-03-04T14:05:09+01:00",
    "body": "<p>hi</p>", "snippet": "hi", "folders": ["INBOX"], "unread": False,
}
CONTACT = {"id": "c1", "grant_id": "g1", "object": "contact", "given_name": "Ana", "surname": "Silva",
           "emails": [{"email": "ana@company1.example", "type": "work"}]}
MB = 1024 * 1024


def msg(**over):
    """The valid message with some fields replaced (``None`` values kept as JSON null)."""
    return {**MSG, **over}


def without(record: dict, *keys: str) -> dict:
    return {k: v for k, v in record.items() if k not in keys}


def party(address: str, name: str | None = "X") -> dict:
    return {"name": name, "email": address}


def deep(n: int) -> str:
    return "[" * n + "]" * n


def alias_bomb(levels: int = 9, width: int = 10) -> str:
    """``levels`` anchors, each a list of ``width`` aliases of the previous one: ~430 bytes that
    stand for width**levels nodes (10^9 with the defaults) once expanded."""
    lines = ["a0: &a0 [" + ",".join(["x"] * width) + "]"]
    for i in range(1, levels):
        lines.append(f"a{i}: &a{i} [" + ",".join([f"*a{i - 1}"] * width) + "]")
    return "\n".join(lines) + "\n"


# (id, kind, payload, expected). kind: messages | contacts | mapping | config | messages_raw.
# messages / contacts payloads are JSON values (written with json.dumps) or bytes written as-is.
CASES = [
    # --- the export file itself -------------------------------------------------------------
    ("truncated-json", "messages", b'[{"id": "a", "grant_id": "g", "subject": "x", "from": null, ', "error"),
    ("empty-file", "messages", b"", "error"),
    ("top-level-null-is-an-empty-export", "messages", None, "run"),
    ("top-level-number", "messages", 42, "error"),
    ("top-level-string", "messages", "messages", "error"),
    ("top-level-true", "messages", True, "error"),
    ("array-of-numbers", "messages", [1, 2, 3], "any"),
    ("array-of-nulls", "messages", [None, None], "any"),
    ("array-of-arrays", "messages", [[], [MSG]], "any"),
    ("ndjson-with-a-broken-line", "messages", (json.dumps(MSG) + "\n{broken\n").encode(), "error"),
    ("binary-garbage", "messages", b"\x00\xff\xfe\x89PNG\r\n\x1a\n" * 50, "error"),
    ("invalid-utf8-in-a-string", "messages", b'[{"id": "m1", "grant_id": "g", "subject": "\xff\xfe"}]', "error"),
    ("utf8-bom", "messages", b"\xef\xbb\xbf" + json.dumps([MSG]).encode(), "any"),
    # 200 KB of "[" took over 4 GB in ijson (prefix strings grow with depth squared)
    ("nesting-100000-deep", "messages", deep(100_000).encode(), "error"),
    ("nesting-100000-deep-in-a-record", "messages", ("[" + json.dumps(MSG) + "," + deep(100_000)[:100_000]).encode(), "error"),
    ("ndjson-nesting-100000-deep", "messages", (json.dumps(MSG) + "\n" + deep(100_000) + "\n").encode(), "error"),
    ("ndjson-nesting-100000-deep-first-line", "messages", (deep(100_000) + "\n").encode(), "error"),
    ("nan-and-infinity", "messages", b'[{"id": "m1", "grant_id": "g", "subject": NaN, "date": Infinity}]', "any"),
    ("duplicate-keys", "messages", b'[{"id": "m1", "id": "m2", "grant_id": "g", "from": [], "from": []}]', "any"),
    # issue 15: tracebacks (and one silent "?") on surrogate escapes and a 5,000-digit integer
    *[(f"{fmt}-{name}", "messages", (body if fmt == "json" else body[1:-1] + b"\n"), expected)
      for fmt in ("json", "ndjson")
      for name, body, expected in [
          ("lone-low-surrogate", b'[{"id": "m1", "grant_id": "g", "subject": "a\\udc00b"}]', "run"),
          ("reversed-surrogate-pair", b'[{"id": "m1", "grant_id": "g", "subject": "a\\udc00\\ud800b"}]', "run"),
          ("lone-high-surrogate", b'[{"id": "m1", "grant_id": "g", "subject": "a\\ud800b"}]', "run"),
          ("lone-surrogate-in-a-key", b'[{"id": "m1", "grant_id": "g", "\\ud800": 1}]', "run"),
          ("5000-digit-integer", b'[{"id": "m1", "grant_id": "g", "date": ' + b"9" * 5000 + b"}]", "error"),
          ("101-digit-integer", b'[{"id": "m1", "grant_id": "g", "date": ' + b"1" * 101 + b"}]", "error"),
          ("100-digit-integer", b'[{"id": "m1", "grant_id": "g", "date": ' + b"1" * 100 + b"}]", "run"),
          ("5000-digit-real", b'[{"id": "m1", "grant_id": "g", "date": 1.' + b"5" * 5000 + b"}]", "run"),
      ]],
    ("html-instead-of-json", "messages", b"<html><body>502 Bad Gateway</body></html>", "error"),
    # --- message records ----------------------------------------------------------------------
    ("null-everywhere", "messages", [{k: None for k in MSG}], "run"),
    ("empty-object", "messages", [{}], "run"),
    ("missing-from", "messages", [without(MSG, "from")], "run"),
    ("from-empty-list", "messages", [msg(**{"from": []})], "run"),
    ("from-a-string", "messages", [msg(**{"from": "ana@company1.example"})], "run"),
    ("from-email-null", "messages", [msg(**{"from": [{"name": "Ana", "email": None}]})], "run"),
    ("from-not-an-address", "messages", [msg(**{"from": [party("not-an-address")]})], "run"),
    ("from-huge-address", "messages", [msg(**{"from": [party("a" * 10_000 + "@company1.example")]})], "run"),
    ("from-huge-domain", "messages", [msg(**{"from": [party("ana@" + "sub." * 3000 + "example")]})], "run"),
    ("apostrophe-address", "messages", [msg(**{"from": [party("o'brien@harbor.example", "Siobhán O'Brien")]})], "run"),
    ("plus-address", "messages", [msg(**{"from": [party("priya+crm@bluefin.example")]})], "run"),
    ("percent-address", "messages", [msg(**{"from": [party("100%sure@percent.example")]})], "run"),
    ("hash-address", "messages", [msg(**{"from": [party("a#b@hash.example")]})], "run"),
    ("unicode-address", "messages", [msg(**{"from": [party("jörg.müller@exämple.de", "Jörg Müller")]})], "run"),
    ("odata-syntax-in-address", "messages", [msg(**{"from": [party("x')or(1 eq 1@evil.example")]})], "run"),
    ("url-syntax-in-address", "messages", [msg(**{"from": [party("a/b?c=d&e@x.example")]})], "run"),
    ("emoji-and-rtl-names", "messages", [msg(**{"from": [party("emoji@company1.example", "😀 \u202eevil\u202c مرحبا")]})], "run"),
    ("control-characters-in-names", "messages", [msg(**{"from": [party("ctl@company1.example", "a\x00b\x1bc\x07d")]})], "run"),
    ("10000-recipients", "messages", [msg(to=[party(f"r{i}@company{i % 40}.example") for i in range(10_000)])], "run"),
    ("megabyte-subject", "messages", [msg(subject="S" * MB)], "run"),
    ("control-characters-in-subject", "messages", [msg(subject="a\x00b\x0bc\x1b[31mred\r\nBcc: x@y")], "run"),
    ("html-with-scripts", "messages", [msg(body='<script>alert(1)</script><img src=x onerror="alert(2)"><iframe src="javascript:x">')], "run"),
    ("megabyte-body", "messages", [msg(body="<p>" + "B" * (2 * MB) + "</p>")], "run"),
    ("date-garbage", "messages", [msg(date="yesterday")], "run"),
    ("date-unix-seconds", "messages", [msg(date=1741097109)], "run"),
    ("date-without-offset", "messages", [msg(date="2025-03-04T14:05:09")], "run"),
    ("date-year-9999", "messages", [msg(date="9999-12-31T23:59:59Z")], "run"),
    ("date-huge-number", "messages", [msg(date=10**30)], "run"),
    ("date-a-list", "messages", [msg(date=["2025"])], "run"),
    ("no-identity", "messages", [without(MSG, "id", "grant_id")], "run"),
    ("id-a-number", "messages", [msg(id=12345)], "run"),
    ("id-a-dict", "messages", [msg(id={"$gt": ""})], "run"),
    ("folders-a-string", "messages", [msg(folders="SENT")], "run"),
    ("headers-a-string", "messages", [msg(headers="Message-ID: <x@y>")], "run"),
    ("headers-with-nulls", "messages", [msg(headers=[None, {"name": None, "value": None}, {"name": "Message-ID"}])], "run"),
    ("huge-message-id", "messages", [msg(headers=[{"name": "Message-ID", "value": "<" + "x" * 10_000 + "@y>"}])], "run"),
    ("message-id-with-quotes-and-percent", "messages", [msg(headers=[{"name": "Message-ID", "value": "<a'b%27c+d#e@y>"}])], "run"),
    ("same-recipient-five-times", "messages", [msg(to=[party("Dup@Company1.example"), party("dup@company1.example ")] * 3)], "run"),
    ("subject-a-dict", "messages", [msg(subject={"a": 1})], "run"),
    ("subject-a-list", "messages", [msg(subject=["a", "b"])], "run"),
    ("recipients-with-null-entries", "messages", [msg(cc=[None, 5, "x", {"email": 7}])], "run"),
    # issue 15: reasons quoted raw values (multi-line reasons, a 1 MB reason)
    ("headers-a-newline", "messages", [msg(headers="\n")], "run"),
    ("folders-a-string-with-newlines", "messages", [msg(folders="SENT\r\nBcc: x@y\n")], "run"),
    ("headers-a-megabyte-string", "messages", [msg(headers="h\n" * (MB // 2))], "run"),
    ("date-a-megabyte-string", "messages", [msg(date="2025\n" * (MB // 5))], "run"),
    # issue 15: dates Dataverse cannot store were sent, and failed on a real org on every run
    ("date-year-1", "messages", [msg(date="0001-01-01T00:00:00Z")], "run"),
    ("date-1752", "messages", [msg(date="1752-12-31T23:59:59Z")], "run"),
    ("date-negative-unix-seconds", "messages", [msg(date=-7_000_000_000)], "run"),
    ("unread-a-string", "messages", [msg(unread="yes", starred="no")], "run"),
    ("one-good-among-bad", "messages", [None, {}, MSG, msg(id="m2", **{"from": "x"})], "any"),
    # issue 15: a contacts export given as --messages made one completed email per contact
    ("contacts-export-given-as-messages", "messages", [CONTACT, {**CONTACT, "id": "c2"}], "error"),
    # --- contacts -----------------------------------------------------------------------------
    ("messages-export-given-as-contacts", "contacts", [MSG], "error"),
    ("contacts-top-level-object", "contacts", {"emails": []}, "any"),
    ("contacts-truncated", "contacts", b'[{"id": "c1", "emails": [{"email": "a@b.c"', "error"),
    ("contact-emails-null", "contacts", [{**CONTACT, "emails": None}], "run"),
    ("contact-emails-empty", "contacts", [{**CONTACT, "emails": []}], "run"),
    ("contact-emails-a-string", "contacts", [{**CONTACT, "emails": "ana@company1.example"}], "run"),
    ("contact-invalid-address", "contacts", [{**CONTACT, "emails": [{"email": "@@"}]}], "run"),
    ("contact-huge-address", "contacts", [{**CONTACT, "emails": [{"email": "b" * 5000 + "@company1.example"}]}], "run"),
    ("contact-megabyte-name", "contacts", [{**CONTACT, "given_name": "N" * MB}], "run"),
    ("contact-hostile-addresses", "contacts", [
        {**CONTACT, "id": f"c{i}", "emails": [{"email": a}]}
        for i, a in enumerate(["o'hara@q.example", "a+b@q.example", "50%@q.example", "x#y@q.example",
                               "ünï@q.example", "'); DROP TABLE contacts;--@q.example"])], "run"),
    ("contact-control-characters", "contacts", [{**CONTACT, "given_name": "\x00\x01\x7f", "surname": "\u2028\u2029"}], "run"),
    ("contact-1000-addresses", "contacts", [{**CONTACT, "emails": [{"email": f"m{i}@company1.example"} for i in range(1000)]}], "run"),
    ("contact-all-null", "contacts", [{k: None for k in CONTACT}], "run"),
    # --- mapping files ------------------------------------------------------------------------
    ("mapping-invalid-yaml", "mapping", "entity: email\ncolumns: [unclosed\n", "error"),
    ("mapping-tab-indent", "mapping", "entity: email\ncolumns:\n\tsubject:\n\t\tfrom: subject\n", "any"),  # needs the org: the service names the column
    ("mapping-a-list", "mapping", "- entity\n- email\n", "error"),
    ("mapping-missing-identity", "mapping", "entity: email\ncolumns:\n  subject:\n    from: subject\n", "any"),  # needs the org: the service names the column
    ("mapping-bad-jmespath", "mapping", "entity: email\nextends: default\ncolumns:\n  subject:\n    from: 'subject[?'\n", "error"),
    ("mapping-unknown-transform", "mapping", "entity: email\nextends: default\ncolumns:\n  subject:\n    from: subject\n    transforms: [rot13]\n", "error"),
    ("mapping-unknown-column", "mapping", "entity: email\nextends: default\ncolumns:\n  no_such_column:\n    from: subject\n", "any"),  # needs the org: the service names the column
    ("mapping-unknown-entity", "mapping", "entity: spaceship\ncolumns: {}\n", "error"),
    ("mapping-duplicate-key", "mapping", "entity: email\nentity: contact\n", "error"),
    ("mapping-yaml-bomb", "mapping", "a: &a [x,x,x,x,x,x,x,x,x]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\n"
                                      "d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\ne: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]\nf: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]\n"
                                      "g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]\nentity: email\n", "error"),
    # issue 15: the duplicate-key walk expanded the alias graph as a tree (minutes at full CPU)
    ("mapping-alias-bomb-10^9-nodes", "mapping", alias_bomb() + "entity: email\n", "error"),
    ("mapping-recursive-alias", "mapping", "entity: email\ncolumns: &c {subject: {from: subject, x: *c}}\n", "error"),
    ("mapping-nesting-10000-deep", "mapping", "entity: email\ncolumns: " + "{a: " * 10_000 + "1" + "}" * 10_000 + "\n", "error"),
    # issue 15: JMESPath expressions that exhausted Python's recursion limit (a traceback)
    *[(f"mapping-jmespath-{name}", "mapping", "entity: email\nextends: default\ncolumns:\n  subject:\n    from: " + json.dumps(expr) + "\n", "error")
      for name, expr in [("500-nested-parentheses", "(" * 500 + "subject" + ")" * 500),
                         ("60-nested-parentheses", "(" * 60 + "subject" + ")" * 60),
                         ("1000-term-or", " || ".join(["subject"] * 1000)),
                         ("200-term-or", "||".join(["a"] * 200)),
                         ("3000-projections", "subject" + "[*]" * 3000),
                         ("300-projections", "a" + "[*]" * 300)]],
    ("mapping-python-tag", "mapping", "entity: !!python/object/apply:os.system ['echo pwned']\n", "error"),
    ("mapping-binary", "mapping", b"\x00\xff\xfe", "error"),
    # --- configs ------------------------------------------------------------------------------
    ("config-invalid-yaml", "config", "owner_addresses: [a@b.c\n", "error"),
    ("config-wrong-type", "config", "batch_size: many\n", "error"),
    ("config-out-of-range", "config", "batch_size: 5000\n", "error"),
    ("config-unknown-key", "config", "owner_adresses: [a@b.c]\n", "error"),
    ("config-bad-regex", "config", "case_number_pattern: '(['\n", "error"),
    ("config-a-list", "config", "- profile\n", "error"),
    ("config-alias-bomb-10^9-nodes", "config", alias_bomb() + "batch_size: 100\n", "error"),
    ("config-python-tag", "config", "profile: !!python/object/apply:os.system ['echo pwned']\n", "error"),
    ("config-null-everywhere", "config", "profile: null\nowner_addresses: null\nbatch_size: null\n", "error"),
    ("config-missing-file", "config", None, "error"),
]


@pytest.fixture
def org():
    # One org per case: a case's records must really be written, not found from an earlier case.
    with Emulator() as emu:
        yield emu


def write(path: Path, payload) -> Path:
    if isinstance(payload, bytes):
        path.write_bytes(payload)
    elif isinstance(payload, str) and path.suffix == ".yaml":
        path.write_text(payload, encoding="utf-8")
    else:
        path.write_text(json.dumps(payload, ensure_ascii=False), encoding="utf-8")
    return path


def argv_for(case, tmp: Path, url: str) -> list[str]:
    """The ``sync`` command line of one case (the valid export where the case changes nothing)."""
    name, kind, payload, _ = case
    messages = write(tmp / "messages.json", [MSG])
    contacts = write(tmp / "contacts.json", [CONTACT])
    config = write(tmp / "config.yaml", f"owner_addresses: [{OWNER}]\n")
    extra: list[str] = []
    if kind == "messages":
        messages = write(tmp / ("messages.ndjson" if name.startswith("ndjson") else "messages.json"), payload)
    elif kind == "contacts":
        contacts = write(tmp / "contacts.json", payload)
    elif kind == "mapping":
        folder = tmp / "mappings"
        folder.mkdir()
        write(folder / "email.yaml", payload)
        extra = ["--mappings", str(folder)]
    elif kind == "config":
        config = tmp / "missing.yaml" if payload is None else write(tmp / "config.yaml", payload)
    return ["sync", "--messages", str(messages), "--contacts", str(contacts), "--config", str(config),
            "--url", url, "--auth", "none", "--state", str(tmp / "state.sqlite3"), "--report",
            str(tmp / "report.json"), "--format", "json", *extra]


def check(case, code: int, out: str, err: str, tmp: Path) -> dict | None:
    """The assertions every case shares; returns the report of a run."""
    name, kind, _, expected = case
    assert "Traceback" not in err and "Traceback" not in out, err[-3000:]
    assert code in (0, 1, 2, 3), (code, err[-2000:])
    if code == 2:
        assert expected in ("error", "any"), f"{name}: refused, expected a run: {err[:500]}"
        lines = err.strip().splitlines()
        assert lines, "an error must say what is wrong"
        if kind in ("mapping", "config") and "config-missing-file" != name:
            # one problem per line, each naming the file, line and column
            assert all(len(line) < 2000 for line in lines)
            assert all(re.match(r".+\.yaml(:\d+:\d+)?: \$", line) for line in lines if "problem" not in line), err
        else:
            assert len(lines) == 1 and lines[0].startswith("mail2dataverse: error:"), err[:2000]
            assert len(lines[0]) < 2000
            assert "b'" not in lines[0] and "\\n" not in lines[0]  # no Python bytes repr leaking through
        # The report is still written (a monitor never reads a stale one), and says nothing was.
        refused = json.loads((tmp / "report.json").read_text("utf-8"))
        assert refused["ok"] is False and refused["outcome"] == "usage_error" and refused["exit_status"] == 2
        assert refused["error"] and all(sum(c[o] for o in ("created", "updated")) == 0
                                        for c in refused["entities"].values())
        return None
    assert expected in ("run", "any"), f"{name}: ran (exit {code}), expected a clear error"
    report = json.loads((tmp / "report.json").read_text("utf-8"))
    assert json.loads(out) == report
    for entity, key in (("contact", "contacts"), ("email", "messages")):
        e = report["entities"][entity]
        assert e["created"] + e["updated"] + e["unchanged"] + e["skipped"] + e["failed"] == report["inputs"][key], (entity, report)
    assert all(s["reason"] for s in report["skips"])
    # reasons quote values with repr, cut: one printable line of at most MAX_REASON_CHARS
    for text in [s["reason"] for s in report["skips"]] + report["warnings"] + list(
            k for e in report["entities"].values() for k in e["skip_reasons"]):
        assert text.isprintable() and len(text) <= MAX_REASON_CHARS, text[:300]
    assert all(f["message"] or f["code"] for f in report["failures"])
    assert (code != 0) == (not report["ok"]) and report["exit_status"] == code
    return report


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_bad_input_gives_a_clear_error_or_a_reasoned_skip(case, org, tmp_path, capsys):
    argv = argv_for(case, tmp_path, org.base_url)
    code = cli.main(argv)  # an exception escaping here is the traceback a user would see
    out, err = capsys.readouterr()
    report = check(case, code, out, err, tmp_path)
    if report is not None and case[1] == "messages" and case[3] == "run" and not isinstance(case[2], bytes):
        assert report["inputs"]["messages"] == len(case[2] or [])


def test_corpus_has_at_least_50_cases():
    assert len(CASES) >= 50


@pytest.mark.parametrize("name", ["truncated-json", "mapping-invalid-yaml", "config-wrong-type", "10000-recipients"])
def test_as_a_real_process_no_traceback(name, org, tmp_path):
    case = next(c for c in CASES if c[0] == name)
    argv = argv_for(case, tmp_path, org.base_url)
    done = subprocess.run([sys.executable, "-m", "mail2dataverse", *argv], capture_output=True, text=True, env=env(),
                          timeout=120)
    check(case, done.returncode, done.stdout, done.stderr, tmp_path)
