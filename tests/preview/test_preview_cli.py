"""The preview's command line: formats, selection, damaged input, would-fail, the resolution report."""

from __future__ import annotations

import json

import pytest
import yaml

from mail2dataverse.cli import main
from mail2dataverse.demo import sample_path

from .conftest import sample_args

CONFIG = ["--config", str(sample_path("config.yaml"))]


def records(capsys, *args: str) -> list[dict]:
    assert main(["preview", *sample_args(), *CONFIG, "--format", "ndjson", *args]) == 0
    return [json.loads(line) for line in capsys.readouterr().out.splitlines()]


def emails(rs: list[dict]) -> list[dict]:
    return [r for r in rs if r["kind"] == "email"]


def test_every_format_starts_with_the_summary_and_parses(capsys):
    by_format = {}
    for fmt, parse in (("json", json.loads), ("ndjson", lambda t: [json.loads(x) for x in t.splitlines()]),
                       ("yaml", lambda t: list(yaml.safe_load_all(t)))):
        assert main(["preview", *sample_args(), *CONFIG, "--format", fmt]) == 0
        by_format[fmt] = parse(capsys.readouterr().out)
    assert by_format["json"] == by_format["ndjson"] == by_format["yaml"]
    assert by_format["json"][0]["kind"] == "summary"
    assert [r["kind"] for r in by_format["json"][1:]] == sorted(
        (r["kind"] for r in by_format["json"][1:]), key=["account", "contact", "email", "address"].index)


