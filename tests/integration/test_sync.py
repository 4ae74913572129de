"""The sync against the in-process emulator: what lands, re-runs, keys, tokens, faults, crashes."""

from __future__ import annotations

import itertools

import pytest

from mail2dataverse.config import RunConfig
from mail2dataverse.emulator import Emulator
from mail2dataverse.sync import Inputs

from .conftest import SAMPLE_INPUTS, run_sync, snapshot

NORTHWIND_ID = "1b2c3d4e-5f60-4718-a9b0-c1d2e3f4a5b6"
OPPORTUNITY_ID = "a0b1c2d3-e4f5-4a6b-8c7d-9e0f1a2b3c4d"
DANA_ID = "8d5f1c3e-0b7a-4c2e-9f41-3a6b2d1e0c01"


def counts(report, entity):
    e = report.to_dict()["entities"][entity]
    return {k: e[k] for k in ("created", "updated", "unchanged", "skipped", "failed")}


def test_sample_mailbox_lands_with_accounts_parties_and_regarding(seeded, sample_config, tmp_path):
    report = run_sync(seeded, sample_config, state=tmp_path / "s.sqlite3")
    assert report.failed == 0, report.failures
    assert report.inputs == {"contacts": 7, "messages": 8}
    assert counts(report, "contact") == {"created": 6, "updated": 0, "unchanged": 0, "skipped": 1, "failed": 0}
    assert counts(report, "email") == {"created": 8, "updated": 0, "unchanged": 0, "skipped": 0, "failed": 0}
    # Northwind already existed: linked, not duplicated; three company domains are new.
    assert counts(report, "account")["created"] == 3
    accounts = {r["name"]: r for r in seeded.records("account")}
    assert len(seeded.records("account")) == 4
    assert "bluefin-robotics.co.uk" in accounts["Bluefin Robotics"]["websiteurl"]  # mail. subdomain → registrable

    contacts = {r["emailaddress1"]: r for r in seeded.records("contact")}
    assert set(contacts) == {
        "o'brien@harbor-logistics.example", "zoe.angstrom@northwind-traders.example", "tomas@herrera-hijos.example",
        "priya+pilot@mail.bluefin-robotics.co.uk", "marcus.webb87@gmail.com", "procurement@northwind-traders.example",
    }
    assert contacts["zoe.angstrom@northwind-traders.example"]["parentcustomerid"] == NORTHWIND_ID
    assert contacts["procurement@northwind-traders.example"]["parentcustomerid"] == NORTHWIND_ID
    assert contacts["marcus.webb87@gmail.com"]["parentcustomerid"] is None  # freemail: no account
    assert contacts["zoe.angstrom@northwind-traders.example"]["firstname"] == "Zoë"

    emails = {r["subject"]: r for r in seeded.records("email")}
    parties = {}
    for p in seeded.records("activityparty"):
        parties.setdefault(p["activityid"], []).append(p)
    quote = emails["Re: Q3 renewal – pricing for 40 seats"]
    assert quote["statecode"] == 1 and quote["statuscode"] == 4 and quote["directioncode"] is False
    assert quote["messageid"] == "<CAH7x2Lw9f3Q@mail.northwind-traders.example>"
    assert quote["regardingobjectid"] == OPPORTUNITY_ID
    by_address = {(p["participationtypemask"], p["addressused"]): p for p in parties[quote["activityid"]]}
    assert by_address[(1, "zoe.angstrom@northwind-traders.example")]["partyid"] == contacts["zoe.angstrom@northwind-traders.example"]["contactid"]
    assert by_address[(2, "dana@acme-widgets.example")]["partyid"] == DANA_ID
    assert by_address[(3, "o'brien@harbor-logistics.example")]["partyid"] == contacts["o'brien@harbor-logistics.example"]["contactid"]
    sent = emails["Re: Intro: warehouse automation pilot"]
    assert sent["statuscode"] == 3 and sent["directioncode"] is True
    archive = [p for p in parties[sent["activityid"]] if p["participationtypemask"] == 4]
    assert [(p["addressused"], p["partyid"]) for p in archive] == [("crm-archive@acme-widgets.example", None)]
    # RFC 3339 with an offset lands in UTC
    assert emails["[CAS-01234-A1B2C3] Forklift sensor fault on line 2"]["actualstart"].startswith("2025-03-05T07:17:44")
    # Bluefin has no opportunity: written, unlinked, and the report says so
    assert emails["Pilot scope & timeline"]["regardingobjectid"] is None
    assert any("Pilot scope" in u["record"] or "18f3c4e0b9a2d611" in u["record"] for u in report.unlinked)


