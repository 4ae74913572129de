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
