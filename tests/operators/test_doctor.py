"""`doctor` against the emulator: all pass, and each failure comes with the right hint."""

from __future__ import annotations

import json
import os
import stat
import sys

import pytest

from mail2dataverse.cli import main
from mail2dataverse.demo import sample_path
from mail2dataverse.emulator import Emulator

from .test_fast_failure import closed_port

CONFIG = str(sample_path("config.yaml"))


def doctor(capsys, *args: str) -> tuple[int, dict]:
    code = main(["doctor", "--auth", "none", "--config", CONFIG, "--format", "json", *args])
    out = capsys.readouterr().out
    return code, {c["id"]: c for c in json.loads(out)["checks"]}


@pytest.fixture(autouse=True)
def _no_org_env(monkeypatch):
    for name in ("DATAVERSE_URL", "DYNAMICS_ORG", "AZURE_TENANT_ID", "AZURE_CLIENT_ID", "AZURE_CLIENT_SECRET",
                 "AZURE_CLIENT_CERTIFICATE_PATH", "MAIL2DATAVERSE_AUTH", "DATAVERSE_TOKEN"):
        monkeypatch.delenv(name, raising=False)


def test_every_check_passes_against_the_emulator(capsys):
    with Emulator() as emu:
        code, checks = doctor(capsys, "--url", emu.base_url)
    assert code == 0, {k: c for k, c in checks.items() if c["status"] != "pass"}
    assert all(c["status"] == "pass" for c in checks.values())
    for cid in ("url", "token", "whoami", "privileges.contact", "privileges.account", "privileges.email",
                "privileges.systemuser", "privileges.opportunity", "privileges.overriddencreatedon",
                "columns.contact", "columns.email", "navigation.email", "navigation.activityparty",
                "keys.contact", "bulk.contact", "bulk.account"):
        assert cid in checks
    assert "regardingobjectid_opportunity_email" in checks["navigation.email"]["detail"]
    assert "placeholder" in checks["token"]["detail"]


def test_a_missing_privilege_fails_with_where_to_add_it(capsys):
    with Emulator(drop_privileges=("prvReadContact", "prvAppendToActivity")) as emu:
        code, checks = doctor(capsys, "--url", emu.base_url)
    assert code == 1
    contact = checks["privileges.contact"]
    assert contact["status"] == "fail" and "missing prvReadContact" in contact["detail"]
    assert "Security roles" in contact["hint"] and "Organization" in contact["hint"]
    assert checks["privileges.email"]["status"] == "fail" and "prvAppendToActivity" in checks["privileges.email"]["detail"]
    assert checks["privileges.account"]["status"] == "pass"


def test_a_read_privilege_below_organization_level_is_a_warning_about_duplicates(capsys):
    with Emulator(privilege_depths={"prvReadContact": "Local"}) as emu:
        code, checks = doctor(capsys, "--url", emu.base_url)
    assert code == 0
    assert checks["privileges.contact"]["status"] == "warn"
    assert "prvReadContact (Local)" in checks["privileges.contact"]["detail"]
    assert "duplicates" in checks["privileges.contact"]["hint"]


def test_the_overridden_created_on_privilege_is_reported(capsys):
    with Emulator(drop_privileges=("prvOverrideCreatedOnCreatedBy",)) as emu:
        code, checks = doctor(capsys, "--url", emu.base_url)
    check = checks["privileges.overriddencreatedon"]
    assert code == 0 and check["status"] == "warn"  # the shipped email mapping does not write it
    assert "prvOverrideCreatedOnCreatedBy" in check["detail"] and "Override Created on" in check["hint"]


def test_a_missing_column_fails_at_the_mappings_line(capsys, tmp_path):
    user = tmp_path / "mappings"
    user.mkdir()
    (user / "contact.yaml").write_text("entity: contact\nextends: default\ncolumns:\n  new_loyaltytier:\n    value: gold\n",
                                       encoding="utf-8")
    with Emulator() as emu:
        code, checks = doctor(capsys, "--url", emu.base_url, "--mappings", str(user))
    assert code == 1
    check = checks["columns.contact"]
    assert check["status"] == "fail"
    assert f"{user / 'contact.yaml'}:5:5: $.columns.new_loyaltytier: the org's contact table has no column" in check["detail"]
    assert "add the column to the org" in check["hint"]
    assert checks["columns.email"]["status"] == "pass"