def test_rerun_with_nothing_new_sends_no_writes(seeded, sample_config, tmp_path):
    run_sync(seeded, sample_config, state=tmp_path / "s.sqlite3")
    before = snapshot(seeded)
    seeded.reset_stats()
    again = run_sync(seeded, sample_config, state=tmp_path / "s.sqlite3")
    assert seeded.stats["writes"] == 0
    assert again.failed == 0
    assert counts(again, "email")["unchanged"] == 8
    assert counts(again, "contact")["unchanged"] == 6
    assert snapshot(seeded) == before


def test_lost_state_file_duplicates_nothing(seeded, sample_config, tmp_path):
    run_sync(seeded, sample_config, state=tmp_path / "first.sqlite3")
    before = snapshot(seeded)
    seeded.reset_stats()
    again = run_sync(seeded, sample_config, state=tmp_path / "fresh.sqlite3")
    assert again.failed == 0
    assert snapshot(seeded) == before
    assert seeded.stats["writes"] == 0  # every record was found by lookup and is unchanged


def test_org_with_an_alternate_key_on_emailaddress1_gives_the_same_result(sample_config, tmp_path):
    results = []
    for keys in ((), (("contact", "emailaddress1"),)):
        with Emulator(alternate_keys=keys) as emu:
            from mail2dataverse.demo import seed_org

            seed_org(emu)
            report = run_sync(emu, sample_config, state=tmp_path / f"s{len(keys)}.sqlite3")
            assert report.failed == 0, report.failures
            results.append(snapshot(emu))
    assert results[0] == results[1]


def test_apostrophe_plus_and_non_ascii_addresses_round_trip(seeded, sample_config):
    run_sync(seeded, sample_config)
    addresses = {r["emailaddress1"] for r in seeded.records("contact")}
    assert "o'brien@harbor-logistics.example" in addresses
    assert "priya+pilot@mail.bluefin-robotics.co.uk" in addresses
    names = {r["lastname"] for r in seeded.records("contact")}
    assert {"O'Brien", "Ångström"} <= names


class RotatingToken:
    """A token provider that hands out a new token on every forced refresh."""

    def __init__(self):
        self.counter = itertools.count(1)
        self.current = "token-0"
        self.refreshes = 0

    def token(self, *, force_refresh: bool = False) -> str:
        if force_refresh:
            self.refreshes += 1
            self.current = f"token-{next(self.counter)}"
        return self.current


def test_token_expiry_mid_run_is_refreshed_once_and_retried(sample_config):
    auth = RotatingToken()
    # Each token expires 50 ms after its first use, and 30 ms of latency makes the run outlast
    # several. Not 0 s (expired right after its first use): with requests in flight together,
    # a token refreshed for one retry was already spent by another's, a second 401 that a real
    # org, whose tokens live an hour, never gives; the run then failed about one time in ten.
    with Emulator(token_ttl=0.05, latency_ms=30) as emu:
        from mail2dataverse.demo import seed_org

        seed_org(emu)
        report = run_sync(emu, sample_config, auth=auth)
    assert report.failed == 0, report.failures
    assert auth.refreshes >= 2
    assert report.http.get("auth_refreshes", 0) >= 2


def test_existing_contact_is_updated_with_only_its_changed_columns(seeded, sample_config, tmp_path):
    seeded.seed("contact", {"firstname": "Old", "lastname": "Name", "emailaddress1": "marcus.webb87@gmail.com",
                            "jobtitle": "Keep me"})
    report = run_sync(seeded, sample_config, state=tmp_path / "s.sqlite3")
    assert report.failed == 0
    assert counts(report, "contact")["updated"] == 1
    marcus = [r for r in seeded.records("contact") if r["emailaddress1"] == "marcus.webb87@gmail.com"]
    assert len(marcus) == 1
    assert (marcus[0]["firstname"], marcus[0]["lastname"], marcus[0]["jobtitle"]) == ("Marcus", "Webb", "Keep me")


@pytest.fixture
def clean_snapshot(sample_config):
    with Emulator() as emu:
        from mail2dataverse.demo import seed_org

        seed_org(emu)
        run_sync(emu, sample_config)
        return snapshot(emu)


def test_faults_and_throttling_end_in_the_same_state_as_a_clean_run(sample_config, clean_snapshot):
    faults = "429=0.2,503=0.1,drop=0.05,drop_after=0.05,retry_after=0,seed=11"
    with Emulator(faults=faults) as emu:
        from mail2dataverse.demo import seed_org

        seed_org(emu)
        report = run_sync(emu, sample_config, client_options={"max_retries": 20})
        assert report.failed == 0, report.failures
        assert emu.stats["faults"] + emu.stats["throttled"] > 0
        assert snapshot(emu) == clean_snapshot


class Crash(Exception):
    pass


