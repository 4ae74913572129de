"""Every column the shipped mappings write exists in the emulated org, within its max length.

The emulator's tables follow Microsoft's entity reference; a mapping that writes a column the
org does not have fails every record on a real org, so this is checked before any sync.
"""

import json

from mail2dataverse.config import RunConfig
from mail2dataverse.emulator.catalog import build_catalog
from mail2dataverse.sync import Inputs, preview


def test_shipped_mappings_write_only_known_columns(tmp_path):
    contacts = [{
        "id": "c1", "grant_id": "g", "given_name": "A" * 80, "middle_name": "M" * 80, "surname": "B" * 80,
        "job_title": "J" * 300, "company_name": "Acme",
        "emails": [{"email": f"e{i}@acme.example"} for i in range(3)],
        "phone_numbers": [{"number": str(i) * 60} for i in range(1, 4)],
    }]
    messages = [{
        "id": "m1", "grant_id": "g", "subject": "S" * 2000, "from": [{"email": "e0@acme.example"}],
        "to": [{"email": "x@other.example"}], "cc": [{"email": "y@other.example"}], "bcc": [{"email": "z@other.example"}],
        "body": "<p>hi</p>", "snippet": "hi", "date": "2025-03-04T14:05:09-05:00", "unread": False, "starred": False,
        "headers": [{"name": "Message-ID", "value": "<" + "m" * 400 + "@x>"}],
    }]
    (tmp_path / "c.json").write_text(json.dumps(contacts), encoding="utf-8")
    (tmp_path / "m.json").write_text(json.dumps(messages), encoding="utf-8")
    ops, report = preview(Inputs(messages=str(tmp_path / "m.json"), contacts=str(tmp_path / "c.json")),
                          RunConfig(profile="sales"))
    assert report.failed == 0
    tables = build_catalog()
    by_set = {t.entity_set: t for t in tables.values()}
    checked = 0
    for op in ops:
        entity_set = op["path"].split("/")[0].split("(")[0]
        if entity_set.startswith("$"):
            entity_set = "emails"
        bodies = op["body"].get("Targets", [op["body"]])
        for body in bodies:
            for column, value in body.items():
                if "@" in column:
                    continue
                if column == "email_activity_parties":
                    party_table = tables["activityparty"]
                    for party in value:
                        for pc, pv in party.items():
                            if "@" not in pc:
                                _check(party_table, pc, pv)
                                checked += 1
                    continue
                _check(by_set[entity_set], column, value)
                checked += 1
    assert checked > 20


def _check(table, column, value):
    assert column in table.columns, f"{table.logical}.{column} is not a column of the org"
    limit = table.columns[column].max_length
    if limit and isinstance(value, str):
        assert len(value) <= limit, f"{table.logical}.{column}: {len(value)} > {limit}"
