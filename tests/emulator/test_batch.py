"""$batch rules: CRLF, limits, change-set atomicity, $n references, continue-on-error, GET parts."""

from __future__ import annotations

import json
import re
import uuid

import pytest
import requests

from .conftest import error_of


def part(method: str, url: str, body: dict | None = None, content_id: str | None = None,
         headers: dict | None = None) -> str:
    lines = ["Content-Type: application/http", "Content-Transfer-Encoding: binary"]
    if content_id:
        lines.append(f"Content-ID: {content_id}")
    lines += ["", f"{method} {url} HTTP/1.1"]
    if body is not None:
        lines.append("Content-Type: application/json; type=entry")
    for k, v in (headers or {}).items():
        lines.append(f"{k}: {v}")
    lines.append("")
    text = "\r\n".join(lines) + "\r\n"
    if body is not None:
        text += json.dumps(body)
    return text


def changeset(parts: list[str], boundary: str = "changeset_1") -> str:
    inner = "".join(f"--{boundary}\r\n{p}\r\n" for p in parts) + f"--{boundary}--"
    return f'Content-Type: multipart/mixed; boundary="{boundary}"\r\n\r\n{inner}'


def batch_body(items: list[str], boundary: str = "batch_1") -> bytes:
    return ("".join(f"--{boundary}\r\n{i}\r\n" for i in items) + f"--{boundary}--\r\n").encode()


def send(client, items: list[str], prefer: str | None = None):
    headers = {"Content-Type": 'multipart/mixed; boundary="batch_1"'}
    if prefer:
        headers["Prefer"] = prefer
    return client.session.post(client.url("$batch"), data=batch_body(items), headers=headers)


def responses(r) -> list[tuple[str | None, int, str]]:
    """(content_id, status, body) of every sub-response, change sets flattened."""
    out = []
    boundary = re.search(r"boundary=(\S+)", r.headers["Content-Type"]).group(1)
    for chunk in r.text.split("--" + boundary)[1:-1]:
        inner = re.search(r"boundary=(changesetresponse_\S+)", chunk)
        pieces = chunk.split("--" + inner.group(1))[1:-1] if inner else [chunk]
        for p in pieces:
            cid = re.search(r"Content-ID: (\S+)", p)
            status = int(re.search(r"HTTP/1.1 (\d+)", p).group(1))
            out.append((cid.group(1) if cid else None, status, p.split("\r\n\r\n")[-1].strip()))
    return out


def test_bare_lf_is_stream_not_readable(client):
    body = batch_body([part("POST", "/api/data/v9.2/contacts", {"lastname": "x"})]).replace(b"\r\n", b"\n")
    r = client.session.post(client.url("$batch"), data=body,
                            headers={"Content-Type": "multipart/mixed; boundary=batch_1"})
    assert r.status_code == 400
    assert error_of(r) == ("0x80048d19", "Stream was not readable.")
    assert client.emu.records("contact") == []


def test_batch_requires_multipart(client):
    r = client.post("$batch", {"requests": []})
    assert r.status_code == 400


def test_change_set_is_atomic(client):
    r = send(client, [changeset([
        part("POST", "/api/data/v9.2/contacts", {"lastname": "ok"}, "1"),
        part("POST", "/api/data/v9.2/contacts", {"firstname": "x" * 51}, "2"),
        part("POST", "/api/data/v9.2/contacts", {"lastname": "never"}, "3"),
    ])])
    assert r.status_code == 400
    subs = responses(r)
    assert [(c, s) for c, s, _ in subs] == [("2", 400)]  # only the failing part
    assert json.loads(subs[0][2])["error"]["code"] == "0x80044331"
    assert client.emu.records("contact") == []


