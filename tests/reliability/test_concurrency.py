"""Concurrency: four syncs of overlapping mailboxes (shared contacts, accounts and emails)
write into one org at the same time, and nothing is duplicated.

Every sync looks up before creating, but between one sync's lookup and its create another may
create the same record. Creates carry deterministic ids, so the service answers the loser
with DuplicateRecord, on a CreateMultiple (which the planner then resends one by one) or on an
email change set; the planner must read that as "already there".
"""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from mail2dataverse.auth import StaticToken
from mail2dataverse.emulator import Emulator
from mail2dataverse.sync import Inputs
from mail2dataverse.testing import generate

from .conftest import accounted, config, duplicates, run, snapshot

N_MAILBOXES = 4


def mailboxes(tmp: Path, n_contacts: int, n_messages: int, window: float = 0.5) -> list[Inputs]:
    """Four exports that overlap: mailbox k holds a sliding window of a shared pool of contacts and
    messages. A shared message carries the same Message-ID header everywhere (the identity), but,
    as in real exports, its own Nylas id and grant in each mailbox."""
    contacts, messages = generate(n_contacts, n_messages, seed=11)
    messages = list(messages)
    out = []
    for k in range(N_MAILBOXES):
        def window_of(items, k=k):
            size = int(len(items) * window)
            start = (len(items) - size) * k // (N_MAILBOXES - 1)
            return items[start : start + size]

        mine = []
        for m in window_of(messages):
            m = {**m, "id": f"{m['id']}-box{k}", "grant_id": f"grant-{k}",
                 "headers": [{"name": "Message-ID", "value": f"<{m['id']}@pool.example>"}]}
            mine.append(m)
        d = tmp / f"box{k}"
        d.mkdir(parents=True)
        (d / "contacts.json").write_text(json.dumps(window_of(contacts), ensure_ascii=False), encoding="utf-8")
        (d / "messages.json").write_text(json.dumps(mine, ensure_ascii=False), encoding="utf-8")
        out.append(Inputs(messages=str(d / "messages.json"), contacts=str(d / "contacts.json")))
    return out


