"""The sync against an org that already holds data, as a CRM admin's org does.

Each test seeds the emulator with what real orgs contain (addresses in emailaddress2, the same
address on two contacts, a system user who is also in the address book, websites typed in
another form, rows deleted after an earlier sync) and checks nothing is duplicated, the right
row is linked, and every input record is accounted for.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from mail2dataverse.config import RunConfig
from mail2dataverse.emulator import Emulator
from mail2dataverse.errors import ConfigError
from mail2dataverse.sync import Inputs

from .conftest import SAMPLE_INPUTS, run_sync, snapshot

OWNER = "me@own.example"
CONFIG = RunConfig(owner_addresses=(OWNER,))


def contact(cid: str, address: str, first: str = "F", last: str = "L", *others: str) -> dict:
    return {"id": cid, "grant_id": "g1", "object": "contact", "given_name": first, "surname": last,
            "emails": [{"email": a} for a in (address, *others)]}


def message(mid: str, sender: str, to: list[str], date: str = "2025-03-07T06:00:00Z") -> dict:
    return {"id": mid, "grant_id": "g1", "object": "message", "subject": f"subject {mid}", "body": "b",
            "from": [{"email": sender}], "to": [{"email": t} for t in to], "date": date, "folders": ["INBOX"]}


def inputs(tmp_path: Path, contacts: list[dict], messages: list[dict], tag: str = "") -> Inputs:
    c, m = tmp_path / f"contacts{tag}.json", tmp_path / f"messages{tag}.json"
    c.write_text(json.dumps(contacts), "utf-8")
    m.write_text(json.dumps(messages), "utf-8")
    return Inputs(messages=str(m), contacts=str(c))


def accounted(report) -> None:
    """Every input record ends in exactly one outcome."""
    e = report.entities
    assert e["contact"].total() == report.inputs["contacts"]
    assert e["email"].total() == report.inputs["messages"]


def parties(emu: Emulator) -> dict[str, tuple[str | None, str | None]]:
    return {p["addressused"]: (p["partyid"], p.get("partyobjecttypecode")) for p in emu.records("activityparty")}


def test_a_contact_holding_the_address_in_emailaddress2_is_found_not_duplicated(tmp_path):
    with Emulator() as emu:
        ann = emu.seed("contact", {"firstname": "Ann", "lastname": "X", "emailaddress1": "ann.home@gmail.com",
                                   "emailaddress2": "ann@alpha.example"})
        report = run_sync(emu, CONFIG, inputs(tmp_path, [contact("c1", "ann@alpha.example", "Ann", "X")],
                                              [message("m1", "ann@alpha.example", [OWNER])]))
        assert report.failed == 0, report.failures
        accounted(report)
        rows = emu.records("contact")
        assert [r["contactid"] for r in rows] == [ann]
        # The address the CRM user typed in emailaddress1 is kept; the work address is not copied.
        assert (rows[0]["emailaddress1"], rows[0]["emailaddress2"]) == ("ann.home@gmail.com", "ann@alpha.example")
        assert parties(emu)["ann@alpha.example"][0] == ann


def test_a_party_address_in_emailaddress3_of_a_contact_binds_to_it(tmp_path):
    with Emulator() as emu:
        bob = emu.seed("contact", {"firstname": "Bob", "lastname": "Y", "emailaddress3": "bob@beta.example"})
        report = run_sync(emu, CONFIG, inputs(tmp_path, [], [message("m1", "bob@beta.example", [OWNER])]))
        assert report.failed == 0, report.failures
        assert parties(emu)["bob@beta.example"][0] == bob


def test_a_system_user_wins_over_a_contact_of_the_run_with_the_same_address(tmp_path):
    # The default precedence is systemuser, contact, account, lead: an address book that holds a
    # colleague must not turn their mail into mail from a contact.
    with Emulator() as emu:
        bob = emu.seed("systemuser", {"firstname": "Bob", "lastname": "O", "internalemailaddress": "bob@partner.example"})
        report = run_sync(emu, CONFIG, inputs(tmp_path, [contact("c1", "bob@partner.example", "Bob", "O")],
                                              [message("m1", "bob@partner.example", [OWNER])]))
        assert report.failed == 0, report.failures
        assert parties(emu)["bob@partner.example"] == (bob, "systemuser")
        assert report.addresses == {"systemuser": 1, "unresolved": 1}


def test_with_contacts_ranked_first_the_runs_contact_wins(tmp_path):
    with Emulator() as emu:
        emu.seed("systemuser", {"firstname": "Bob", "lastname": "O", "internalemailaddress": "bob@partner.example"})
        config = replace(CONFIG, party_precedence=("contact", "systemuser", "account", "lead"))
        report = run_sync(emu, config, inputs(tmp_path, [contact("c1", "bob@partner.example", "Bob", "O")],
                                              [message("m1", "bob@partner.example", [OWNER])]))
        assert report.failed == 0, report.failures
        (bob_contact,) = emu.records("contact")
        assert parties(emu)["bob@partner.example"] == (bob_contact["contactid"], "contact")


def test_two_contacts_with_the_same_address_the_oldest_is_used(tmp_path):
    with Emulator() as emu:
        newer = emu.seed("contact", {"firstname": "Dup", "lastname": "New", "emailaddress1": "dup@beta.example",
                                     "overriddencreatedon": "2024-05-01T00:00:00Z"})
        older = emu.seed("contact", {"firstname": "Dup", "lastname": "Old", "emailaddress1": "dup@beta.example",
                                     "overriddencreatedon": "2019-05-01T00:00:00Z"})
        report = run_sync(emu, CONFIG, inputs(tmp_path, [contact("c1", "dup@beta.example", "Dup", "Old")],
                                              [message("m1", "dup@beta.example", [OWNER])]))
        assert report.failed == 0, report.failures
        assert len(emu.records("contact")) == 2  # nothing created
        assert parties(emu)["dup@beta.example"][0] == older
        assert next(r for r in emu.records("contact") if r["contactid"] == newer)["parentcustomerid"] is None


@pytest.mark.parametrize("website", ["http://www.gamma.example/", "gamma.example/", "HTTPS://Gamma.Example", "www.gamma.example/"])
def test_an_existing_account_whose_website_is_typed_another_way_is_linked(tmp_path, website):
    with Emulator() as emu:
        gamma = emu.seed("account", {"name": "Gamma", "websiteurl": website})
        report = run_sync(emu, CONFIG, inputs(tmp_path, [contact("c1", "g@gamma.example", "G", "G")], []))
        assert report.failed == 0, report.failures
        assert [a["accountid"] for a in emu.records("account")] == [gamma]
        assert emu.records("contact")[0]["parentcustomerid"] == gamma


def test_records_deleted_from_the_org_after_a_sync_are_written_again(tmp_path):
    # The state file says the contact and its account exist; a CRM user deleted both. Trusting
    # the state would leave them missing for good and fail every email from that contact.
    state = tmp_path / "s.sqlite3"
    people = [contact("c1", "z@zed.example", "Z", "Z"), contact("c2", "a@zed.example", "A", "A")]
    with Emulator() as emu:
        first = run_sync(emu, CONFIG, inputs(tmp_path, people, [message("m1", "z@zed.example", [OWNER])], "1"), state=state)
        assert first.failed == 0, first.failures
        z = next(r for r in emu.records("contact") if r["emailaddress1"] == "z@zed.example")
        emu.store.delete(emu.store.tables["contact"], z["contactid"])
        emu.store.delete(emu.store.tables["account"], z["parentcustomerid"])
        later = run_sync(emu, CONFIG, inputs(tmp_path, people, [message("m2", "z@zed.example", [OWNER], "2025-04-01T00:00:00Z")], "2"),
                         state=state)
        assert later.failed == 0, later.failures
        accounted(later)
        z2 = next(r for r in emu.records("contact") if r["emailaddress1"] == "z@zed.example")
        assert len(emu.records("account")) == 1 and z2["parentcustomerid"] == emu.records("account")[0]["accountid"]
        email = next(r for r in emu.records("email") if r["subject"] == "subject m2")
        assert [p["partyid"] for p in emu.records("activityparty")
                if p["activityid"] == email["activityid"] and p["participationtypemask"] == 1] == [z2["contactid"]]


def test_a_contact_linked_to_another_account_is_relinked_to_its_domains_account(tmp_path):
    with Emulator() as emu:
        old = emu.seed("account", {"name": "Old Employer", "websiteurl": "https://old.example"})
        new = emu.seed("account", {"name": "New Employer", "websiteurl": "https://new.example"})
        emu.seed("contact", {"firstname": "M", "lastname": "V", "emailaddress1": "m@new.example",
                             "parentcustomerid_account@odata.bind": f"/accounts({old})"})
        report = run_sync(emu, CONFIG, inputs(tmp_path, [contact("c1", "m@new.example", "M", "V")], []))
        assert report.failed == 0 and report.entities["contact"].updated == 1
        assert emu.records("contact")[0]["parentcustomerid"] == new


@pytest.mark.parametrize("size", [2, 7])
def test_small_batches_never_split_a_change_set(seeded, sample_config, size):
    with Emulator() as clean:
        from mail2dataverse.demo import seed_org

        seed_org(clean)
        run_sync(clean, sample_config)
        reference = snapshot(clean)
    report = run_sync(seeded, replace(sample_config, batch_size=size))
    assert report.failed == 0, report.failures
    assert snapshot(seeded) == reference


def test_a_batch_size_too_small_for_a_change_set_is_a_configuration_error_before_any_write(seeded, sample_config):
    with pytest.raises(ConfigError, match="batch_size 1"):
        run_sync(seeded, replace(sample_config, batch_size=1))
    assert seeded.records("contact") == [] and seeded.stats.get("writes", 0) == 0


def test_cli_batch_size_1_exits_2_without_a_traceback(seeded, tmp_path, capsys):
    from mail2dataverse.cli import main

    config = tmp_path / "c.yaml"
    config.write_text("batch_size: 1\n", "utf-8")
    code = main(["sync", "--url", seeded.base_url, "--auth", "none", "--messages", SAMPLE_INPUTS.messages,
                 "--contacts", SAMPLE_INPUTS.contacts, "--config", str(config), "--state", str(tmp_path / "s")])
    assert code == 2
    err = capsys.readouterr().err
    assert "batch_size 1" in err and "Traceback" not in err