@pytest.mark.parametrize("crash_after", [1, 2, 3, 4, 5])
def test_killed_run_resumes_without_duplicates(sample_config, clean_snapshot, tmp_path, monkeypatch, crash_after):
    state = tmp_path / "s.sqlite3"
    with Emulator() as emu:
        from mail2dataverse.demo import seed_org

        seed_org(emu)
        calls = {"n": 0}
        from mail2dataverse.writers import live

        real_run, real_submit = live.WebApiExecutor.run, live.WebApiExecutor.submit

        def crashing_run(self, items, *, phase):
            calls["n"] += 1
            results = real_run(self, items, phase=phase)
            if calls["n"] == crash_after:
                raise Crash("killed after the service committed, before the state was saved")
            return results

        def crashing_submit(self, items, *, phase):
            # The planner hands most work over without waiting (phase 1 overlaps phase 2's
            # first pass, chunks in flight): the crash comes once that work has landed.
            calls["n"] += 1
            job = real_submit(self, items, phase=phase)
            if calls["n"] == crash_after:
                job.result()
                raise Crash("killed after the service committed, before the state was saved")
            return job

        monkeypatch.setattr(live.WebApiExecutor, "run", crashing_run)
        monkeypatch.setattr(live.WebApiExecutor, "submit", crashing_submit)
        with pytest.raises(Crash):
            run_sync(emu, sample_config, state=state)
        monkeypatch.setattr(live.WebApiExecutor, "run", real_run)
        monkeypatch.setattr(live.WebApiExecutor, "submit", real_submit)
        report = run_sync(emu, sample_config, state=state)
        assert report.failed == 0, report.failures
        assert snapshot(emu) == clean_snapshot


def test_unreadable_export_writes_nothing(seeded, sample_config, tmp_path):
    bad = tmp_path / "messages.json"
    bad.write_text('[{"id": "a", "grant_id": "g", "subject": "x", "from": null, "body": "", "snippet": "", ', encoding="utf-8")
    from mail2dataverse.errors import SourceError

    with pytest.raises(SourceError):
        run_sync(seeded, sample_config, Inputs(messages=str(bad), contacts=SAMPLE_INPUTS.contacts))
    assert seeded.stats["writes"] == 0
    assert seeded.records("contact") == []


def test_config_defaults_without_owner_still_sync(seeded):
    report = run_sync(seeded, RunConfig())
    assert report.failed == 0, report.failures
    assert len(seeded.records("email")) == 8


def test_report_names_its_sources_and_counts(seeded, sample_config):
    report = run_sync(seeded, sample_config).to_dict()
    kinds = {s["kind"]: s for s in report["sources"]}
    assert kinds["messages"]["records"] == 8 and kinds["contacts"]["records"] == 7
    assert kinds["messages"]["name"].endswith("messages.json")


def test_incremental_run_writes_only_newer_messages(seeded, sample_config, tmp_path):
    import json

    with open(SAMPLE_INPUTS.messages, encoding="utf-8") as fh:
        messages = json.load(fh)
    older = messages[1:]  # the CLI lists newest first
    first = tmp_path / "first.json"
    first.write_text(json.dumps(older), encoding="utf-8")
    run_sync(seeded, sample_config, Inputs(messages=str(first), contacts=SAMPLE_INPUTS.contacts), state=tmp_path / "s.sqlite3")
    assert len(seeded.records("email")) == 7
    seeded.reset_stats()
    # The next export overlaps the last one completely and adds one newer message.
    second = tmp_path / "second.json"
    second.write_text(json.dumps(messages), encoding="utf-8")
    report = run_sync(seeded, sample_config, Inputs(messages=str(second)), state=tmp_path / "s.sqlite3")
    assert report.failed == 0
    assert report.entities["email"].created == 1
    assert report.incremental_skipped >= 1
    assert len(seeded.records("email")) == 8
    # --full reconsiders everything and still duplicates nothing
    full = run_sync(seeded, sample_config, Inputs(messages=str(second)), state=tmp_path / "s.sqlite3", full=True)
    assert full.entities["email"].unchanged == 8 and len(seeded.records("email")) == 8


def test_an_account_that_cannot_be_mapped_leaves_its_contacts_unlinked():
    from mail2dataverse import hookimpl
    from mail2dataverse.demo import sample_path
    from mail2dataverse.model import DerivedAccount
    from mail2dataverse.sync import preview

    class WrongTypes:
        @hookimpl
        def derive_account(self, domain, contact):
            return DerivedAccount(domain, {"domain": domain, "name": {"x": 1}, "website": 7})

    ops, report = preview(Inputs(contacts=str(sample_path("contacts.json"))), RunConfig(), extra_plugins=[WrongTypes()])
    assert [op["path"] for op in ops] == ["contacts/Microsoft.Dynamics.CRM.CreateMultiple"]
    assert all("@odata.bind" not in k for t in ops[0]["body"]["Targets"] for k in t)
    assert any("no account for northwind-traders.example" in w and "account.yaml:" in w for w in report.warnings)
    assert report.entities["contact"].created == 6


