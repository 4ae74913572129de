"""Exit statuses that mean something, and values whose type the org's column cannot take."""

from __future__ import annotations

from mail2dataverse.cli import main
from mail2dataverse.demo import seed_org
from mail2dataverse.emulator import Emulator
from mail2dataverse.preflight import ColumnInfo, value_problem
from mail2dataverse.report import Report

from .helpers import SAMPLE, read_report


def user_mapping(tmp_path, entity: str, columns: str):
    folder = tmp_path / "mappings"
    folder.mkdir(exist_ok=True)
    (folder / f"{entity}.yaml").write_text(f"entity: {entity}\nextends: default\ncolumns:\n{columns}", encoding="utf-8")
    return folder


def sync(tmp_path, emu, *extra: str) -> int:
    return main(["sync", *SAMPLE, "--url", emu.base_url, "--auth", "none", "--state", str(tmp_path / "s.sqlite3"),
                 "--report", str(tmp_path / "report.json"), *extra])


def test_a_number_for_a_text_column_stops_before_any_write_naming_the_column(tmp_path, capsys):
    folder = user_mapping(tmp_path, "contact", "  telephone2:\n    value: 12345\n")
    with Emulator() as emu:
        seed_org(emu)
        code = sync(tmp_path, emu, "--mappings", str(folder))
        assert emu.stats.get("writes", 0) == 0 and emu.records("contact") == []
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert err == (f"{folder / 'contact.yaml'}:5:5: $.columns.telephone2: the org's contact table: column telephone2 is "
                   "String in the org and takes a string, but the mapping gives integer 12345 (write it as '12345' in quotes)")


def test_a_fixed_value_longer_than_the_column_stops_before_any_write(tmp_path, capsys):
    folder = user_mapping(tmp_path, "contact", "  jobtitle:\n    value: " + "x" * 101 + "\n")
    with Emulator() as emu:
        seed_org(emu)
        assert sync(tmp_path, emu, "--mappings", str(folder)) == 2
    assert "column jobtitle holds at most 100 characters, but the mapping's value has 101" in capsys.readouterr().err


def test_value_problem_knows_types_lengths_and_lookups():
    text = ColumnInfo("subject", "String", 5)
    assert value_problem(text, "short") is None
    assert "holds at most 5" in value_problem(text, "😀😀😀")  # 6 UTF-16 code units
    assert value_problem(ColumnInfo("donotemail", "Boolean"), True) is None
    assert "takes a boolean" in value_problem(ColumnInfo("donotemail", "Boolean"), 1)
    assert value_problem(ColumnInfo("numberofemployees", "Integer"), 12) is None
    assert "takes a integer" in value_problem(ColumnInfo("numberofemployees", "Integer"), True)
    assert "@odata.bind" in value_problem(ColumnInfo("parentcustomerid", "Customer"), "x")


def test_a_mapping_error_that_skips_every_contact_fails_the_run(tmp_path, capsys):
    # abs() of a string fails for every record: a mapping error, not a property of the data
    folder = user_mapping(tmp_path, "contact", "  jobtitle:\n    from: abs(given_name)\n")
    with Emulator() as emu:
        seed_org(emu)
        code = sync(tmp_path, emu, "--mappings", str(folder))
    assert code == 3
    data = read_report(tmp_path / "report.json")
    assert data["outcome"] == "mapping_error" and data["ok"] is False and data["exit_status"] == 3
    assert data["entities"]["contact"]["skipped"] == data["inputs"]["contacts"] > 0
    assert "Tables skipped whole: contact" in data["summary_text"] and "mail2dataverse validate" in data["summary_text"]


def test_data_skips_of_every_record_are_not_a_failure():
    report = Report()
    report.inputs["contacts"] = 2
    report.skip("contact", "c.json record 1", "no email address")
    report.skip("contact", "c.json record 2", "no email address")
    assert report.outcome == "ok" and report.exit_code() == 0
    report.skip("email", "m.json record 1", "$.columns.subject: invalid type for value: 5 (mapping m.yaml:3:5)")
    assert report.outcome == "mapping_error" and report.exit_code() == 3 and report.mapping_failures() == ["email"]


def test_the_plain_summary_names_the_top_reasons_and_what_to_do():
    report = Report()
    report.count("contact", "created", 3)
    for i in range(3):
        report.fail("email", f"m.json record {i}", "0x80044331", "A validation error occurred.", 400)
    report.skip("email", "m.json record 9", "duplicate: same message as m.json record 1")
    text = report.plain_summary()
    assert "Wrote 3 contacts" in text
    assert "3 × 0x80044331: A validation error occurred." in text
    assert "1 × duplicate (email)" in text
    assert "Re-run to retry the failed records" in text