def test_the_table_is_cut_to_the_terminal_width(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "60")
    assert main(["preview", *sample_args(), *CONFIG, "--format", "table"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert max(map(len, lines)) <= 60 and any(line.endswith("…") for line in lines)


def test_limit_sample_and_where_select_messages(capsys):
    assert len(emails(records(capsys, "--limit", "3"))) == 3
    first = [r["record"] for r in emails(records(capsys, "--sample", "3", "--seed", "7"))]
    again = [r["record"] for r in emails(records(capsys, "--sample", "3", "--seed", "7"))]
    other = [r["record"] for r in emails(records(capsys, "--sample", "3", "--seed", "8"))]
    assert len(first) == 3 and first == again and first != other  # seeded: the same seed, the same sample
    assert first == sorted(first, key=lambda r: int(r.split(" record ")[1].split()[0]))  # in input order
    cases = emails(records(capsys, "--where", "contains(subject, 'CAS-')"))
    assert len(cases) == 2 and all("CAS-" in r["subject"] for r in cases)


def test_only_shows_one_table_and_the_summary_still_counts_all(capsys):
    rs = records(capsys, "--only", "contacts")
    assert {r["kind"] for r in rs[1:]} == {"contact"}
    assert rs[0]["tables"]["email"]["create"] == 8 and rs[0]["selection"] == {"only": "contacts", "applies_to": "contacts"}
    rs = records(capsys, "--only", "accounts", "--where", "company_name == 'Harbor Logistics'")
    assert [r["key"] for r in rs[1:]] == ["harbor-logistics.example"]


def test_a_bad_where_expression_is_a_usage_error(capsys):
    assert main(["preview", *sample_args(), "--where", "contains(subject,"]) == 2
    captured = capsys.readouterr()
    assert "--where" in captured.err and captured.out == ""


def test_damaged_input_is_refused_before_any_output(tmp_path, capsys):
    good = sample_path("messages.json").read_text("utf-8")
    cut = tmp_path / "messages.json"
    cut.write_text(good[: len(good) * 2 // 3], encoding="utf-8")  # truncated mid-record
    out = tmp_path / "preview.html"
    assert main(["preview", "--messages", str(cut), "--format", "html", "--output", str(out)]) == 2
    captured = capsys.readouterr()
    assert "messages.json" in captured.err and captured.out == ""
    assert not out.exists() and not list(tmp_path.glob("*.part"))
    assert main(["preview", "--messages", str(cut), "--format", "ndjson"]) == 2
    assert capsys.readouterr().out == ""  # not even the summary


def test_a_record_that_is_not_an_object_is_refused(tmp_path, capsys):
    bad = tmp_path / "messages.json"
    bad.write_text('[{"id": "m1", "subject": "x"}, 42]', encoding="utf-8")
    assert main(["preview", "--messages", str(bad)]) == 2
    captured = capsys.readouterr()
    assert "record 2 is not an object" in captured.err and captured.out == ""


def test_what_the_org_refuses_is_shown_as_would_fail(tmp_path, diff_org, capsys):
    mine = tmp_path / "mappings"
    mine.mkdir()
    (mine / "contact.yaml").write_text(
        "entity: contact\nextends: default\ncolumns:\n  new_loyaltytier: {value: gold}\n"
        "  jobtitle: {from: job_title, transforms: [strip]}\n", encoding="utf-8")
    long_title = "Head of " + "very " * 30 + "important things"
    contacts = tmp_path / "contacts.json"
    contacts.write_text(json.dumps([
        {"id": "c1", "surname": "Long", "job_title": long_title, "emails": [{"email": "long@example.org"}]}]),
        encoding="utf-8")
    assert main(["preview", "--contacts", str(contacts), "--mappings", str(mine), "--url", diff_org.base_url,
                 "--auth", "none", "--format", "ndjson"]) == 0
    rs = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    (contact,) = [r for r in rs if r["kind"] == "contact"]
    assert contact["outcome"] == "would fail" and contact["planned"] == "create"
    assert "the org's contact table has no column 'new_loyaltytier'" in contact["problems"]
    assert any("jobtitle" in p and "100" in p for p in contact["problems"])
    assert rs[0]["tables"]["contact"]["would fail"] == 1


def test_a_bind_through_a_navigation_property_the_org_lacks_would_fail(tmp_path, diff_org, capsys):
    mine = tmp_path / "mappings"
    mine.mkdir()
    (mine / "contact.yaml").write_text(
        "entity: contact\nextends: default\ncolumns:\n  parentcustomerid_account@odata.bind: null\n"
        "  parentcustomer_account@odata.bind: {bind: account, use: emails, transforms: [{item: 0}]}\n",
        encoding="utf-8")
    assert main(["preview", *sample_args(), "--mappings", str(mine), "--url", diff_org.base_url, "--auth", "none",
                 "--format", "ndjson", "--only", "contacts"]) == 0
    rs = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    bound = [r for r in rs[1:] if r.get("account") and r["account"].get("id")]
    assert bound and all(r["outcome"] == "would fail" for r in bound)
    assert all("no navigation property 'parentcustomer_account'" in " ".join(r["problems"]) for r in bound)


def test_without_url_auth_flags_are_refused(capsys):
    assert main(["preview", *sample_args(), "--auth", "none"]) == 2
    assert "only apply with --url" in capsys.readouterr().err


def test_sync_report_carries_the_resolution_report(tmp_path, diff_org, sales_rules, capsys):
    report = tmp_path / "report.json"
    assert main(["sync", *sample_args(), "--config", str(sales_rules), "--url", diff_org.base_url, "--auth", "none",
                 "--state", str(tmp_path / "s.sqlite3"), "--report", str(report)]) == 0
    capsys.readouterr()
    resolution = json.loads(report.read_text("utf-8"))["resolution"]
    assert resolution["counts"]["ambiguous"] == 1 and resolution["counts"]["systemuser"] == 1
    (soporte,) = resolution["ambiguous"]
    assert soporte["address"] == "soporte@herrera-hijos.example" and len(soporte["candidates"]) == 2
    assert {u["address"] for u in resolution["unresolved"]} == {"billing@newsletter-tools.example",
                                                                "crm-archive@acme-widgets.example"}
    dana = next(r for r in resolution["resolved"] if r["address"] == "dana@acme-widgets.example")
    assert (dana["table"], dana["name"], dana["emails"]) == ("systemuser", "Dana Whitfield", 8)


@pytest.mark.parametrize("flag", [["--only", "emails"], ["--sample", "2"], ["--where", "subject"]])
def test_selection_flags_need_dry_run_in_a_sync(flag, capsys):
    assert main(["sync", *sample_args(), "--url", "http://127.0.0.1:9", "--auth", "none", *flag]) == 2
    assert "only apply with --dry-run" in capsys.readouterr().err
