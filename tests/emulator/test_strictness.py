"""Leniencies found in review: each test fails against the emulator as it was before its fix.

Every case is a request the real service refuses (or a response detail it always sends) where
the emulator used to be more forgiving, which would let a client bug through to a real org.
"""

from __future__ import annotations

import http.client
import json
import socket
import urllib.parse

import pytest

from .conftest import error_of

GUID = "00000000-0000-0000-0000-0000000000aa"


def _part(method: str, url: str, body: dict | None = None, content_id: str | None = None,
          boundary: str = "changeset_C") -> str:
    lines = [f"--{boundary}", "Content-Type: application/http", "Content-Transfer-Encoding: binary"]
    if content_id:
        lines.append(f"Content-ID: {content_id}")
    lines += ["", f"{method} {url} HTTP/1.1"]
    if body is not None:
        lines += ["Content-Type: application/json; type=entry", "", json.dumps(body)]
    else:
        lines += [""]
    return "\r\n".join(lines) + "\r\n"


def _changeset(parts: list[str], boundary: str = "changeset_C") -> str:
    return (f"--batch_B\r\nContent-Type: multipart/mixed; boundary={boundary}\r\n\r\n" + "".join(parts)
            + f"--{boundary}--\r\n")


def _batch(client, items: list[str]):
    body = "".join(items) + "--batch_B--\r\n"
    return client.post("$batch", data=body.encode(), headers={"Content-Type": "multipart/mixed; boundary=batch_B"})


# --- headers on every response ---------------------------------------------------------------


def test_url_too_long_still_carries_odata_version_and_dop_hint(client):
    """A 414 is a response like any other: clients read x-ms-dop-hint from whatever comes back."""
    r = client.get("contacts?$filter=" + "a" * 33000)
    assert r.status_code == 414
    assert r.headers["OData-Version"] == "4.0"
    assert r.headers["x-ms-dop-hint"]


def test_unsupported_method_answer_carries_odata_version_and_dop_hint(emu):
    """Requests http.server answers itself (here HEAD) go through the same header stamping."""
    conn = http.client.HTTPConnection(emu.host, emu.port, timeout=5)
    try:
        conn.request("HEAD", "/api/data/v9.2/contacts", headers={"Authorization": "Bearer t"})
        r = conn.getresponse()
        r.read()
        assert r.getheader("OData-Version") == "4.0"
        assert r.getheader("x-ms-dop-hint")
    finally:
        conn.close()


@pytest.mark.parametrize(("head", "status", "message"), [
    (b"GET /api/data/v9.2/WhoAmI HTTP/2.0\r\n\r\n", 505, "Invalid HTTP version (2.0)"),
    (b"GET /api/data/v9.2/WhoAmI HTTP/1.x\r\n\r\n", 400, "Bad request version ('HTTP/1.x')"),
    (b"GET /api/data/v9.2/Who Am I HTTP/1.1\r\n\r\n", 400, "Bad request syntax"),
    (b"GET /api/data/v9.2/WhoAmI HTTP/1.1\r\n" + b"".join(b"X-%d: 1\r\n" % i for i in range(101)) + b"\r\n",
     431, "Too many headers"),
    (b"GET /api/data/v9.2/WhoAmI HTTP/1.1\r\nX-Long: " + b"a" * 65536 + b"\r\n\r\n", 431, "Line too long"),
], ids=["http-2.0", "bad-version", "bad-syntax", "too-many-headers", "header-line-too-long"])
def test_a_malformed_request_head_gets_an_error_answer_and_the_emulator_keeps_serving(client, emu, head, status,
                                                                                    message):
    """The handler used to crash writing the answer (no request headers exist yet), so the client
    got a closed connection and nothing to read: now http.server's status, the service's error body."""
    with socket.create_connection((emu.host, emu.port), timeout=10) as s:
        s.sendall(head)
        s.shutdown(socket.SHUT_WR)
        answer = b""
        while chunk := s.recv(65536):
            answer += chunk
    response_head, _, body = answer.partition(b"\r\n\r\n")
    assert response_head.split(b"\r\n", 1)[0].startswith(b"HTTP/1.1 %d " % status)
    assert b"\r\nOData-Version: 4.0\r\n" in response_head
    assert b"\r\nx-ms-dop-hint: " in response_head
    assert b"\r\nConnection: close" in response_head
    assert json.loads(body)["error"]["message"].startswith(message)
    assert client.get("WhoAmI").status_code == 200  # and the next connection is served


# --- payloads ----------------------------------------------------------------------------------


def test_property_named_twice_is_a_payload_error_and_writes_nothing(client, emu):
    """The OData reader refuses duplicate property names; json.loads would keep the last one."""
    r = client.post("contacts", data=b'{"lastname":"a","lastname":"b"}',
                    headers={"Content-Type": "application/json"})
    assert r.status_code == 400
    code, message = error_of(r)
    assert code == "0x80048d19"
    assert "Multiple properties with the name 'lastname' were detected" in message
    assert emu.records("contact") == []


