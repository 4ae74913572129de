"""The run report: counts, grouped skip reasons, failures, exit status."""

import json

from mail2dataverse.report import Report, reason_kind


def test_reason_kind_is_the_text_before_the_first_colon_space():
    assert reason_kind("duplicate: same address as contacts.json record 3") == "duplicate"
    assert reason_kind("$.columns.subject: expected a string, got number 5") == "$.columns.subject"
    assert reason_kind("no email address") == "no email address"
    assert reason_kind("mailto:x@y: broken") == "mailto:x@y"  # a bare colon is not a separator


def test_every_record_is_accounted_for_and_failures_set_the_exit_status():
    report = Report()
    report.inputs["messages"] = 4
    report.count("email", "created", 2)
    report.skip("email", "m.json record 3", "duplicate: same message as m.json record 1")
    assert report.exit_code() == 0
    report.fail("email", "m.json record 4", "0x80044331", "too long", 400)
    data = json.loads(report.to_json())
    e = data["entities"]["email"]
    assert e["created"] + e["updated"] + e["unchanged"] + e["skipped"] + e["failed"] == data["inputs"]["messages"]
    assert e["skip_reasons"] == {"duplicate": 1}
    assert data["failures"] == [{"entity": "email", "record": "m.json record 4", "status": 400,
                                 "code": "0x80044331", "message": "too long"}]
    assert data["ok"] is False and report.exit_code() == 1
    assert "FAILED email m.json record 4: 0x80044331 too long" in report.summary()
