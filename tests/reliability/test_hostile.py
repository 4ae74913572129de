"""Hostile input, issue 15: no hang, no traceback, no silent change of data.

Each test here failed before its fix. Cases that are one sync of a bad file also sit in the
``test_bad_input.py`` corpus; these are the ones that need a closer look than "clear error or a
reasoned skip": the org's exact contents, a file's mode, a limit's message.
"""

from __future__ import annotations

import json

import pytest

from mail2dataverse.emulator import Emulator
from mail2dataverse.operations import ChangeSet, Operation
from mail2dataverse.writers.batch import encode_batch

from .conftest import config, export, run


# --- Content-ID references only in URLs and @odata.bind values -----------------------------------

def test_a_column_value_that_reads_like_a_content_id_is_sent_unchanged():
    def email(subject, body):
        return ChangeSet([
            Operation("POST", "emails", {"subject": subject, "description": body,
                                         "email_activity_parties": [{"addressused": "$1",
                                                                     "partyid_contact@odata.bind": "$1"}]},
                      content_id="1"),
            Operation("PATCH", "$1", {"statecode": 1, "regardingobjectid_account_email@odata.bind": "$1",
                                      "x@odata.id": "$1/x"}, content_id="2"),
        ])

    text = encode_batch([email("a", "b"), email("$1", "$2"), email("$3", "$51/month")])[1].decode()
    bodies = [json.loads(line) for line in text.split("\r\n") if line.startswith("{")]
    assert [(b.get("subject"), b.get("description")) for b in bodies[::2]] == [("a", "b"), ("$1", "$2"), ("$3", "$51/month")]
    # the references are renumbered (batch-wide ids 1, 3, 5), the column values are not
    assert [b["email_activity_parties"][0] for b in bodies[::2]] == [
        {"addressused": "$1", "partyid_contact@odata.bind": f"${n}"} for n in (1, 3, 5)]
    assert [(b["regardingobjectid_account_email@odata.bind"], b["x@odata.id"]) for b in bodies[1::2]] == [
        (f"${n}", f"${n}/x") for n in (1, 3, 5)]


def test_subjects_and_bodies_equal_to_a_content_id_reach_the_org_unchanged(tmp_path):
    # The planner numbers Content-IDs across the run (email k: $2k-1 created, $2k completed), so
    # message k's own subject "$2k-1" and body "$2k/month" name its own change set's operations.
    n = 30
    inputs = export(tmp_path, 3, n)
    messages = json.loads(open(inputs.messages, encoding="utf-8").read())
    texts = [(f"${2 * k + 1}", f"${2 * k + 2}/month") for k in range(n)]
    for m, (subject, body) in zip(messages, texts):
        m["subject"], m["body"] = subject, body
    with open(inputs.messages, "w", encoding="utf-8") as fh:
        json.dump(messages, fh)
    for size in (2, 60):
        with Emulator() as emu:
            report = run(emu, inputs, config(batch_size=size))
            assert report.to_dict()["ok"], report.to_dict()["failures"]
            stored = sorted((e["subject"], e["description"]) for e in emu.records("email"))
        assert stored == sorted(texts), size


# --- YAML alias expansion ------------------------------------------------------------------------

def test_an_alias_bomb_is_refused_at_the_anchor_that_crosses_the_limit(tmp_path):
    from mail2dataverse.errors import MappingError
    from mail2dataverse.yamlio import MAX_EXPANDED_NODES, load_yaml

    from .test_bad_input import alias_bomb

    text = alias_bomb(levels=9, width=10)
    assert len(text) < 500
    with pytest.raises(MappingError) as info:
        load_yaml(text, "bomb.yaml")
    # a4 is the first anchor past 100,000 nodes (11,111 ... 111,111): line 5, column 5
    assert str(info.value) == (f"bomb.yaml:5:5: $.a4: alias expansion: this value stands for 111,111 nodes once "
                               f"its aliases are expanded (limit {MAX_EXPANDED_NODES:,})")