def test_changeset_rollback_restores_updates_and_keys(kclient):
    cid = kclient.create("contacts", {"lastname": "before", "emailaddress1": "a@x.com"})
    r = send(kclient, [changeset([
        part("PATCH", f"/api/data/v9.2/contacts({cid})", {"lastname": "after", "emailaddress1": "b@x.com"}, "1"),
        part("POST", "/api/data/v9.2/contacts", {"emailaddress1": "a@x.com"}, "2"),
        part("POST", "/api/data/v9.2/contacts", {"emailaddress1": "b@x.com"}, "3"),
    ])])
    assert [s for _, s, _ in responses(r)] == [412]
    rows = kclient.emu.records("contact")
    assert len(rows) == 1 and rows[0]["lastname"] == "before" and rows[0]["emailaddress1"] == "a@x.com"
    # the key index was restored too: b@x.com is free again, a@x.com still taken
    assert kclient.post("contacts", {"emailaddress1": "b@x.com"}).status_code == 204
    assert kclient.post("contacts", {"emailaddress1": "a@x.com"}).status_code == 412


def test_email_then_patch_dollar_one_to_completed(client):
    cid = client.create("contacts", {"emailaddress1": "c@x.com"})
    eid = str(uuid.uuid4())
    r = send(client, [changeset([
        part("POST", "/api/data/v9.2/emails", {
            "activityid": eid, "subject": "s",
            "email_activity_parties": [{"participationtypemask": 1,
                                        "partyid_contact@odata.bind": f"/contacts({cid})"}]}, "1"),
        part("PATCH", "$1", {"statecode": 1, "statuscode": 4}, "2", headers={"If-Match": "*"}),
    ])])
    assert r.status_code == 200, r.text
    subs = responses(r)
    assert [(c, s) for c, s, _ in subs] == [("1", 204), ("2", 204)]
    assert f"OData-EntityId: {client.root}emails({eid})" in r.text
    assert f"Location: {client.root}emails({eid})" in r.text
    email = client.emu.records("email")[0]
    assert (email["statecode"], email["statuscode"]) == (1, 4)


def test_dollar_reference_in_body_bind(client):
    r = send(client, [changeset([
        part("POST", "/api/data/v9.2/accounts", {"name": "A"}, "a"),
        part("POST", "/api/data/v9.2/contacts", {"lastname": "L", "parentcustomerid_account@odata.bind": "$a"}, "c"),
    ])])
    assert r.status_code == 200
    assert client.emu.records("contact")[0]["parentcustomerid"] == client.emu.records("account")[0]["accountid"]


def test_get_in_change_set_is_rejected(client):
    r = send(client, [changeset([part("GET", "/api/data/v9.2/contacts")])])
    assert r.status_code == 400
    assert "Invalid HTTP method 'GET' detected for a request in a change set" in error_of(r)[1]


def test_stop_on_first_error_without_continue(client):
    r = send(client, [
        part("POST", "/api/data/v9.2/contacts", {"lastname": "first"}),
        part("POST", "/api/data/v9.2/contacts", {"nope": 1}),
        part("POST", "/api/data/v9.2/contacts", {"lastname": "third"}),
    ])
    assert (r.status_code, r.reason) == (400, "BadRequest")
    assert [s for _, s, _ in responses(r)] == [400]
    # the part before the failure is committed (no transaction outside change sets), the rest never ran
    assert [c["lastname"] for c in client.emu.records("contact")] == ["first"]


def test_continue_on_error_runs_everything(client):
    r = send(client, [
        part("POST", "/api/data/v9.2/contacts", {"nope": 1}),
        changeset([part("POST", "/api/data/v9.2/contacts", {"firstname": "x" * 60}, "1")]),
        part("POST", "/api/data/v9.2/contacts", {"lastname": "after"}),
    ], prefer="odata.continue-on-error")
    assert r.status_code == 200
    assert r.headers["Preference-Applied"] == "odata.continue-on-error"
    assert [s for _, s, _ in responses(r)] == [400, 400, 204]
    assert [c["lastname"] for c in client.emu.records("contact")] == ["after"]


