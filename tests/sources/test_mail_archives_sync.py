"""mbox and EML archives through a real sync into the emulator: everything downstream of the
source is unchanged (decoded non-ASCII headers, HTML of multipart bodies, real Message-IDs,
parties), a re-run writes nothing, and a later run writes only the newer messages."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from mail2dataverse.auth import StaticToken
from mail2dataverse.config import load_config
from mail2dataverse.demo import sample_path, seed_org
from mail2dataverse.emulator import Emulator
from mail2dataverse.sync import Inputs, sync

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture
def org():
    with Emulator() as emu:
        seed_org(emu)
        yield emu


def run(emu, state: Path, **inputs):
    config = load_config(str(sample_path("config.yaml")))
    return sync(Inputs(**inputs), config, url=emu.base_url, auth=StaticToken("t"), state_path=str(state),
                client_options={"backoff_base": 0.001, "backoff_cap": 0.01})


def parties_of(emu, email: dict) -> dict[int, list[str]]:
    found: dict[int, list[str]] = {}
    for party in emu.records("activityparty"):
        if party["activityid"] == email["activityid"]:
            found.setdefault(party["participationtypemask"], []).append(party["addressused"])
    return found


def test_takeout_mbox_lands_like_a_nylas_export_and_a_rerun_writes_nothing(org, tmp_path):
    report = run(org, tmp_path / "s.sqlite3", messages=str(FIXTURES / "takeout.mbox"))
    assert report.failed == 0, report.failures
    assert report.entities["email"].created == 3
    emails = {e["messageid"]: e for e in org.records("email")}
    quote = emails["<CAH7x2Lw9f3Q@mail.northwind-traders.example>"]  # the real Message-ID
    assert quote["subject"] == "Re: Q3 renewal – pricing for 40 seats"  # RFC 2047 decoded
    assert quote["description"].startswith('<div dir="ltr">Hi Dana,')  # the HTML alternative
    assert (quote["statecode"], quote["statuscode"]) == (1, 4)
    assert parties_of(org, quote)[1] == ["zoe.angstrom@northwind-traders.example"]
    assert sorted(parties_of(org, quote)[3]) == ["o'brien@harbor-logistics.example",
                                                 "procurement@northwind-traders.example"]
    bare = next(e for e in emails.values() if e["subject"] == "no date, no message id")
    assert parties_of(org, bare)[1] == ["buero@example.de"]  # Latin-1 "Büro" sender
    org.reset_stats()
    again = run(org, tmp_path / "s.sqlite3", messages=str(FIXTURES / "takeout.mbox"))
    assert again.entities["email"].created == 0 and again.entities["email"].unchanged == 3
    assert len(org.records("email")) == 3


def test_eml_folder_syncs_with_its_sent_subfolder(org, tmp_path):
    report = run(org, tmp_path / "s.sqlite3", messages=str(FIXTURES / "eml"))
    assert report.failed == 0 and report.entities["email"].created == 2
    subjects = {e["messageid"]: e["subject"] for e in org.records("email")}
    assert subjects == {"<news-42@lists.example.org>": "Café update", "<reply-1@acme-widgets.example>": "Re: Café update"}


def test_a_later_mbox_run_writes_only_the_newer_messages(org, tmp_path):
    box = tmp_path / "Inbox.mbox"
    shutil.copy(FIXTURES / "takeout.mbox", box)
    assert run(org, tmp_path / "s.sqlite3", messages=str(box)).entities["email"].created == 3
    with open(box, "ab") as f:  # the next Takeout export: the same mail plus one newer message
        f.write(b"From x@y Mon Mar 10 09:00:00 2025\nMessage-ID: <newer@northwind-traders.example>\n"
                b"Date: Mon, 10 Mar 2025 09:00:00 +0000\nFrom: =?UTF-8?Q?Zo=C3=AB?= <zoe.angstrom@northwind-traders.example>\n"
                b"To: dana@acme-widgets.example\nSubject: =?UTF-8?Q?Gr=C3=BC=C3=9Fe?=\n\nHallo\n\n")
    report = run(org, tmp_path / "s.sqlite3", messages=str(box))
    assert report.entities["email"].created == 1 and report.entities["email"].unchanged == 3
    assert report.incremental_skipped >= 1  # older messages were not even looked up
    assert "Grüße" in {e["subject"] for e in org.records("email")}


def test_the_same_message_from_a_nylas_export_and_from_takeout_is_one_email(org, tmp_path):
    # The export's message with headers and the Takeout copy share their Message-ID.
    run(org, tmp_path / "nylas.sqlite3", messages=str(sample_path("messages.json")))
    before = len(org.records("email"))
    report = run(org, tmp_path / "takeout.sqlite3", messages=str(FIXTURES / "takeout.mbox"))
    assert report.entities["email"].unchanged >= 1
    ids = [e["messageid"] for e in org.records("email")]
    assert ids.count("<CAH7x2Lw9f3Q@mail.northwind-traders.example>") == 1
    assert len(ids) == before + report.entities["email"].created