def test_an_unreachable_url_fails_with_the_cause_and_skips_what_needs_the_org(capsys):
    port = closed_port()
    code, checks = doctor(capsys, "--url", f"http://127.0.0.1:{port}")
    assert code == 1
    assert checks["url"]["status"] == "fail" and "connection refused" in checks["url"]["detail"]
    assert "check the URL and port" in checks["url"]["hint"]
    assert checks["whoami"]["status"] == "skip" and checks["org"]["status"] == "skip"


def test_missing_credentials_name_the_variables_never_a_secret(capsys, monkeypatch):
    monkeypatch.setenv("AZURE_TENANT_ID", "contoso.onmicrosoft.com")
    with Emulator() as emu:
        code = main(["doctor", "--url", emu.base_url, "--auth", "secret", "--config", CONFIG])
    out = capsys.readouterr().out
    assert code == 1
    assert "[FAIL] a token can be had: secret: tenant contoso.onmicrosoft.com, client id (not set)" in out
    assert "AZURE_CLIENT_ID, AZURE_CLIENT_SECRET" in out and "fix: set the variables" in out


def test_usage_errors_exit_2(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["doctor", "--format", "xml"])
    assert exc.value.code == 2
    assert main(["doctor", "--config", "/no/such/config.yaml"]) == 2


FAKE_NYLAS = """#!{python}
import json, os, sys
mode = os.environ.get("FAKE_DOCTOR_NYLAS", "ok")
args = sys.argv[1:]
if args == ["--version"]:
    print("nylas version 3.1.7"); sys.exit(0)
if args[:2] == ["auth", "list"]:
    if mode == "noauth":
        print("Error: no API key configured", file=sys.stderr); sys.exit(1)
    print("GRANT ID     EMAIL\\ng-1          dana@acme-widgets.example"); sys.exit(0)
if args[:2] == ["email", "list"]:
    if mode == "badgrant":
        print("Error: grant not found", file=sys.stderr); sys.exit(1)
    print(json.dumps([])); sys.exit(0)
sys.exit(2)
"""


@pytest.fixture
def fake_nylas(tmp_path, monkeypatch):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    exe = bin_dir / "nylas"
    exe.write_text(FAKE_NYLAS.format(python=sys.executable), encoding="utf-8")
    exe.chmod(exe.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    return monkeypatch


def test_the_nylas_cli_checks(capsys, fake_nylas):
    with Emulator() as emu:
        code, checks = doctor(capsys, "--url", emu.base_url, "--from-nylas", "g-1")
        assert code == 0
        assert checks["nylas.installed"]["status"] == "pass"
        assert checks["nylas.version"]["detail"] == "nylas version 3.1.7"
        assert checks["nylas.auth"]["status"] == "pass" and checks["nylas.grant"]["status"] == "pass"
        fake_nylas.setenv("FAKE_DOCTOR_NYLAS", "badgrant")
        code, checks = doctor(capsys, "--url", emu.base_url, "--from-nylas", "g-1")
        assert code == 1 and checks["nylas.grant"]["status"] == "fail"
        assert "grant not found" in checks["nylas.grant"]["detail"] and "nylas auth login" in checks["nylas.grant"]["hint"]
        fake_nylas.setenv("FAKE_DOCTOR_NYLAS", "noauth")
        code, checks = doctor(capsys, "--url", emu.base_url, "--from-nylas")
        assert code == 1 and checks["nylas.auth"]["status"] == "fail" and checks["nylas.grant"]["status"] == "skip"
        assert "NYLAS_API_KEY" in checks["nylas.auth"]["hint"]


def test_a_missing_nylas_cli_is_named(capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    with Emulator() as emu:
        code, checks = doctor(capsys, "--url", emu.base_url, "--from-nylas")
    assert code == 1 and checks["nylas.installed"]["status"] == "fail" and "cli.nylas.com" in checks["nylas.installed"]["hint"]