def test_aliases_within_the_limits_still_load_and_merge():
    from mail2dataverse.yamlio import load_yaml

    data, _ = load_yaml("base: &b {from: subject}\ncolumns:\n  subject: *b\n  other: {<<: *b, transforms: [trim]}\n",
                        "ok.yaml")
    assert data["columns"] == {"subject": {"from": "subject"}, "other": {"from": "subject", "transforms": ["trim"]}}


def test_a_duplicate_key_under_an_alias_is_reported_once_at_its_line():
    from mail2dataverse.errors import MappingError
    from mail2dataverse.yamlio import load_yaml

    with pytest.raises(MappingError) as info:
        load_yaml("a: &a {k: 1, k: 2}\nb: [*a, *a, *a]\n", "dup.yaml")
    assert str(info.value) == "dup.yaml:1:14: $.a.k: duplicate key 'k' (first defined on line 1)"


# --- JMESPath expression limits -----------------------------------------------------------------

def _mapping_problems(tmp_path, expression: str) -> list[str]:
    from mail2dataverse.mapper import validate_paths

    path = tmp_path / "email.yaml"
    path.write_text("entity: email\nextends: default\ncolumns:\n  subject:\n    from: " + json.dumps(expression) + "\n",
                    encoding="utf-8")
    return [str(p) for p in validate_paths([path], plugins=None)]


@pytest.mark.parametrize(("expression", "message"), [
    ("(" * 500 + "subject" + ")" * 500, "JMESPath expression is 1,007 characters long (limit 1,000)"),
    (" || ".join(["subject"] * 1000), "JMESPath expression is 10,996 characters long (limit 1,000)"),
    ("(" * 51 + "subject" + ")" * 51, "JMESPath expression nests more than 50 levels deep (limit 50)"),
    ("||".join(["a"] * 51), "JMESPath expression nests more than 50 levels deep (limit 50)"),
    ("a" + "[*]" * 300, "JMESPath expression nests more than 50 levels deep (limit 50)"),
])
def test_jmespath_expressions_over_the_limits_are_refused_at_their_line(tmp_path, expression, message):
    [line] = _mapping_problems(tmp_path, expression)
    assert line.startswith(f"{tmp_path / 'email.yaml'}:5:") and line.endswith(f": $.columns.subject.from: {message}")


def test_jmespath_expressions_within_the_limits_compile(tmp_path):
    # brackets inside quoted literals are data, not nesting
    assert _mapping_problems(tmp_path, "(" * 20 + "subject" + ")" * 20 + " || '" + "(" * 60 + "' || `\"[[[[\"`") == []


# --- skip reasons, dates ------------------------------------------------------------------------

def _one_message_run(emu, tmp_path, **fields):
    from .test_bad_input import MSG

    path = tmp_path / "messages.json"
    path.write_text(json.dumps([{**MSG, **fields}]), encoding="utf-8")
    from mail2dataverse.sync import Inputs

    return run(emu, Inputs(messages=str(path)), config()).to_dict()


@pytest.mark.parametrize("date", ["0001-01-01T00:00:00Z", "1752-12-31T23:59:59+00:00", -7_000_000_000])
def test_a_date_before_1753_skips_the_message_with_a_reason(emulator, tmp_path, date):
    report = _one_message_run(emulator, tmp_path, date=date)
    assert report["entities"]["email"]["skipped"] == 1 and not emulator.records("email")
    [skip] = report["skips"]
    assert "is before 1753-01-01, the earliest Dataverse stores" in skip["reason"]
    assert skip["reason"].startswith("$.let.date: date-time ")


def test_the_first_moment_of_1753_is_written(emulator, tmp_path):
    report = _one_message_run(emulator, tmp_path, date="1753-01-01T00:00:00Z")
    assert report["entities"]["email"]["created"] == 1
    assert emulator.records("email")[0]["actualstart"].startswith("1753-01-01")


