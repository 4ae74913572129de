"""Golden files: the preview of an org that already holds some of the records (tests/preview/conftest.py).

They show changed columns (``before → after``), unchanged rows, ambiguous addresses with their
candidates, and a regarding link by each rule: opportunity by id, by name and newest open of an
account (sales), case by ticket number (service). Regenerate after an intended change with
``UPDATE_GOLDEN=1`` and review the diff.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from mail2dataverse.cli import main
from mail2dataverse.demo import sample_path

GOLDEN = Path(__file__).parent.parent / "golden"


def _preview(emu, config: Path, fmt: str, capsys, monkeypatch) -> str:
    monkeypatch.chdir(sample_path("messages.json").parent)  # record names without the checkout's path
    monkeypatch.setenv("COLUMNS", "200")
    assert main(["preview", "--messages", "messages.json", "--contacts", "contacts.json", "--config", str(config),
                 "--url", emu.base_url, "--auth", "none", "--format", fmt]) == 0
    return capsys.readouterr().out.replace(emu.base_url, "http://emulator")


def _check(name: str, out: str) -> None:
    golden = GOLDEN / name
    if os.environ.get("UPDATE_GOLDEN"):
        golden.write_text(out, encoding="utf-8")
    assert out == golden.read_text(encoding="utf-8")


@pytest.mark.parametrize("fmt", ["ndjson", "table"])
def test_preview_of_an_org_holding_some_records(fmt, diff_org, sales_rules, capsys, monkeypatch):
    _check(f"preview_org_sales.{fmt}", _preview(diff_org, sales_rules, fmt, capsys, monkeypatch))


def test_preview_links_cases_by_ticket_number(diff_org, service_rules, capsys, monkeypatch):
    out = _preview(diff_org, service_rules, "ndjson", capsys, monkeypatch)
    _check("preview_org_service.ndjson", out)
    linked = [r["regarding"] for r in map(json.loads, out.splitlines())
              if r["kind"] == "email" and (r.get("regarding") or {}).get("status") == "linked"]
    assert {(r["table"], r["by"], r["name"]) for r in linked} == {("incident", "column", "Forklift sensor fault on line 2")}


def test_the_golden_org_preview_shows_what_it_is_meant_to(diff_org, sales_rules, capsys, monkeypatch):
    records = [json.loads(line) for line in _preview(diff_org, sales_rules, "ndjson", capsys, monkeypatch).splitlines()]
    summary, rest = records[0], records[1:]
    assert summary["kind"] == "summary" and summary["against"] == "http://emulator"
    by_key = {(r["kind"], r.get("key") or r.get("address") or r.get("record")): r for r in rest}
    zoe = by_key[("contact", "zoe.angstrom@northwind-traders.example")]
    assert zoe["outcome"] == "update"
    assert zoe["changes"] == {"jobtitle": {"before": "Sales Associate", "after": "Account Executive"}}
    assert by_key[("account", "northwind-traders.example")]["outcome"] == "unchanged"
    procurement = by_key[("contact", "procurement@northwind-traders.example")]
    assert [c["name"] for c in procurement["found"]["candidates"]] == ["Procurement", "Northwind Purchasing"]
    soporte = by_key[("address", "soporte@herrera-hijos.example")]
    assert soporte["status"] == "ambiguous" and soporte["name"] == "Soporte Herrera" and len(soporte["candidates"]) == 2
    rules = {r["regarding"]["by"]: r["regarding"] for r in rest
             if r["kind"] == "email" and (r.get("regarding") or {}).get("status") == "linked"}
    assert {by: r["name"] for by, r in rules.items()} == {
        "id": "Herrera site rollout", "column": "Bluefin pilot", "account_newest_open": "Q3 renewal – 40 seats"}
    assert all(r["plugin"] == "regarding" for r in rules.values())
    unchanged = [r for r in rest if r["kind"] == "email" and r["outcome"] == "unchanged"]
    assert len(unchanged) == 1 and "already in the org" in unchanged[0]["reason"]
    assert summary["tables"]["email"] == {"create": 7, "update": 0, "unchanged": 1, "skipped": 0, "would fail": 0}