def test_get_parts_outside_change_sets_and_url_limits(client):
    client.create("contacts", {"emailaddress1": "a@x.com", "lastname": "A"})
    values = ",".join(f'"user{i:05d}@example.com"' for i in range(1800)) + ',"a@x.com"'
    f = f"Microsoft.Dynamics.CRM.In(PropertyName='emailaddress1',PropertyValues=[{values}])"
    url = "/api/data/v9.2/contacts?$select=lastname&$filter=" + requests.utils.quote(f)
    assert 32768 < len(url) < 65536
    direct = client.session.get(client.emu.base_url + url)
    assert direct.status_code == 414  # too long for a plain request URL
    r = send(client, [part("GET", url)])
    assert r.status_code == 200
    (cid, status, body), = responses(r)
    assert status == 200 and json.loads(body)["value"][0]["lastname"] == "A"
    assert "Content-Type: application/json; odata.metadata=minimal; odata.streaming=true" in r.text
    too_long = url + "%20" * 12000
    r = send(client, [part("GET", too_long)])
    assert [s for _, s, _ in responses(r)] == [414]


def test_at_most_1000_operations(client):
    ok = send(client, [changeset([part("POST", "/api/data/v9.2/contacts", {"lastname": str(i)}, str(i))
                                  for i in range(1000)])])
    assert ok.status_code == 200 and len(client.emu.records("contact")) == 1000
    too_many = send(client, [part("POST", "/api/data/v9.2/contacts", {"lastname": "x"}) for _ in range(1001)])
    assert too_many.status_code == 400
    assert "1000" in error_of(too_many)[1]
    assert len(client.emu.records("contact")) == 1000


def test_nested_change_sets_and_duplicate_content_ids_are_rejected(client):
    inner = changeset([part("POST", "/api/data/v9.2/contacts", {"lastname": "x"}, "1")], "changeset_inner")
    r = send(client, [changeset([inner])])
    assert r.status_code == 400
    r = send(client, [changeset([part("POST", "/api/data/v9.2/contacts", {}, "1"),
                                 part("POST", "/api/data/v9.2/contacts", {}, "1")])])
    assert r.status_code == 400 and "content ID '1'" in error_of(r)[1]


def test_return_representation_inside_batch(client):
    r = send(client, [part("POST", "/api/data/v9.2/contacts?$select=lastname", {"lastname": "R"},
                           headers={"Prefer": "return=representation"})])
    (_, status, body), = responses(r)
    assert status == 201 and json.loads(body)["lastname"] == "R"


def test_stats_count_batches_and_operations(client):
    client.emu.reset_stats()
    send(client, [changeset([part("POST", "/api/data/v9.2/contacts", {"lastname": str(i)}, str(i))
                             for i in range(5)])])
    stats = client.emu.stats
    assert stats["requests"] == 1 and stats["batch_requests"] == 1
    assert stats["operations"] == 5 and stats["writes"] == 5



def _with(text: str, old: str, new: bytes) -> bytes:
    return text.encode().replace(old.encode(), new, 1)


_GOOD = part("POST", "/api/data/v9.2/contacts", {"lastname": "a"})
_NOTE = part("POST", "/api/data/v9.2/contacts", {"lastname": "b"}, headers={"X-Note": "cafe"})
_CS_NOTE = part("POST", "/api/data/v9.2/contacts", {"lastname": "c"}, "2", {"X-Note": "cafe"})


@pytest.mark.parametrize(("body", "message"), [
    (batch_body([_GOOD, "@@"]).replace(b"@@", _with(_NOTE, "cafe", b"caf\xe9")),
     "The header 'X-Note' of batch part 2 is not valid UTF-8."),
    (batch_body([_GOOD, "@@"]).replace(b"@@", _with(_NOTE, "contacts", b"con\xe9tacts")),
     "The request line 'POST /api/data/v9.2/con\\xe9tacts HTTP/1.1' of batch part 2 is not valid UTF-8."),
    (batch_body([_GOOD, "@@"]).replace(b"@@", _with(_NOTE, "Content-Transfer", b"X-Caf\xe9: 1\r\nContent-Transfer")),
     "The header 'X-Caf\\xe9' of batch part 2 is not valid UTF-8."),
    (batch_body([changeset([part("POST", "/api/data/v9.2/contacts", {}, "1"), "@@"])]).replace(
        b"@@", _with(_CS_NOTE, "Content-Transfer", b"X-Caf\xe9: 1\r\nContent-Transfer")),
     "The header 'X-Caf\\xe9' of part 2 of the change set in batch part 1 is not valid UTF-8."),
    (batch_body([_GOOD, changeset(["@@"])]).replace(b"@@", _with(_CS_NOTE, "cafe", b"caf\xe9")),
     "The header 'X-Note' of part 1 of the change set in batch part 2 is not valid UTF-8."),
    (batch_body([_GOOD, changeset(["@@"])]).replace(b"@@", _with(_CS_NOTE, "POST", b"P\xd6ST")),
     "The request line 'P\\xd6ST /api/data/v9.2/contacts HTTP/1.1' of part 1 of the change set in batch part 2 "
     "is not valid UTF-8."),
], ids=["request-header", "request-line", "part-header", "changeset-part-header", "changeset-request-header",
        "changeset-request-line"])