@pytest.mark.parametrize("headers", ["\n", "h\n" * 500_000])
def test_a_skip_reason_quotes_the_value_with_repr_cut(emulator, tmp_path, headers):
    from mail2dataverse.errors import MAX_REASON_CHARS

    report = _one_message_run(emulator, tmp_path, headers=headers)
    [skip] = report["skips"]
    assert skip["reason"].startswith("$.let.identity: header() expects array or null, got string 'h\\nh\\n"
                                     if len(headers) > 1 else "$.let.identity: header() expects array or null, got string '\\n'")
    assert len(skip["reason"]) <= MAX_REASON_CHARS and "\n" not in skip["reason"]


def test_one_line_escapes_what_does_not_print_and_says_how_much_it_cut():
    from mail2dataverse.errors import MAX_REASON_CHARS, one_line

    assert one_line("a\nb\r\u2028c\x00") == "a\\nb\\r\\u2028c\\x00"
    cut = one_line("x" * 1_000_000)
    assert len(cut) == MAX_REASON_CHARS and cut.endswith("... (1,000,000 characters, cut)")


# --- files holding personal data ----------------------------------------------------------------

def test_the_state_file_and_the_report_are_readable_by_their_owner_only(emulator, tmp_path, capsys):
    import os
    import stat

    from mail2dataverse import cli

    inputs = export(tmp_path / "in", 5, 10)
    stale = tmp_path / "report.json"
    stale.write_text("{}")
    stale.chmod(0o644)  # a report left by an older version: narrowed, not kept world-readable
    old_umask = os.umask(0o022)
    try:
        code = cli.main(["sync", "--messages", inputs.messages, "--contacts", inputs.contacts, "--url", emulator.base_url,
                         "--auth", "none", "--state", str(tmp_path / "state.sqlite3"), "--report", str(stale),
                         "--format", "json"])
    finally:
        os.umask(old_umask)
    capsys.readouterr()
    assert code == 0
    files = [stale, *tmp_path.glob("state.sqlite3*")]
    assert len(files) >= 2
    assert {f.name: stat.S_IMODE(f.stat().st_mode) for f in files} == {f.name: 0o600 for f in files}


# --- surrogates and huge integers in the export -------------------------------------------------

def _export_with(tmp_path, fmt: str, subjects: list[str]):
    """Three messages whose subjects are given as raw JSON string bodies (escapes kept)."""
    from .test_bad_input import MSG

    lines = []
    for i, subject in enumerate(subjects):
        record = json.dumps({**MSG, "id": f"m{i}", "subject": "SUBJECT"})
        lines.append(record.replace('"SUBJECT"', f'"{subject}"'))
    path = tmp_path / f"messages.{fmt}"
    path.write_text("[" + ",\n".join(lines) + "]" if fmt == "json" else "\n".join(lines) + "\n", encoding="ascii")
    return path


@pytest.mark.parametrize("fmt", ["json", "ndjson"])
@pytest.mark.parametrize(("escape", "unit"), [("\\ud800", "\\ud800"), ("\\udc00", "\\udc00"), ("\\udc00\\ud800", "\\udc00")],
                         ids=["lone-high", "lone-low", "reversed-pair"])
def test_a_lone_surrogate_skips_its_record_with_a_reason_and_the_rest_is_written(emulator, tmp_path, fmt, escape, unit):
    from mail2dataverse.sync import Inputs

    path = _export_with(tmp_path, fmt, ["first", f"a{escape}b", "smile \\ud83d\\ude00"])
    report = run(emulator, Inputs(messages=str(path)), config()).to_dict()
    assert report["entities"]["email"]["created"] == 2 and report["entities"]["email"]["skipped"] == 1
    [skip] = report["skips"]
    assert skip["record"] == f"{path.name} record 2 (id m1)" or skip["record"].endswith("(id m1)")
    assert skip["reason"] == (f"lone UTF-16 surrogate {unit} in $.subject: not valid Unicode text, which the "
                              "service cannot store (a damaged export?)")
    # never a silent "?" (yajl's C parser wrote one for a lone high surrogate)
    assert sorted(e["subject"] for e in emulator.records("email")) == ["first", "smile 😀"]


