"""Pre-flight: a mapping column the org does not have stops the sync before any write."""

import json

from mail2dataverse.cli import main
from mail2dataverse.demo import sample_path, seed_org
from mail2dataverse.emulator import Emulator


def test_unknown_column_is_located_in_the_mapping_and_nothing_is_written(tmp_path, capsys):
    user = tmp_path / "mappings"
    user.mkdir()
    (user / "contact.yaml").write_text(
        "entity: contact\nextends: default\ncolumns:\n  new_loyaltytier:\n    value: gold\n", encoding="utf-8"
    )
    with Emulator() as emu:
        seed_org(emu)
        code = main(["sync", "--messages", str(sample_path("messages.json")), "--contacts", str(sample_path("contacts.json")),
                     "--mappings", str(user), "--url", emu.base_url, "--auth", "none",
                     "--state", str(tmp_path / "s.sqlite3")])
        assert emu.stats["writes"] == 0
        assert emu.records("contact") == [] and emu.records("email") == []
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert err == f"{user / 'contact.yaml'}:5:5: $.columns.new_loyaltytier: the org's contact table has no column 'new_loyaltytier'"


def test_the_preview_has_no_org_to_check_against(tmp_path, capsys):
    user = tmp_path / "mappings"
    user.mkdir()
    (user / "contact.yaml").write_text(
        "entity: contact\nextends: default\ncolumns:\n  new_loyaltytier:\n    value: gold\n", encoding="utf-8"
    )
    assert main(["preview", "--contacts", str(sample_path("contacts.json")), "--mappings", str(user)]) == 0
    records = json.loads(capsys.readouterr().out)
    created = [r for r in records if r["kind"] == "contact" and r["outcome"] == "create"]
    assert created and all(r["payload"]["new_loyaltytier"] == "gold" for r in created)


def test_unreadable_metadata_is_a_warning_not_a_stop(tmp_path, monkeypatch):
    from mail2dataverse.config import load_config
    from mail2dataverse.writers import live

    from .conftest import run_sync

    monkeypatch.setattr(live.WebApiExecutor, "attributes", lambda self, table: None)
    with Emulator() as emu:
        seed_org(emu)
        report = run_sync(emu, load_config(sample_path("config.yaml")))
    assert report.failed == 0
    assert any("could not read the contact table's columns" in w for w in report.warnings)


def test_standard_columns_of_the_reference_pass_the_preflight_and_land(tmp_path):
    """mobilephone, address1_city and department were missing from the hand-modelled schema:
    the pre-flight told users the org had no such column. The generated schema has them."""
    user = tmp_path / "mappings"
    user.mkdir()
    (user / "contact.yaml").write_text(
        "entity: contact\nextends: default\ncolumns:\n  mobilephone:\n    value: '+1 555 0100'\n"
        "  address1_city:\n    value: Seattle\n  department:\n    value: Sales\n", encoding="utf-8")
    with Emulator() as emu:
        seed_org(emu)
        code = main(["sync", "--messages", str(sample_path("messages.json")), "--contacts", str(sample_path("contacts.json")),
                     "--mappings", str(user), "--url", emu.base_url, "--auth", "none",
                     "--state", str(tmp_path / "s.sqlite3"), "--report", str(tmp_path / "r.json")])
        contacts = emu.records("contact")
    assert code == 0
    assert contacts and all((c["mobilephone"], c["address1_city"], c["department"]) == ("+1 555 0100", "Seattle", "Sales")
                            for c in contacts)


def test_a_custom_column_from_schema_extend_passes_the_preflight(tmp_path):
    user = tmp_path / "mappings"
    user.mkdir()
    (user / "contact.yaml").write_text(
        "entity: contact\nextends: default\ncolumns:\n  new_nickname:\n    value: Bee\n", encoding="utf-8")
    ext = tmp_path / "ext.yaml"
    ext.write_text("columns:\n  - {table: contact, column: new_nickname, type: string, length: 100}\n", "utf-8")
    with Emulator(schema_extend=ext) as emu:
        seed_org(emu)
        code = main(["sync", "--contacts", str(sample_path("contacts.json")), "--mappings", str(user),
                     "--url", emu.base_url, "--auth", "none", "--state", str(tmp_path / "s.sqlite3"),
                     "--report", str(tmp_path / "r.json")])
        nicknames = {c["new_nickname"] for c in emu.records("contact")}
    assert code == 0 and nicknames == {"Bee"}