def test_existing_contact_typed_in_mixed_case_is_found_and_left_alone(seeded, sample_config):
    seeded.seed("contact", {"firstname": "Marcus", "lastname": "Webb", "emailaddress1": "Marcus.Webb87@Gmail.com"})
    report = run_sync(seeded, sample_config)
    assert report.failed == 0
    marcus = [r for r in seeded.records("contact") if r["emailaddress1"].lower() == "marcus.webb87@gmail.com"]
    assert [r["emailaddress1"] for r in marcus] == ["Marcus.Webb87@Gmail.com"]
    assert report.entities["contact"].unchanged == 1 and report.entities["contact"].created == 5


def test_a_message_with_two_from_addresses_gets_one_sender(seeded, sample_config, tmp_path):
    import json

    with open(SAMPLE_INPUTS.messages, encoding="utf-8") as fh:
        messages = json.load(fh)
    messages[0]["from"].append({"name": "Second", "email": "second.sender@newsletter-tools.example"})
    export = tmp_path / "m.json"
    export.write_text(json.dumps(messages), encoding="utf-8")
    report = run_sync(seeded, sample_config, Inputs(messages=str(export)))
    assert report.failed == 0, report.failures
    email = next(r for r in seeded.records("email") if r["subject"] == messages[0]["subject"])
    senders = [p for p in seeded.records("activityparty") if p["activityid"] == email["activityid"] and p["participationtypemask"] == 1]
    assert [p["addressused"] for p in senders] == [messages[0]["from"][0]["email"]]


def test_report_counts_how_addresses_were_resolved(seeded, sample_config):
    report = run_sync(seeded, sample_config).to_dict()
    # Dana is a system user; six contacts; three unknown addresses. Only addresses that are
    # parties of an email count (Siobhán's second address is on no email).
    assert report["addresses"] == {"contact": 6, "systemuser": 1, "unresolved": 3}


def test_an_impossibly_long_address_drops_that_party_not_the_email(seeded, sample_config, tmp_path):
    import json

    with open(SAMPLE_INPUTS.messages, encoding="utf-8") as fh:
        messages = json.load(fh)
    messages[0].setdefault("cc", []).append({"email": "x" * 400 + "@company.example"})
    export = tmp_path / "m.json"
    export.write_text(json.dumps(messages), encoding="utf-8")
    report = run_sync(seeded, sample_config, Inputs(messages=str(export)))
    assert report.failed == 0, report.failures
    assert len(seeded.records("email")) == 8
    assert not [p for p in seeded.records("activityparty") if len(p["addressused"] or "") > 320]
    assert any("party dropped, address longer than 320" in w for w in report.warnings)


def test_warnings_a_source_raises_while_it_is_read_reach_the_report(seeded, sample_config, monkeypatch):
    import json

    import mail2dataverse.sources as sources

    records = json.loads(open(SAMPLE_INPUTS.messages, encoding="utf-8").read())

    class LateWarnings:
        """Like the nylas source with --with-headers: a failed fetch is known only while reading."""

        name, count, warnings = "nylas:g/messages", len(records), []

        def validate(self):
            return self.count

        def __iter__(self):
            from mail2dataverse.model import RecordRef

            for i, r in enumerate(records):
                if i == 2:
                    self.warnings.append(f"message {r['id']}: headers not fetched (exit 1)")
                yield RecordRef(self.name, i, r["id"]), r

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return None

    real = sources.open_source
    monkeypatch.setattr(sources, "open_source", lambda spec, kind, **kw: LateWarnings() if kind == "messages" else real(spec, kind, **kw))
    report = run_sync(seeded, sample_config)
    assert any("headers not fetched" in w for w in report.warnings)


def test_phase_two_reads_and_defers_while_phase_one_waits_and_the_org_ends_the_same(sample_config, monkeypatch):
    from mail2dataverse.demo import seed_org
    from mail2dataverse.planner.emails import EmailPhase

    real_step = EmailPhase.step
    advanced = {"n": 0}

    def counting_step(self):
        moved = real_step(self)
        advanced["n"] += moved is True
        return moved

    monkeypatch.setattr(EmailPhase, "step", counting_step)
    with Emulator(latency_ms=20) as emu:
        seed_org(emu)
        overlapped = run_sync(emu, sample_config)
        with_overlap = snapshot(emu)
    assert advanced["n"] > 0  # the first pass moved while phase 1's requests were in flight
    monkeypatch.setattr(EmailPhase, "step", lambda self: False)  # never during phase 1
    with Emulator(latency_ms=20) as emu:
        seed_org(emu)
        serial = run_sync(emu, sample_config)
        assert snapshot(emu) == with_overlap
    assert overlapped.failed == serial.failed == 0
    assert overlapped.entities == serial.entities and overlapped.threads == serial.threads