@pytest.mark.parametrize("fmt", ["json", "ndjson"])
def test_a_5000_digit_integer_is_refused_with_one_clear_line(tmp_path, fmt, capsys):
    from mail2dataverse import cli

    from .test_bad_input import MSG

    record = json.dumps({**MSG, "date": 0}).replace('"date": 0', '"date": ' + "9" * 5000)
    path = tmp_path / f"messages.{fmt}"
    path.write_text(f"[{record}]" if fmt == "json" else record + "\n", encoding="utf-8")
    code = cli.main(["sync", "--dry-run", "--messages", str(path)])
    err = capsys.readouterr().err
    assert code == 2
    where = f"{path}:1:"  # both formats name file:line (json adds the column and the byte)
    [line] = err.strip().splitlines()
    assert line.startswith(f"mail2dataverse: error: {where}") and line.endswith(
        "an integer of 5,000 characters (limit 100; a damaged or hostile export?)"), line


# --- the wrong kind of export ---------------------------------------------------------------------

@pytest.mark.parametrize(("given_as", "records", "message"), [
    ("messages", "contacts", 'record 1 is a Nylas contact ("object": "contact"), not a message: is this the contacts '
                             'export? Give it as --contacts'),
    ("contacts", "messages", 'record 1 is a Nylas message ("object": "message"), not a contact: is this the messages '
                             'export? Give it as --messages'),
])
def test_an_export_of_the_other_kind_is_refused_before_anything_is_written(emulator, tmp_path, capsys, given_as,
                                                                           records, message):
    from mail2dataverse import cli

    from .test_bad_input import CONTACT, MSG

    path = tmp_path / "export.json"
    path.write_text(json.dumps([CONTACT] if records == "contacts" else [MSG]), encoding="utf-8")
    code = cli.main(["sync", f"--{given_as}", str(path), "--url", emulator.base_url, "--auth", "none",
                     "--state", str(tmp_path / "s.sqlite3")])
    assert code == 2
    assert capsys.readouterr().err.strip() == f"mail2dataverse: error: {path}: {message}"
    assert not emulator.records("email") and not emulator.records("contact")


def test_unmarked_records_that_look_like_the_other_kind_are_warned_about(emulator, tmp_path):
    from mail2dataverse.sync import Inputs

    from .test_bad_input import CONTACT

    path = tmp_path / "people.json"
    path.write_text(json.dumps([{k: v for k, v in CONTACT.items() if k != "object"}] * 2), encoding="utf-8")
    report = run(emulator, Inputs(messages=str(path)), config()).to_dict()
    assert report["warnings"] == [f"{path}: given as messages, but 2 record(s) look like contacts and none like "
                                  "messages (keys such as company_name, emails, given_name): is this the contacts export?"]


# --- one canonical form of an address -----------------------------------------------------------

def _sync_records(emu, tmp_path, contacts, messages):
    from mail2dataverse.sync import Inputs

    cpath, mpath = tmp_path / "contacts.json", tmp_path / "messages.json"
    cpath.write_text(json.dumps(contacts, ensure_ascii=False), encoding="utf-8")
    mpath.write_text(json.dumps(messages, ensure_ascii=False), encoding="utf-8")
    return run(emu, Inputs(contacts=str(cpath), messages=str(mpath)), config()).to_dict()


def _contact(cid, *addresses, **fields):
    return {"id": cid, "grant_id": "g1", "object": "contact", "given_name": cid, "surname": "X",
            "emails": [{"email": a} for a in addresses], **fields}


def _message(mid, sender, *to):
    from .test_bad_input import MSG, OWNER

    return {**MSG, "id": mid, "from": [{"name": None, "email": sender}],
            "to": [{"name": None, "email": a} for a in (to or (OWNER,))]}


def test_an_idn_domain_in_punycode_and_in_unicode_is_one_contact_and_one_account(emulator, tmp_path):
    report = _sync_records(emulator, tmp_path, [_contact("c1", "jo@xn--bcher-kva.example"), _contact("c2", "Jo@Bücher.example")],
                           [_message("m1", "jo@xn--bcher-kva.example")])
    assert [c["emailaddress1"] for c in emulator.records("contact")] == ["jo@bücher.example"]
    assert len(emulator.records("account")) == 1
    assert report["entities"]["contact"]["skipped"] == 1  # the second is the same person: merged
    [party] = [p for p in emulator.records("activityparty") if p["participationtypemask"] == 1]
    assert party["addressused"] == "jo@bücher.example" and party.get("partyid")