def run_together(emu: Emulator, boxes: list[Inputs], tmp: Path, **cfg) -> list:
    """Start one sync per mailbox at the same instant (a barrier), each with its own state file."""
    barrier = threading.Barrier(len(boxes))
    reports: list = [None] * len(boxes)
    errors: list = []

    def one(k: int) -> None:
        try:
            barrier.wait()
            reports[k] = run(emu, boxes[k], config(**cfg), state=tmp / f"state{k}.sqlite3")
        except BaseException as exc:  # surfaced below; a thread must not swallow it
            errors.append(exc)

    threads = [threading.Thread(target=one, args=(k,)) for k in range(len(boxes))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert not errors, errors
    return reports


def unique(boxes: list[Inputs]) -> tuple[set[str], set[str]]:
    """The distinct contact addresses and Message-IDs across the mailboxes."""
    addresses, ids = set(), set()
    for b in boxes:
        addresses |= {c["emails"][0]["email"].lower() for c in json.loads(Path(b.contacts).read_text("utf-8"))}
        for m in json.loads(Path(b.messages).read_text("utf-8")):
            ids.add(m["headers"][0]["value"])
    return addresses, ids


def shape(snap: dict) -> dict:
    """A snapshot without the party bindings: whether an address binds to a contact another
    mailbox is still creating depends on timing, the parties themselves must not."""
    emails = [e[:-1] + (tuple(sorted((m, a) for m, a, _ in e[-1])),) for e in snap["emails"]]
    return {**snap, "emails": sorted(emails)}


@pytest.mark.parametrize("alternate_keys", [(), (("contact", "emailaddress1"),)], ids=["create-by-id", "upsert-by-key"])
def test_four_overlapping_syncs_at_once_duplicate_nothing(tmp_path, alternate_keys):
    boxes = mailboxes(tmp_path / "in", 80, 240)
    addresses, message_ids = unique(boxes)
    cfg = dict(batch_size=10, lookup_chunk=15, max_parallel=3)
    with Emulator(alternate_keys=alternate_keys) as emu:
        reports = run_together(emu, boxes, tmp_path, **cfg)
        together = snapshot(emu)
        assert duplicates(emu) == {}
        assert {r["emailaddress1"] for r in emu.records("contact")} == addresses
        assert {r["messageid"] for r in emu.records("email")} == message_ids
        ids = {r["contactid"] for r in emu.records("contact")} | {r["accountid"] for r in emu.records("account")}
        ids |= {r["systemuserid"] for r in emu.records("systemuser")}
        assert all(p["partyid"] is None or p["partyid"] in ids for p in emu.records("activityparty"))
    for r in reports:
        assert r.failed == 0, r.failures[:5]
        accounted(r)
    # Someone lost a race (the windows overlap by half): its create was refused and counted unchanged.
    lost = sum(r.http["errors_by_code"].get("0x80040237", 0) + r.http["errors_by_code"].get("0x80060892", 0)
               for r in reports)
    created = sum(r.entities["email"].created for r in reports)
    assert created == len(message_ids)  # each email created by exactly one of the four

    # The same four mailboxes one after another give the same records.
    with Emulator(alternate_keys=alternate_keys) as emu:
        for k, box in enumerate(boxes):
            run(emu, box, config(**cfg), state=tmp_path / f"seq{k}.sqlite3")
        assert shape(snapshot(emu)) == shape(together)
    assert lost > 0  # the races really happened (hundreds per run here)


def test_four_syncs_under_faults_duplicate_nothing(tmp_path):
    boxes = mailboxes(tmp_path / "in", 60, 160)
    addresses, message_ids = unique(boxes)
    with Emulator(faults="429=0.1,503=0.02,drop=0.02,drop_after=0.02,retry_after=0,seed=4") as emu:
        reports = run_together(emu, boxes, tmp_path, batch_size=10, lookup_chunk=15, max_parallel=3)
        assert duplicates(emu) == {}
        assert {r["emailaddress1"] for r in emu.records("contact")} == addresses
        assert {r["messageid"] for r in emu.records("email")} == message_ids
        assert emu.stats["faults"] > 0
    for r in reports:
        assert r.failed == 0, r.failures[:5]
        accounted(r)


def _contacts_file(path: Path, contacts: list[dict]) -> str:
    path.write_text(json.dumps(contacts, ensure_ascii=False), encoding="utf-8")
    return str(path)


def test_losing_a_create_race_does_not_hide_the_losers_columns(tmp_path):
    # Mailbox B knows a phone number mailbox A does not. B looks the contact up (absent), then A
    # creates it, then B's create is refused as a duplicate. Whatever B knew must still reach
    # the org, at the latest on B's next run — as it does when the two run one after the other.
    person = {"id": "c1", "grant_id": "g", "object": "contact", "given_name": "Ana", "surname": "Silva",
              "emails": [{"email": "ana.silva@company1.example", "type": "work"}], "company_name": "Company1"}
    a = Inputs(contacts=_contacts_file(tmp_path / "a.json", [person]))
    b = Inputs(contacts=_contacts_file(tmp_path / "b.json", [{**person, "phone_numbers": [{"number": "+1 555 0100"}]}]))

    with Emulator() as emu:
        real = emu._process
        fired = threading.Event()

        def a_wins_the_race(req):
            # B's first contact create arrives: let A run to completion first.
            if not fired.is_set() and req.headers.get("authorization") == "Bearer box-b" and b"contacts/Microsoft.Dynamics.CRM.CreateMultiple" in req.body:
                fired.set()
                run(emu, a, config(), auth=StaticToken("box-a"))
            return real(req)

        emu._process = a_wins_the_race
        first = run(emu, b, config(), state=tmp_path / "b.sqlite3", auth=StaticToken("box-b"))
        emu._process = real
        assert fired.is_set() and first.failed == 0
        # The duplicate was read as "someone made it": B compared with the row and sent its phone.
        assert first.entities["contact"].updated == 1 and first.entities["contact"].created == 0
        rows = emu.records("contact")
        assert len(rows) == 1 and rows[0]["telephone1"] == "+1 555 0100"
        emu.reset_stats()
        again = run(emu, b, config(), state=tmp_path / "b.sqlite3", auth=StaticToken("box-b"))
        assert again.failed == 0 and emu.stats["writes"] == 0  # and the state file now agrees with the org
