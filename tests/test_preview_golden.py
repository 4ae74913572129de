"""Golden files: the preview of the bundled sample mailbox against an empty org (no ``--url``).

The preview of an org that already holds some of the records is in tests/preview/.

Regenerate after an intended change with ``UPDATE_GOLDEN=1 make test`` and review the diff.
"""

import os
from pathlib import Path

import pytest

from mail2dataverse.cli import main
from mail2dataverse.demo import sample_path

GOLDEN = Path(__file__).parent / "golden"


@pytest.mark.parametrize("fmt", ["json", "yaml", "table"])
def test_preview_of_the_sample_mailbox(fmt, capsys, monkeypatch):
    # Relative names: the records are named after the files as given, and the golden files
    # must not depend on where the checkout lives.
    monkeypatch.chdir(sample_path("messages.json").parent)
    monkeypatch.setenv("COLUMNS", "120")  # the table is cut to the terminal's width
    code = main([
        "preview", "--messages", "messages.json", "--contacts", "contacts.json",
        "--config", "config.yaml", "--format", fmt,
    ])
    out, err = capsys.readouterr()
    assert code == 0, err
    golden = GOLDEN / f"preview_sample.{fmt}"
    if os.environ.get("UPDATE_GOLDEN"):
        golden.write_text(out, encoding="utf-8")
    assert out == golden.read_text(encoding="utf-8")


def test_sync_dry_run_prints_exactly_what_preview_prints(capsys):
    args = ["--messages", str(sample_path("messages.json")), "--contacts", str(sample_path("contacts.json")),
            "--config", str(sample_path("config.yaml"))]
    assert main(["preview", *args]) == 0
    preview_out = capsys.readouterr().out
    assert main(["sync", "--dry-run", *args]) == 0
    assert capsys.readouterr().out == preview_out