def test_property_named_twice_inside_a_deep_insert_party(client, emu):
    body = ('{"subject":"s","email_activity_parties":[{"participationtypemask":2,'
            '"addressused":"a@x.com","addressused":"b@x.com"}]}')
    r = client.post("emails", data=body.encode(), headers={"Content-Type": "application/json"})
    assert r.status_code == 400
    assert "'addressused'" in error_of(r)[1]
    assert emu.records("email") == []


# --- email parties -----------------------------------------------------------------------------


def test_email_with_two_senders_is_rejected_and_nothing_is_written(client, emu):
    """An email's From resolves to one row; two mask-1 parties are refused (UNCONFIRMED wording)."""
    r = client.post("emails", {"subject": "two from", "email_activity_parties": [
        {"participationtypemask": 1, "addressused": "a@x.com"},
        {"participationtypemask": 1, "addressused": "b@x.com"},
        {"participationtypemask": 2, "addressused": "c@x.com"},
    ]})
    assert r.status_code == 400
    code, message = error_of(r)
    assert code == "0x80040203"
    assert "only one sender" in message
    assert emu.records("email") == [] and emu.records("activityparty") == []


def test_one_sender_and_many_recipients_are_fine(client, emu):
    client.create("emails", {"subject": "ok", "email_activity_parties": [
        {"participationtypemask": 1, "addressused": "a@x.com"},
        {"participationtypemask": 2, "addressused": "b@x.com"},
        {"participationtypemask": 2, "addressused": "c@x.com"},
        {"participationtypemask": 3, "addressused": "d@x.com"},
    ]})
    assert len(emu.records("activityparty")) == 4


def test_replacing_parties_on_update_also_allows_one_sender_only(client, emu):
    eid = client.create("emails", {"subject": "s", "email_activity_parties": [
        {"participationtypemask": 1, "addressused": "a@x.com"}]})
    r = client.patch(f"emails({eid})", {"email_activity_parties": [
        {"participationtypemask": 1, "addressused": "a@x.com"},
        {"participationtypemask": 1, "addressused": "b@x.com"}]})
    assert r.status_code == 400
    assert [p["addressused"] for p in emu.records("activityparty")] == ["a@x.com"]


# --- completed emails --------------------------------------------------------------------------


def test_ref_on_a_completed_email_is_refused_like_any_update(client, emu):
    """PUT regardingobjectid_x_email/$ref is an update: a completed email is read-only."""
    acc = emu.seed("account", {"name": "Contoso"})
    eid = client.create("emails", {"subject": "s"})
    assert client.patch(f"emails({eid})", {"statecode": 1, "statuscode": 4}).status_code == 204
    r = client.put(f"emails({eid})/regardingobjectid_account_email/$ref",
                   {"@odata.id": f"{client.root}accounts({acc})"})
    assert r.status_code == 400
    assert error_of(r)[0] == "0x80040203"
    assert emu.records("email")[0]["regardingobjectid"] is None
    r = client.delete(f"emails({eid})/regardingobjectid_account_email/$ref")
    assert r.status_code == 400


# --- $batch Content-ID scope -------------------------------------------------------------------


def test_content_id_reference_is_scoped_to_its_change_set(client, emu):
    """OData 4.0 (Dataverse's version): $n refers to a part of the same change set only."""
    r = _batch(client, [
        _changeset([_part("POST", "contacts", {"lastname": "first"}, "1", "changeset_A")], "changeset_A"),
        _changeset([_part("PATCH", "$1", {"firstname": "later"}, "2", "changeset_Z")], "changeset_Z"),
    ])
    assert r.status_code == 400
    assert "Content-ID Reference: '$1' does not exist in the batch context." in r.text
    rows = emu.records("contact")
    assert [(c["lastname"], c["firstname"]) for c in rows] == [("first", None)]


def test_content_id_reference_within_its_change_set_still_works(client, emu):
    r = _batch(client, [_changeset([
        _part("POST", "contacts", {"lastname": "x"}, "1"),
        _part("PATCH", "$1", {"firstname": "y"}, "2"),
    ])])
    assert r.status_code == 200, r.text
    assert [(c["lastname"], c["firstname"]) for c in emu.records("contact")] == [("x", "y")]


def test_content_id_reference_from_a_part_outside_the_change_set_is_unknown(client, emu):
    r = _batch(client, [
        _changeset([_part("POST", "contacts", {"lastname": "first"}, "1")]),
        _part("GET", "$1", boundary="batch_B"),
    ])
    assert r.status_code == 400
    assert "'$1' does not exist" in urllib.parse.unquote(r.text)