def test_a_trailing_dot_is_the_same_address(emulator, tmp_path):
    _sync_records(emulator, tmp_path, [_contact("c1", "ana@company1.example.")], [_message("m1", "ana@company1.example")])
    [contact] = emulator.records("contact")
    assert contact["emailaddress1"] == "ana@company1.example"
    [party] = [p for p in emulator.records("activityparty") if p["participationtypemask"] == 1]
    assert party["partyid"] == contact["contactid"]


def test_display_name_forms_and_lists_are_parsed(emulator, tmp_path):
    _sync_records(emulator, tmp_path, [_contact("c1", "Ana Silva <ana@company1.example>", "b1@company2.example, b2@company2.example")],
                  [_message("m1", '"Ana Silva" <Ana@Company1.example>', "x@company3.example; y@company3.example")])
    [contact] = emulator.records("contact")
    assert (contact["emailaddress1"], contact["emailaddress2"], contact["emailaddress3"]) == (
        "ana@company1.example", "b1@company2.example", "b2@company2.example")
    [account] = emulator.records("account")  # from the first address's domain only
    assert "company1.example" in account["websiteurl"]
    used = sorted((p["participationtypemask"], p["addressused"]) for p in emulator.records("activityparty"))
    assert used == [(1, "ana@company1.example"), (2, "x@company3.example"), (2, "y@company3.example")]


def test_control_characters_refuse_an_address_with_a_reason(emulator, tmp_path):
    report = _sync_records(emulator, tmp_path, [_contact("c1", "ana@company1.example\r\nBcc: evil@x.example"),
                                                _contact("c2", "ok@company1.example", "bad\n@company1.example")],
                           [_message("m1", "ana@company1.example", "owner@acme-widgets.example", "x@y.example\r\nBcc: z@w.example")])
    assert [c["emailaddress1"] for c in emulator.records("contact")] == ["ok@company1.example"]
    assert not any("\r" in (c.get("emailaddress2") or "") or "\n" in (c.get("emailaddress2") or "")
                   for c in emulator.records("contact"))
    [skip] = report["skips"]
    assert skip["reason"].startswith("no email address: address 'ana@company1.example\\r\\nbcc: evil@x.example' "
                                     "holds a control character \\r: refused")
    warnings = "\n".join(report["warnings"])
    assert "'bad\\n@company1.example' holds a control character \\n: refused" in warnings
    assert "participant dropped: address 'x@y.example\\r\\nBcc: z@w.example' holds a control character" in warnings
    assert all("\r" not in p["addressused"] and "\n" not in p["addressused"] for p in emulator.records("activityparty"))


def test_a_contact_with_50_addresses_says_47_were_not_written(emulator, tmp_path):
    addresses = [f"m{i}@company1.example" for i in range(50)]
    report = _sync_records(emulator, tmp_path, [_contact("c1", *addresses)], [_message("m1", "m0@company1.example")])
    [contact] = emulator.records("contact")
    assert contact["emailaddress3"] == "m2@company1.example"
    [warning] = [w for w in report["warnings"] if "not written" in w]
    assert warning.endswith("(id c1): 50 addresses, 3 written (the mapping's address columns), 47 not written: "
                            "m3@company1.example, m4@company1.example, m5@company1.example, ...")


def test_every_address_helper_agrees_on_the_canonical_form():
    from mail2dataverse.addresses import canonical_address, domain_of, parse_addresses, registrable_domain

    forms = ["jo@xn--bcher-kva.example", "JO@Bücher.Example.", "  jo@bu\u0308cher.example  ", "Jo <jo@xn--bcher-kva.example.>"]
    assert {parse_addresses(f).addresses for f in forms} == {("jo@bücher.example",)}
    assert {canonical_address(f) for f in forms[:3]} == {"jo@bücher.example"}
    assert domain_of(canonical_address(forms[0])) == "bücher.example" == registrable_domain("www.xn--bcher-kva.example")