def test_a_part_head_that_is_not_utf8_is_refused_naming_the_part(client, body, message):
    """A stray Latin-1 byte used to raise UnicodeDecodeError out of the parser (the client got a
    dropped connection); the reader's 400 names the part and the line instead. A header's value
    is not quoted back: it may be a credential."""
    r = client.session.post(client.url("$batch"), data=body,
                            headers={"Content-Type": "multipart/mixed; boundary=batch_1"})
    assert r.status_code == 400
    assert error_of(r) == ("0x80048d19", message)
    assert client.emu.records("contact") == []  # the whole body is read before anything runs


def _listing(client, query: str = "") -> list[dict]:
    return client.get(f"contacts?$select=lastname{query}").json()["value"]


def test_a_rolled_back_change_set_leaves_the_plain_listing_as_it_was(client):
    """Rows a rollback restored used to come back at the end of the table (and of index
    searches): a GET without $orderby after a failed change set must list what it listed before."""
    ids = [client.create("contacts", {"lastname": n, "emailaddress1": "same@x.com"}) for n in "abcde"]
    same = "&$filter=emailaddress1 eq 'same@x.com'"  # found through the column's index
    before, before_found = _listing(client), _listing(client, same)
    r = send(client, [changeset([
        part("DELETE", f"/api/data/v9.2/contacts({ids[1]})", None, "1"),
        part("PATCH", f"/api/data/v9.2/contacts({ids[3]})", {"lastname": "D"}, "2"),
        part("DELETE", f"/api/data/v9.2/contacts({ids[3]})", None, "3"),
        part("DELETE", f"/api/data/v9.2/contacts({ids[0]})", None, "4"),
        part("POST", "/api/data/v9.2/contacts", {"contactid": ids[0], "lastname": "again"}, "5"),
        part("POST", "/api/data/v9.2/contacts", {"lastname": "new", "emailaddress1": "same@x.com"}, "6"),
        part("POST", "/api/data/v9.2/contacts", {"firstname": "x" * 51}, "7"),
    ])])
    assert [s for _, s, _ in responses(r)] == [400]
    assert _listing(client) == before
    assert _listing(client, same) == before_found == before
    client.create("contacts", {"lastname": "f", "emailaddress1": "same@x.com"})  # and new rows still go last
    assert [c["lastname"] for c in _listing(client, same)] == ["a", "b", "c", "d", "e", "f"]


def test_a_failed_atomic_write_leaves_the_plain_listing_as_it_was(client):
    """One request that removes rows before it fails (an email update replacing its parties)
    restores them where they were, like a change set."""
    def parties() -> list[dict]:
        return client.get("activityparties?$select=addressused").json()["value"]

    first = client.create("emails", {"subject": "1", "email_activity_parties": [
        {"participationtypemask": 1, "addressused": "a@x.com"}, {"participationtypemask": 2, "addressused": "b@x.com"}]})
    client.create("emails", {"subject": "2", "email_activity_parties": [
        {"participationtypemask": 1, "addressused": "c@x.com"}]})
    before = parties()
    r = client.patch(f"emails({first})", {"email_activity_parties": [
        {"participationtypemask": 1, "addressused": "new@x.com"},
        {"participationtypemask": 2, "addressused": "x" * 321}]})
    assert r.status_code == 400
    assert parties() == before
