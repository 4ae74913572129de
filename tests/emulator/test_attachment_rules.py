"""The emulator's rules for attachments, thread lookups and original dates (rules_attachments)."""

from __future__ import annotations

import base64
import uuid

from mail2dataverse.emulator import Emulator
from mail2dataverse.emulator.rules_attachments import AttachmentRules

from .conftest import Client


def _email(client: Client, **extra) -> str:
    eid = str(uuid.uuid4())
    r = client.post("emails", json={"activityid": eid, "subject": "s", **extra})
    assert r.status_code == 204, r.text
    return eid


def _attach(client: Client, eid: str, name: str, data: bytes, mime: str = "application/pdf"):
    return client.post("activitymimeattachments", json={
        "objectid_email@odata.bind": f"/emails({eid})", "objecttypecode": "email", "filename": name,
        "mimetype": mime, "body": base64.b64encode(data).decode()})


def _code(r) -> str:
    return r.json()["error"]["code"]


def test_size_is_measured_on_the_base64_text():
    with Emulator(organization={"maxuploadfilesize": 4000}) as emu:
        client = Client(emu)
        eid = _email(client)
        assert _attach(client, eid, "a.pdf", b"x" * 3000).status_code == 204  # 4,000 characters
        r = _attach(client, eid, "b.pdf", b"x" * 3001)  # 4,004 characters
        assert (r.status_code, _code(r)) == (400, "0x80044a02")
        assert r.json()["error"]["message"] == "Attachment file size is too big."


def test_blocked_extension_and_mime_types(client):
    eid = _email(client)
    r = _attach(client, eid, "run.EXE", b"MZ")
    assert (r.status_code, _code(r)) == (400, "0x80043e09")
    client.emu.store.rows["organization"][next(iter(client.emu.store.rows["organization"]))]["blockedmimetypes"] = "application/x-bad"
    assert _code(_attach(client, eid, "a.bin", b"1", mime="application/x-bad")) == "0x80072522"
    org = next(iter(client.emu.store.rows["organization"].values()))
    org["allowedmimetypes"] = "application/pdf;image/png"
    assert _code(_attach(client, eid, "a.txt", b"1", mime="text/plain")) == "0x80072521"
    assert _attach(client, eid, "a.pdf", b"1").status_code == 204


def test_object_and_type_are_required_and_closed_emails_refuse_attachments(client):
    r = client.post("activitymimeattachments", json={"filename": "a.pdf", "body": "QQ=="})
    assert r.status_code == 400 and "SystemRequired" in r.json()["error"]["message"]
    eid = _email(client)
    assert client.patch(f"emails({eid})", json={"statecode": 1, "statuscode": 4}).status_code == 204
    assert _attach(client, eid, "late.pdf", b"1").status_code == 400


def test_reuse_shares_the_first_rows_file(client):
    eid = _email(client)
    assert _attach(client, eid, "a.pdf", b"content").status_code == 204
    (first,) = client.emu.records("activitymimeattachment")
    other = _email(client)
    r = client.post("activitymimeattachments", json={
        "objectid_email@odata.bind": f"/emails({other})", "objecttypecode": "email", "subject": "a.pdf",
        "attachmentid@odata.bind": f"/activitymimeattachments({first['activitymimeattachmentid']})"})
    assert r.status_code == 204, r.text
    rows = client.emu.records("activitymimeattachment")
    assert len({row["attachmentid"] for row in rows}) == 1 and all(row["body"] == first["body"] for row in rows)


def test_overriddencreatedon_is_swapped_refused_in_the_future_and_needs_the_privilege():
    with Emulator() as emu:
        client = Client(emu)
        eid = _email(client, overriddencreatedon="2001-02-03T04:05:06Z")
        row = next(r for r in emu.records("email") if r["activityid"] == eid)
        assert row["createdon"] == "2001-02-03T04:05:06Z" and row["overriddencreatedon"] > "2020"
        r = client.post("emails", json={"subject": "s", "overriddencreatedon": "2999-01-01T00:00:00Z"})
        assert (r.status_code, _code(r)) == (400, "0x80040203")
        who = client.get("WhoAmI").json()["UserId"]
        held = client.get(f"systemusers({who})/Microsoft.Dynamics.CRM.RetrieveUserPrivilegeByPrivilegeName"
                          "(PrivilegeName='prvOverrideCreatedOnCreatedBy')").json()
        assert held["RolePrivileges"][0]["PrivilegeName"] == "prvOverrideCreatedOnCreatedBy"
    with Emulator(attachment_rules=AttachmentRules(privileges=set())) as emu:
        client = Client(emu)
        eid = _email(client, overriddencreatedon="2001-02-03T04:05:06Z")
        row = next(r for r in emu.records("email") if r["activityid"] == eid)
        assert row["createdon"] > "2020"  # ignored without the privilege


def test_thread_lookups_are_create_only(client):
    parent = _email(client)
    child = _email(client, **{"parentactivityid@odata.bind": f"/emails({parent})",
                              "CorrelatedActivityId_Email@odata.bind": f"/emails({parent})"})
    other = _email(client)
    assert client.patch(f"emails({child})", json={"parentactivityid@odata.bind": f"/emails({other})"}).status_code == 204
    row = next(r for r in client.emu.records("email") if r["activityid"] == child)
    assert row["parentactivityid"] == parent == row["correlatedactivityid"]
