"""Issue 16 against the emulator: original dates, conversation threads, attachments."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

from mail2dataverse.config import RunConfig
from mail2dataverse.emulator import Emulator
from mail2dataverse.emulator.rules_attachments import AttachmentRules
from mail2dataverse.sync import Inputs

from .conftest import run_sync

OWNER = "dana@acme.example"


def message(i: int, *, date: str = "2024-05-06T07:08:09Z", headers: list | None = None, **extra) -> dict:
    """A Nylas CLI message from a customer to the owner."""
    record = {"id": f"m{i}", "grant_id": "g1", "subject": f"Subject {i}",
              "from": [{"email": f"c{i}@customer.example"}], "to": [{"email": OWNER}],
              "body": f"<p>{i}</p>", "snippet": str(i), "date": date, "folders": ["INBOX"]}
    if headers is not None:
        record["headers"] = headers
    record.update(extra)
    return record


def write_messages(tmp_path: Path, records: list[dict]) -> Inputs:
    path = tmp_path / "messages.json"
    path.write_text(json.dumps(records), encoding="utf-8")
    return Inputs(messages=str(path))


def config(**kw) -> RunConfig:
    return replace(RunConfig(owner_addresses=(OWNER,)), **kw)


def test_created_emails_carry_the_original_date(tmp_path):
    with Emulator() as emu:
        report = run_sync(emu, config(), write_messages(tmp_path, [message(1, date="2019-02-03T04:05:06-05:00")]))
        assert report.failed == 0, report.failures
        (row,) = emu.records("email")
    assert row["createdon"] == "2019-02-03T09:05:06Z"  # the service's swap: createdon = the given date
    assert row["overriddencreatedon"] > "2020"  # ... and overriddencreatedon = the insert time
    assert row["actualstart"] == row["actualend"] == row["sortdate"] == "2019-02-03T09:05:06Z"
    assert report.warnings == []


def test_without_the_privilege_the_run_warns_and_leaves_the_column_out(tmp_path):
    with Emulator(attachment_rules=AttachmentRules(privileges=set())) as emu:
        report = run_sync(emu, config(), write_messages(tmp_path, [message(1, date="2019-02-03T04:05:06Z")]))
        (row,) = emu.records("email")
    assert report.failed == 0
    assert any("prvOverrideCreatedOnCreatedBy" in w for w in report.warnings)
    assert row["createdon"] > "2020" and row["sortdate"] == "2019-02-03T04:05:06Z"


def test_original_dates_off_sends_no_overriddencreatedon(tmp_path):
    with Emulator() as emu:
        run_sync(emu, config(original_dates=False), write_messages(tmp_path, [message(1, date="2019-02-03T04:05:06Z")]))
        (row,) = emu.records("email")
    assert row["createdon"] > "2020" and row["overriddencreatedon"] is None


def test_a_future_date_is_not_sent_as_overriddencreatedon(tmp_path):
    with Emulator() as emu:
        report = run_sync(emu, config(), write_messages(tmp_path, [message(1, date="2999-01-01T00:00:00Z")]))
        (row,) = emu.records("email")
    assert report.failed == 0, report.failures
    assert row["createdon"] < "2999" and row["sortdate"] == "2999-01-01T00:00:00Z"
