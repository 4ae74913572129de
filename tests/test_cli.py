"""The command line: help and docs for every command, exit statuses, one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from mail2dataverse.cli import COMMANDS, build_parser, main
from mail2dataverse.demo import sample_path, seed_org
from mail2dataverse.emulator import Emulator

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ["--messages", str(sample_path("messages.json")), "--contacts", str(sample_path("contacts.json")),
          "--config", str(sample_path("config.yaml"))]


def subcommands():
    parser = build_parser()
    (action,) = [a for a in parser._actions if a.dest == "command"]
    return action.choices


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_command_has_help_and_is_in_the_readme(name):
    parser = subcommands()[name]
    assert parser.format_help().strip()
    assert f"`{name}" in (ROOT / "README.md").read_text(encoding="utf-8")


def test_no_command_prints_help_and_exits_2(capsys):
    assert main([]) == 2
    assert "COMMAND" in capsys.readouterr().out


def test_missing_input_file_is_a_one_line_error(capsys, tmp_path):
    code = main(["preview", "--messages", str(tmp_path / "nope.json")])
    err = capsys.readouterr().err
    assert code == 2
    assert "nope.json" in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


def test_truncated_export_names_the_file_and_writes_nothing(capsys, tmp_path):
    bad = tmp_path / "messages.json"
    bad.write_text(sample_path("messages.json").read_text("utf-8")[:900], encoding="utf-8")
    code = main(["preview", "--messages", str(bad)])
    err = capsys.readouterr()
    assert code == 2
    assert "messages.json" in err.err and "Traceback" not in err.err
    assert err.out == ""


def test_preview_reads_stdin(monkeypatch, capsys):
    import io

    data = sample_path("messages.json").read_bytes()
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data), encoding="utf-8"))
    assert main(["preview", "--messages", "-", "--format", "json"]) == 0
    records = json.loads(capsys.readouterr().out)
    assert records[0]["kind"] == "summary" and records[0]["tables"]["email"]["create"] == 8
    assert sum(1 for r in records if r["kind"] == "email" and r["outcome"] == "create") == 8


def test_sync_without_url_is_a_usage_error(capsys, monkeypatch):
    monkeypatch.delenv("DATAVERSE_URL", raising=False)
    monkeypatch.delenv("DYNAMICS_ORG", raising=False)
    assert main(["sync", *SAMPLE, "--auth", "none"]) == 2
    assert "DATAVERSE_URL" in capsys.readouterr().err


def test_sync_accepts_the_guides_dynamics_org_variable(capsys, monkeypatch, tmp_path):
    with Emulator() as emu:
        seed_org(emu)
        monkeypatch.delenv("DATAVERSE_URL", raising=False)
        monkeypatch.setenv("DYNAMICS_ORG", emu.base_url)
        report = tmp_path / "report.json"
        code = main(["sync", *SAMPLE, "--auth", "none", "--state", str(tmp_path / "s.sqlite3"), "--report", str(report)])
        assert code == 0, capsys.readouterr().err
        data = json.loads(report.read_text("utf-8"))
        assert data["ok"] is True
        assert data["entities"]["email"]["created"] == 8
        assert len(emu.records("email")) == 8


def test_failed_records_exit_1_with_the_services_error_in_the_report(capsys, tmp_path):
    messages = json.loads(sample_path("messages.json").read_text("utf-8"))
    quote = next(m for m in messages if m["id"] == "18f3a9c2b7d41e05")
    quote["subject"] = "Long subject " + "x" * 300  # fine for 800, too long for an old org's 200
    export = tmp_path / "messages.json"
    export.write_text(json.dumps(messages), encoding="utf-8")
    with Emulator(email_subject_max=200) as emu:
        seed_org(emu)
        report = tmp_path / "report.json"
        code = main(["sync", "--messages", str(export), "--contacts", str(sample_path("contacts.json")),
                     "--config", str(sample_path("config.yaml")), "--url", emu.base_url, "--auth", "none",
                     "--state", str(tmp_path / "s.sqlite3"), "--report", str(report), "--format", "json"])
        assert code == 1
        data = json.loads(report.read_text("utf-8"))
        (failure,) = data["failures"]
        assert failure["code"] == "0x80044331"
        assert "18f3a9c2b7d41e05" in failure["record"]
        assert data["entities"]["email"]["created"] == 7
        # every input record is accounted for
        e = data["entities"]["email"]
        assert e["created"] + e["updated"] + e["unchanged"] + e["skipped"] + e["failed"] == data["inputs"]["messages"]


def test_validate_shipped_mappings_ok(capsys):
    assert main(["validate"]) == 0
    assert capsys.readouterr().out.startswith("ok: ")


def test_validate_reports_every_problem_and_exits_2(tmp_path, capsys):
    bad = tmp_path / "contact.yaml"
    bad.write_text("entity: contact\ncolumns:\n  firstname:\n    from: 'given_name | ['\n  lastname: 5\n", encoding="utf-8")
    assert main(["validate", str(bad)]) == 2
    err = capsys.readouterr().err
    assert str(bad) + ":" in err
    assert "problem" in err.splitlines()[-1]


def test_plugins_lists_built_ins_as_json(capsys):
    assert main(["plugins", "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    names = {r["name"] for r in rows}
    assert {"freemail", "accounts", "regarding", "mbox"} <= names
    assert all(r["builtin"] for r in rows if r["name"] in {"freemail", "accounts", "regarding", "mbox"})


def test_console_script_runs(tmp_path):
    exe = Path(sys.executable).parent / "mail2dataverse"
    out = subprocess.run([str(exe), "--version"], capture_output=True, text=True, check=True)
    assert out.stdout.startswith("mail2dataverse ")


def test_declaring_the_commands_loads_no_server_nor_checks():
    # Every command builds the whole parser; the emulator's HTTP server and the doctor's checks
    # behind their flags were half of each command's start-up. A fresh interpreter: this one
    # has imported them for other tests.
    code = ("import sys; from mail2dataverse.cli import build_parser; build_parser(); "
            "print(sorted(m for m in sys.modules if m.startswith(('mail2dataverse.emulator.server', "
            "'mail2dataverse.emulator.app', 'mail2dataverse.doctor.checks', 'http.server'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
    from mail2dataverse import doctor, emulator

    assert emulator.Emulator is Emulator and emulator.FaultProfile.__name__ == "FaultProfile"
    assert callable(doctor.run_checks) and doctor.Check.__name__ == "Check"
    with pytest.raises(AttributeError):
        emulator.NoSuchThing  # noqa: B018 - the lazy attributes are only the two declared


@pytest.mark.parametrize("argv, message", [
    (["--from-nylas", "--messages", "m.json"], "drop --messages/--contacts"),
    (["--messages", "m.json", "--with-headers"], "--with-headers only apply with --from-nylas"),
    (["--messages", "m.json", "--limit", "5", "--contacts-source", "inbox"], "--contacts-source only apply"),
])
def test_flags_that_would_be_ignored_are_refused(argv, message, capsys):
    assert main(["preview", *argv]) == 2
    assert message in capsys.readouterr().err


def test_contacts_source_reaches_the_nylas_export(monkeypatch):
    import mail2dataverse.sources.nylas_cli as nylas_cli
    from mail2dataverse.errors import SourceError

    seen = {}

    def fake_export(kind, **options):
        seen[kind] = options
        raise SourceError("stop here")

    monkeypatch.setattr(nylas_cli, "nylas_export", fake_export)
    assert main(["preview", "--from-nylas", "g-1", "--contacts-source", "address_book,inbox"]) == 2
    assert seen["contacts"]["source"] == "address_book,inbox" and seen["contacts"]["grant"] == "g-1"


def test_a_run_stopped_by_an_unreadable_org_still_writes_its_report(tmp_path, capsys):
    with Emulator(faults="503=1.0,seed=1") as emu:  # every request answers 503
        report = tmp_path / "report.json"
        code = main(["sync", *SAMPLE, "--url", emu.base_url, "--auth", "none", "--state", str(tmp_path / "s.sqlite3"),
                     "--report", str(report), "--max-retries", "1"])
    assert code == 1
    err = capsys.readouterr().err
    assert "re-run to continue" in err and "Traceback" not in err
    data = json.loads(report.read_text("utf-8"))
    assert data["ok"] is False and data["entities"]["email"]["created"] == 0
    assert data["stopped"].startswith("lookup of")
    assert data["http"]["retries"] >= 1  # --max-retries 1: resent once, then stopped


def test_format_flags_say_which_mode_they_belong_to(capsys):
    assert main(["sync", *SAMPLE, "--format", "table", "--url", "http://x", "--auth", "none"]) == 2
    assert "use it with --dry-run" in capsys.readouterr().err
    assert main(["sync", *SAMPLE, "--dry-run", "--format", "text"]) == 2
    assert "--dry-run prints the preview" in capsys.readouterr().err
    assert main(["sync", *SAMPLE, "--dry-run", "--format", "table"]) == 0
    out = capsys.readouterr().out
    assert "writes not sent" in out and "EMAILS (8)" in out


def test_auth_kind_from_the_environment(monkeypatch, capsys, tmp_path):
    with Emulator() as emu:
        seed_org(emu)
        monkeypatch.setenv("MAIL2DATAVERSE_AUTH", "none")
        code = main(["sync", *SAMPLE, "--url", emu.base_url, "--state", str(tmp_path / "s.sqlite3")])
        assert code == 0, capsys.readouterr().err
        assert len(emu.records("email")) == 8


def test_input_format_names_a_source_plugin_or_says_which_exist(capsys, tmp_path):
    f = tmp_path / "x.dat"
    f.write_text("[]", encoding="utf-8")
    assert main(["preview", "--messages", str(f), "--input-format", "json"]) == 0
    capsys.readouterr()
    assert main(["preview", "--messages", str(f), "--input-format", "csv"]) == 2
    err = capsys.readouterr().err
    assert "csv" in err and "Traceback" not in err
