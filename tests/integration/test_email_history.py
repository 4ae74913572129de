"""Issue 16 against the emulator: original dates, conversation threads, attachments."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

from mail2dataverse.config import RunConfig
from mail2dataverse.emulator import Emulator
from mail2dataverse.emulator.rules_attachments import AttachmentRules
from mail2dataverse.sync import Inputs

from .conftest import run_sync

OWNER = "dana@acme.example"


def message(i: int, *, date: str = "2024-05-06T07:08:09Z", headers: list | None = None, **extra) -> dict:
    """A Nylas CLI message from a customer to the owner."""
    record = {"id": f"m{i}", "grant_id": "g1", "subject": f"Subject {i}",
              "from": [{"email": f"c{i}@customer.example"}], "to": [{"email": OWNER}],
              "body": f"<p>{i}</p>", "snippet": str(i), "date": date, "folders": ["INBOX"]}
    if headers is not None:
        record["headers"] = headers
    record.update(extra)
    return record


def write_messages(tmp_path: Path, records: list[dict]) -> Inputs:
    path = tmp_path / "messages.json"
    path.write_text(json.dumps(records), encoding="utf-8")
    return Inputs(messages=str(path))


def config(**kw) -> RunConfig:
    return replace(RunConfig(owner_addresses=(OWNER,)), **kw)


def test_created_emails_carry_the_original_date(tmp_path):
    with Emulator() as emu:
        report = run_sync(emu, config(), write_messages(tmp_path, [message(1, date="2019-02-03T04:05:06-05:00")]))
        assert report.failed == 0, report.failures
        (row,) = emu.records("email")
    assert row["createdon"] == "2019-02-03T09:05:06Z"  # the service's swap: createdon = the given date
    assert row["overriddencreatedon"] > "2020"  # ... and overriddencreatedon = the insert time
    assert row["actualstart"] == row["actualend"] == row["sortdate"] == "2019-02-03T09:05:06Z"
    assert report.warnings == []


def test_without_the_privilege_the_run_warns_and_leaves_the_column_out(tmp_path):
    with Emulator(attachment_rules=AttachmentRules(privileges=set())) as emu:
        report = run_sync(emu, config(), write_messages(tmp_path, [message(1, date="2019-02-03T04:05:06Z")]))
        (row,) = emu.records("email")
    assert report.failed == 0
    assert any("prvOverrideCreatedOnCreatedBy" in w for w in report.warnings)
    assert row["createdon"] > "2020" and row["sortdate"] == "2019-02-03T04:05:06Z"


def test_original_dates_off_sends_no_overriddencreatedon(tmp_path):
    with Emulator() as emu:
        run_sync(emu, config(original_dates=False), write_messages(tmp_path, [message(1, date="2019-02-03T04:05:06Z")]))
        (row,) = emu.records("email")
    assert row["createdon"] > "2020" and row["overriddencreatedon"] is None


def test_a_future_date_is_not_sent_as_overriddencreatedon(tmp_path):
    with Emulator() as emu:
        report = run_sync(emu, config(), write_messages(tmp_path, [message(1, date="2999-01-01T00:00:00Z")]))
        (row,) = emu.records("email")
    assert report.failed == 0, report.failures
    assert row["createdon"] < "2999" and row["sortdate"] == "2999-01-01T00:00:00Z"


OPPORTUNITY = "a0b1c2d3-e4f5-4a6b-8c7d-9e0f1a2b3c4d"


def _thread_export(reply_first: bool) -> list[dict]:
    original = message(1, date="2024-01-01T10:00:00Z", headers=[{"name": "Message-ID", "value": "<root@customer.example>"}])
    reply = message(2, date="2024-01-02T10:00:00Z", headers=[
        {"name": "Message-ID", "value": "<reply@acme.example>"},
        {"name": "In-Reply-To", "value": "<root@customer.example>"},
        {"name": "References", "value": "<root@customer.example>"}])
    return [reply, original] if reply_first else [original, reply]


def _linked(emu: Emulator) -> tuple[dict, dict]:
    rows = {r["messageid"]: r for r in emu.records("email")}
    return rows["<root@customer.example>"], rows["<reply@acme.example>"]


def test_a_reply_links_to_its_parent_and_inherits_its_regarding_in_either_order(tmp_path):
    for reply_first in (False, True):
        with Emulator() as emu:
            emu.seed("opportunity", {"opportunityid": OPPORTUNITY, "name": "Renewal"})
            cfg = replace(config(), opportunity_domains={"customer.example": OPPORTUNITY}, profile="sales")
            records = _thread_export(reply_first)
            # Only the original is about the opportunity (its sender's domain); the reply comes
            # from the owner to nobody external, so no rule links it.
            records[-1 if reply_first else 0]["from"] = [{"email": "c1@customer.example"}]
            reply = records[0 if reply_first else 1]
            reply["from"], reply["to"] = [{"email": OWNER}], [{"email": "colleague@acme.example"}]
            report = run_sync(emu, cfg, write_messages(tmp_path, records))
            assert report.failed == 0, report.failures
            root, child = _linked(emu)
        assert root["regardingobjectid"] == OPPORTUNITY
        assert child["parentactivityid"] == root["activityid"] == child["correlatedactivityid"]
        assert child["regardingobjectid"] == OPPORTUNITY, "the reply inherits its parent's regarding"
        assert report.threads["linked"] == 1 and report.threads["inherited_regarding"] == 1


def test_a_reply_links_to_a_parent_already_in_the_org(tmp_path):
    with Emulator() as emu:
        records = _thread_export(reply_first=False)
        run_sync(emu, config(), write_messages(tmp_path, records[:1]))
        report = run_sync(emu, config(), write_messages(tmp_path, records[1:]))
        root, child = _linked(emu)
    assert report.failed == 0, report.failures
    assert child["parentactivityid"] == root["activityid"]


def test_nylas_thread_ids_link_without_headers(tmp_path):
    records = [message(2, date="2024-01-02T10:00:00Z", thread_id="t1"),
               message(1, date="2024-01-01T10:00:00Z", thread_id="t1")]  # newest first, as the CLI prints
    with Emulator() as emu:
        report = run_sync(emu, config(), write_messages(tmp_path, records))
        rows = {r["subject"]: r for r in emu.records("email")}
    assert report.failed == 0, report.failures
    assert rows["Subject 2"]["parentactivityid"] == rows["Subject 1"]["activityid"]
    assert rows["Subject 1"]["parentactivityid"] is None
    assert rows["Subject 1"]["conversationtrackingid"] == rows["Subject 2"]["conversationtrackingid"]


def test_a_thread_written_in_one_stream_links_every_reply_once(tmp_path):
    # Newest first, as the CLI prints: every reply comes before what it answers and is written
    # in the deferred rounds, planned against its parent's id before the parent has landed.
    records = [message(i, date=f"2024-01-{i:02d}T10:00:00Z", thread_id=f"t{i % 3}") for i in range(9, 0, -1)]
    with Emulator() as emu:
        report = run_sync(emu, config(), write_messages(tmp_path, records))
        rows = {r["subject"]: r for r in emu.records("email")}
    assert report.failed == 0, report.failures
    heads = {f"t{i % 3}": rows[f"Subject {i}"]["activityid"] for i in (1, 2, 3)}  # the oldest of each thread
    for i in range(1, 10):
        row = rows[f"Subject {i}"]
        expected = None if i <= 3 else heads[f"t{i % 3}"]
        assert row["parentactivityid"] == expected, i
    assert report.threads["linked"] == 6


def test_a_reply_whose_parent_fails_lands_unlinked_and_only_the_parent_is_failed(tmp_path):
    # A user mapping copies the subject into `category` (250 characters at most): the parent's
    # long subject makes its create fail, which the reply planned against it would share.
    mappings = tmp_path / "mappings"
    mappings.mkdir()
    (mappings / "email.yaml").write_text("entity: email\nextends: default\ncolumns:\n  category:\n    from: subject\n", encoding="utf-8")
    parent = message(1, date="2024-01-01T10:00:00Z", thread_id="t1")
    parent["subject"] = "x" * 300
    reply = message(2, date="2024-01-02T10:00:00Z", thread_id="t1")
    with Emulator() as emu:
        report = run_sync(emu, config(), write_messages(tmp_path, [reply, parent]), mappings_dirs=[mappings])
        rows = {r["subject"]: r for r in emu.records("email")}
    (failure,) = report.failures
    assert failure["record"].endswith("(id m1)"), failure
    assert report.failed == 1 and report.entities["email"].created == 1
    assert list(rows) == ["Subject 2"] and rows["Subject 2"]["parentactivityid"] is None


def test_threads_off_links_nothing(tmp_path):
    with Emulator() as emu:
        run_sync(emu, config(threads=False), write_messages(tmp_path, _thread_export(reply_first=True)))
        _root, child = _linked(emu)
    assert child["parentactivityid"] is None


# -- attachments ---------------------------------------------------------------------------

def eml(i: int, attachments: list[tuple[str, str, bytes]], *, day: int = 1) -> bytes:
    """An RFC 5322 message with ``attachments`` as (filename, MIME type, content)."""
    from email.message import EmailMessage

    msg = EmailMessage()
    msg["From"], msg["To"] = f"c{i}@customer.example", OWNER
    msg["Subject"], msg["Message-ID"] = f"Files {i}", f"<files{i}@customer.example>"
    msg["Date"] = f"Mon, {day:02d} Jan 2024 10:00:00 +0000"
    msg.set_content(f"see attached {i}")
    for name, mime, data in attachments:
        main, sub = mime.split("/")
        msg.add_attachment(data, maintype=main, subtype=sub, filename=name)
    return msg.as_bytes()


def eml_folder(tmp_path: Path, messages: list[bytes]) -> Inputs:
    folder = tmp_path / "mail"
    folder.mkdir(parents=True, exist_ok=True)
    for i, raw in enumerate(messages):
        (folder / f"{i:03d}.eml").write_bytes(raw)
    return Inputs(messages=str(folder))


def attachment_rows(emu: Emulator) -> dict[str, dict]:
    return {r["filename"]: r for r in emu.records("activitymimeattachment")}


PDF = bytes(range(256)) * 40 + b"%%EOF"


def test_attachments_land_with_their_bytes_and_a_rerun_writes_nothing(tmp_path):
    import base64

    inputs = eml_folder(tmp_path, [eml(1, [("offer.pdf", "application/pdf", PDF), ("logo.png", "image/png", b"\x89PNG..")])])
    state = tmp_path / "s.sqlite3"
    with Emulator() as emu:
        report = run_sync(emu, config(), inputs, state=state)
        assert report.failed == 0, report.failures
        rows = attachment_rows(emu)
        (email,) = emu.records("email")
        writes = emu.stats["writes"]
        again = run_sync(emu, config(), inputs, state=state)
        assert emu.stats["writes"] == writes, "a re-run writes nothing"
    assert base64.b64decode(rows["offer.pdf"]["body"]) == PDF
    assert base64.b64decode(rows["logo.png"]["body"]) == b"\x89PNG.."
    assert rows["offer.pdf"]["objectid"] == email["activityid"] and rows["offer.pdf"]["objecttypecode"] == "email"
    assert rows["offer.pdf"]["mimetype"] == "application/pdf" and rows["offer.pdf"]["filesize"] == len(PDF)
    assert email["statecode"] == 1 and email["notifications"] is None
    assert report.attachments["written"] == 2 and report.attachments["skipped"] == 0
    assert again.attachments["written"] == 0 and again.entities["email"].unchanged == 1


def test_blocked_and_oversized_attachments_are_skipped_reported_and_marked(tmp_path):
    inputs = eml_folder(tmp_path, [eml(1, [("setup.exe", "application/octet-stream", b"MZ"),
                                           ("big.pdf", "application/pdf", b"x" * 3000),
                                           ("ok.txt", "text/plain", b"fine")])])
    with Emulator(organization={"maxuploadfilesize": 2000}) as emu:
        report = run_sync(emu, config(), inputs)
        rows = attachment_rows(emu)
        (email,) = emu.records("email")
    assert report.failed == 0, report.failures
    assert set(rows) == {"ok.txt"}
    reasons = {s["record"].rsplit("(", 1)[1].rstrip(")"): s["reason"] for s in report.to_dict()["skips"]
               if s["entity"] == "attachment"}
    assert reasons["'setup.exe'"].startswith("blocked extension: .exe")
    assert reasons["'big.pdf'"].startswith("too large: 4000 bytes as Base64, the limit is 2000")
    assert report.attachments["skip_reasons"] == {"blocked extension": 1, "too large": 1}
    assert email["notifications"] == 1  # as server-side sync marks an email that lost an attachment


def test_the_smaller_of_max_size_and_the_orgs_limit_applies(tmp_path):
    from mail2dataverse.config import AttachmentPolicy

    inputs = eml_folder(tmp_path, [eml(1, [("big.pdf", "application/pdf", b"x" * 3000)])])
    with Emulator(organization={"maxuploadfilesize": 2000}) as emu:
        report = run_sync(emu, config(attachments=AttachmentPolicy(max_size=10_000)), inputs)
        assert emu.records("activitymimeattachment") == []
    assert report.failed == 0 and report.attachments["skip_reasons"] == {"too large": 1}


def test_identical_content_is_stored_once_when_reuse_is_on(tmp_path):
    messages = [eml(i, [(f"logo{i}.png", "image/png", b"same bytes" * 100)], day=i) for i in (1, 2, 3)]
    for reuse, stored in ((True, 1), (False, 3)):
        from mail2dataverse.config import AttachmentPolicy

        with Emulator() as emu:
            report = run_sync(emu, config(attachments=AttachmentPolicy(reuse=reuse)), eml_folder(tmp_path / str(reuse), messages))
            rows = emu.records("activitymimeattachment")
        assert report.failed == 0, report.failures
        assert len(rows) == 3 and len({r["attachmentid"] for r in rows}) == stored
        assert report.attachments["written"] == stored and report.attachments["reused"] == 3 - stored
        assert all(r["body"] == rows[0]["body"] for r in rows)


def test_plain_json_exports_carry_attachment_metadata_only(tmp_path):
    record = message(1, attachments=[{"id": "a1", "filename": "offer.pdf", "content_type": "application/pdf", "size": 10}])
    with Emulator() as emu:
        report = run_sync(emu, config(), write_messages(tmp_path, [record]))
        assert emu.records("activitymimeattachment") == []
        (email,) = emu.records("email")
    assert report.attachments["skip_reasons"] == {"no content": 1}
    assert "plain JSON export carries attachment metadata only" in report.to_dict()["skips"][0]["reason"]
    assert email["notifications"] == 1
