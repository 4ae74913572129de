"""What a CRM admin does, through ``mail2dataverse preview``: own mappings, a config, skips.

The other mapper tests call ``load_mappings`` directly; these go through the command line, so
the wiring of ``--mappings`` (repeatable, override and extend), ``--config`` (profile, owner
addresses, extra freemail domains, disabled plugins) and the skip summary is covered end to end.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from mail2dataverse.cli import main
from mail2dataverse.demo import sample_path
from mail2dataverse.pluginmanager import AUTOLOAD_ENV, DISABLE_ENV

SAMPLE = ["--messages", str(sample_path("messages.json")), "--contacts", str(sample_path("contacts.json"))]


@pytest.fixture(autouse=True)
def _no_plugin_env(monkeypatch):
    # A developer's shell settings must not change what the preview shows.
    for name in (AUTOLOAD_ENV, DISABLE_ENV):
        monkeypatch.delenv(name, raising=False)


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text), "utf-8")
    return path


def preview(capsys, *args: str) -> tuple[list[dict], str]:
    """Run ``preview --format json --summary``; return the preview's records and stderr."""
    assert main(["preview", *args, "--format", "json", "--summary"]) == 0
    out = capsys.readouterr()
    return json.loads(out.out), out.err


def targets(records: list[dict], entity: str) -> list[dict]:
    """The payloads of the ``entity`` records the preview would create."""
    return [r["payload"] for r in records if r["kind"] == entity and r["outcome"] == "create"]


def emails(records: list[dict]) -> dict[str, dict]:
    """subject → payload of each email the preview would create."""
    return {r["subject"]: r["payload"] for r in records if r["kind"] == "email" and r["outcome"] == "create"}


def test_mappings_folders_extend_and_override_through_preview(tmp_path, capsys):
    extend = write(
        tmp_path / "extend" / "people.yaml",
        """\
        entity: contact
        extends: default
        columns:
          jobtitle:
            from: job_title
            transforms: [upper]
            when: "given_name != 'Zoë'"      # a condition leaves the column out
          description: {value: imported from Nylas}
          telephone2: null
        skip_record_when:
          - when: "surname == 'Webb'"
            reason: not a customer
        """,
    ).parent
    override = write(
        tmp_path / "override" / "account.yaml",
        """\
        entity: account
        columns:
          name: {from: domain, transforms: [upper]}
        """,
    ).parent
    ops, err = preview(capsys, *SAMPLE, "--mappings", str(extend), "--mappings", str(override))

    accounts = targets(ops, "account")
    assert {a["name"] for a in accounts} >= {"HARBOR-LOGISTICS.EXAMPLE", "BLUEFIN-ROBOTICS.CO.UK"}
    assert all("websiteurl" not in a for a in accounts)  # replaced, not merged

    contacts = {c["emailaddress1"]: c for c in targets(ops, "contact")}
    obrien = contacts["o'brien@harbor-logistics.example"]
    assert obrien["jobtitle"] == "HEAD OF PROCUREMENT"
    assert obrien["description"] == "imported from Nylas"
    assert "telephone2" not in obrien and obrien["telephone1"] == "+353 1 555 0142"
    assert obrien["lastname"] == "O'Brien"  # untouched defaults stay
    assert "jobtitle" not in contacts["zoe.angstrom@northwind-traders.example"]
    assert "marcus.webb87@gmail.com" not in contacts
    assert "skipped contact: 1 × not a customer" in err


def test_config_profile_owners_and_freemail_change_the_preview(tmp_path, capsys):
    base, _ = preview(capsys, *SAMPLE)
    assert not any(k.startswith("regardingobjectid") for body in emails(base).values() for k in body)
    assert "Harbor Logistics" in {a["name"] for a in targets(base, "account")}

    service = write(tmp_path / "service.yaml", "profile: service\nowner_addresses: [dana@acme-widgets.example]\n")
    ops, _ = preview(capsys, *SAMPLE, "--config", str(service))
    case = emails(ops)["[CAS-01234-A1B2C3] Forklift sensor fault on line 2"]
    assert case["regardingobjectid_incident_email@odata.bind"] == "<incident where ticketnumber = 'CAS-01234-A1B2C3'>"

    sales = write(
        tmp_path / "sales.yaml",
        """\
        profile: sales
        owner_addresses: [tomas@herrera-hijos.example]
        freemail: {extra: [harbor-logistics.example]}
        opportunity_domains: {northwind-traders.example: Q3 renewal}
        """,
    )
    ops, _ = preview(capsys, *SAMPLE, "--config", str(sales))
    names = {a["name"] for a in targets(ops, "account")}
    assert "Harbor Logistics" not in names  # an extra freemail domain makes no account
    assert "Herrera & Hijos Construcción" not in names  # the owner's own company is not a customer
    renewal = emails(ops)["Re: Q3 renewal – pricing for 40 seats"]
    assert renewal["regardingobjectid_opportunity_email@odata.bind"] == "<opportunity where name = 'Q3 renewal'>"
    sent = emails(ops)["[CAS-01234-A1B2C3] Forklift sensor fault on line 2"]
    assert sent["directioncode"] is True  # from the configured owner: outgoing


def test_builtins_disabled_by_config_and_by_environment(tmp_path, capsys, monkeypatch):
    base, _ = preview(capsys, *SAMPLE)
    assert "Gmail" not in {a["name"] for a in targets(base, "account")}

    config = write(tmp_path / "config.yaml", "plugins:\n  disable: [freemail]\n")
    ops, _ = preview(capsys, *SAMPLE, "--config", str(config))
    assert "Gmail" in {a["name"] for a in targets(ops, "account")}  # nobody says gmail.com is freemail

    monkeypatch.setenv(DISABLE_ENV, "accounts")
    ops, _ = preview(capsys, *SAMPLE)
    assert not [r for r in ops if r["kind"] == "account"]
    assert all("parentcustomerid_account@odata.bind" not in c for c in targets(ops, "contact"))


def test_malformed_records_are_counted_per_failing_entry(tmp_path, capsys):
    good = {"id": "m0", "grant_id": "g", "subject": "ok", "from": [{"email": "a@b.example"}], "date": 1741097109}
    records = [good] + [dict(good, id=f"m{i}", date="2025-03-04T14:05:09") for i in range(1, 4)]
    records.append(dict(good, id="m9", to=5))
    messages = tmp_path / "messages.json"
    messages.write_text(json.dumps(records), "utf-8")
    ops, err = preview(capsys, "--messages", str(messages))
    assert len(emails(ops)) == 1
    # One line per failing mapping entry with its count, not one line per record naming only
    # the record (the reason used to start with the record, which the summary groups by).
    assert "skipped email: 3 × $.let.date\n" in err
    assert "skipped email: 1 × $.parties[1]\n" in err
