"""The per-request and per-part shortcuts answer exactly what the general paths do.

Each shortcut here was taken to cut the emulator's CPU per ``$batch`` part (docs/emulator.md,
"The emulator's own CPU per request"): request heads parsed headers-only, multipart split at C
speed, remembered change-set part heads, value checks bound per column, creates routed without
the router once it has answered the URL, and atomic writes joining the thread's transaction.
Each test compares a shortcut with the general path it stands for, on ordinary and on odd input.
"""

from __future__ import annotations

import http.client
import io
import random
import socket
import threading
from http.server import BaseHTTPRequestHandler

import pytest

from mail2dataverse.emulator import Emulator, app, batch, errors, server
from mail2dataverse.emulator.httphead import read_headers
from mail2dataverse.emulator.transactions import _JOINED
from mail2dataverse.emulator.validation import bound_check, coerce

from .conftest import Client


def _outcome(call):
    try:
        return "ok", call()
    except Exception as exc:  # noqa: BLE001 - the very error (type and message) is compared
        return type(exc).__name__, str(exc)


# ------------------------------------------------------------------ request heads


@pytest.mark.parametrize("block", [
    b"Host: x\r\nContent-Type: multipart/mixed; boundary=batch_1\r\nContent-Length: 3\r\n\r\n",
    b"Host: x\r\nX-Folded: a\r\n  b\r\n\tc\r\nX-Dup: 1\r\nx-dup: 2\r\n\r\n",
    b"Content-Type: multipart/mixed\r\nNo colon here\r\nAfter: it\r\n\r\n",
    b"X-Latin: caf\xe9\r\nX-Empty:\r\n X-Lead: 1\r\n\r\n",
    b"Host: x\nBare-LF: yes\n\n",
    b"",
])
def test_request_heads_read_headers_only_as_the_standard_library_reads_them(block):
    ours = read_headers(io.BytesIO(block + b"BODY"))
    theirs = http.client.parse_headers(io.BytesIO(block + b"BODY"))
    assert ours.items() == theirs.items()
    assert [ours.get_all(k) for k in ours.keys()] == [theirs.get_all(k) for k in theirs.keys()]


def test_request_head_limits_are_the_standard_librarys():
    with pytest.raises(http.client.LineTooLong):
        read_headers(io.BytesIO(b"X: " + b"a" * 70000 + b"\r\n\r\n"))
    with pytest.raises(http.client.HTTPException):
        read_headers(io.BytesIO(b"".join(b"X-%d: 1\r\n" % i for i in range(101)) + b"\r\n"))


def _raw(emu: Emulator, data: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", emu.port)) as s:
        s.sendall(data)
        s.shutdown(socket.SHUT_WR)
        chunks = []
        while chunk := s.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


@pytest.mark.parametrize("head", [
    b"GET /api/data/v9.2/WhoAmI HTTP/1.1\r\nAuthorization: Bearer t\r\nConnection: close\r\n\r\n",
    b"POST /api/data/v9.2/$batch HTTP/1.1\r\nAuthorization: Bearer t\r\nConnection: close\r\n"
    b"Content-Type: multipart/mixed; boundary=b\r\nContent-Length: 5\r\n\r\n--b--",
    b"GET /api/data/v9.2/WhoAmI HTTP/2.0\r\n\r\n",
    b"GET /api/data/v9.2/WhoAmI HTTP/1.x\r\n\r\n",
    b"POST /api/data/v9.2/WhoAmI\r\n\r\n",
    b"GET /api/data/v9.2/WhoAmI HTTP/1.1\r\n" + b"".join(b"X-%d: 1\r\n" % i for i in range(101)) + b"\r\n",
])
def test_request_heads_get_the_base_classs_answers(emu, monkeypatch, head):
    def status_line(data: bytes) -> bytes:
        return data.split(b"\r\n", 1)[0]

    ours = _raw(emu, head)
    monkeypatch.setattr(server._Handler, "parse_request", BaseHTTPRequestHandler.parse_request)
    assert status_line(ours) == status_line(_raw(emu, head))


# ------------------------------------------------------------------ multipart split


def _bodies():
    rng = random.Random(7)
    pieces = [b"--b", b"\r\n", b"--b--", b" ", b"\t", b"x", b"--", b"\r\n--b\r\n", b"part", b"\n"]
    yield b"--b\r\nA\r\n--b\r\nB\r\n--b--\r\nepilogue\r\n--b\r\nignored"
    yield b"preamble\r\n--b \t\r\nA\r\n--b\r\n--b\r\nB\r\n--b--"  # a delimiter line right after another
    yield b"--b\r\nA\r\n--b  \r\n--b--"
    yield b"--b\r\nA\r\n--bX\r\nB\r\n--b--"
    yield b"--b\r\nA"
    yield b"--b--"
    yield b"no delimiter"
    for _ in range(3000):
        yield b"".join(rng.choice(pieces) for _ in range(rng.randint(1, 14)))


def test_the_split_at_c_speed_cuts_where_the_walk_cuts():
    for body in _bodies():
        delim = b"--b"

        def walk():
            return batch._split_walk(body, delim, batch._first_delimiter(body, delim))

        assert _outcome(lambda: batch._split(body, "b")) == _outcome(walk), body


# ------------------------------------------------------------------ remembered part heads


_HEAD = b"Content-Type: application/http\r\nContent-Transfer-Encoding: binary\r\nContent-ID: 7\r\n\r\n"


@pytest.mark.parametrize("inner", [
    _HEAD + b"POST /api/data/v9.2/contacts HTTP/1.1\r\nContent-Type: application/json\r\n\r\n{\"lastname\":\"a\"}",
    _HEAD + b"POST /api/data/v9.2/contacts HTTP/1.1\r\n\r\n{\"lastname\":\"a\"}\r\n\r\nmore",
    _HEAD + b"PATCH $1 HTTP/1.1\r\nContent-Type: application/json\r\n\r\n",
    _HEAD + b"DELETE /api/data/v9.2/contacts(1) HTTP/1.1",
    _HEAD + b"GET /api/data/v9.2/contacts HTTP/1.1\r\n\r\n",
    _HEAD.replace(b"binary", b"base64") + b"POST /api/data/v9.2/contacts HTTP/1.1\r\n\r\n{}",
    _HEAD.replace(b"Content-ID: 7\r\n", b"") + b"POST /api/data/v9.2/contacts HTTP/1.1\r\n\r\n{}",
    _HEAD + b"POST /api/data/v9.2/contacts HTTP/1.0\r\n\r\n{}",
    b"\r\n" + _HEAD + b"POST /api/data/v9.2/contacts HTTP/1.1\r\n\r\n{}",
])
def test_a_remembered_part_head_answers_what_reading_it_answers(inner):
    def read():
        op = batch._read_changeset_part(inner)
        return op.method, op.url, dict(op.headers), op.body, op.content_id

    def via_memory():
        op = batch._changeset_part(inner)
        return op.method, op.url, dict(op.headers), op.body, op.content_id

    expected = _outcome(read)
    for _ in range(3):  # the first reading may be remembered; the later ones use it
        assert _outcome(via_memory) == expected
    body = inner.rpartition(b"\r\n\r\n")[2]
    other = inner[: len(inner) - len(body)] + b"{\"other\":1}" if body else inner
    assert _outcome(lambda: batch._changeset_part(other)) == _outcome(lambda: (batch._read_changeset_part(other)))


# ------------------------------------------------------------------ value checks


def test_bound_checks_answer_what_coerce_answers(emu):
    values = ["", "a", "é" * 3, "😀" * 3, "x" * 99, "x" * 100, "x" * 101, "x" * 4000, "x" * 4001, 0, 1, -1, 2**31 - 1,
              2**31, -2**31, -2**31 - 1, True, False, 1.0, 1.5, 100000000, 3, 4, 5, 7, [], {}, "1", None]
    for logical in ("contact", "email", "activityparty", "account"):
        table = emu.tables[logical]
        for col in table.plain_create_columns.values():
            check = bound_check(table, col)
            for value in values:
                if value is None:
                    continue
                got, want = _outcome(lambda: check(value)), _outcome(lambda: coerce(table, col, value))
                assert got == want and (got[0] != "ok" or type(got[1]) is type(want[1])), (logical, col.name, value)


# ------------------------------------------------------------------ routing and transactions


def _changeset(parts: list[str], prefer: str = "") -> tuple[bytes, dict]:
    inner = "".join(
        f"--cs\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: binary\r\nContent-ID: {i + 1}\r\n\r\n{p}\r\n"
        for i, p in enumerate(parts)) + "--cs--"
    body = f'--b\r\nContent-Type: multipart/mixed; boundary="cs"\r\n\r\n{inner}\r\n--b--\r\n'
    return body.encode(), {"Content-Type": 'multipart/mixed; boundary="b"'}


def test_a_create_url_the_router_answered_still_honours_prefer_and_bypass_headers(emu):
    c = Client(emu)
    plain = "POST /api/data/v9.2/contacts HTTP/1.1\r\nContent-Type: application/json\r\n\r\n{\"lastname\": \"a\"}"
    body, headers = _changeset([plain])
    assert c.session.post(c.root + "$batch", data=body, headers=headers).status_code == 200  # remembered now
    wants = plain.replace("HTTP/1.1\r\n", "HTTP/1.1\r\nPrefer: return=representation\r\n")
    r = c.session.post(c.root + "$batch", data=_changeset([wants])[0], headers=headers)
    assert b"HTTP/1.1 201 Created" in r.content and b'"lastname":"a"' in r.content
    bypass = plain.replace("HTTP/1.1\r\n", "HTTP/1.1\r\nMSCRM.BypassCustomPluginExecution: true\r\n")
    r = c.session.post(c.root + "$batch", data=_changeset([bypass])[0], headers=headers)
    assert b"HTTP/1.1 403 Forbidden" in r.content and b"prvBypassCustomPlugins" in r.content
    assert len(emu.records("contact")) == 2


def test_an_atomic_write_joins_only_its_own_threads_transaction():
    with Emulator() as emu:
        tx = emu.store.transactions
        assert tx.atomic() is not _JOINED  # no transaction running
        seen = []
        with emu.store.changeset():
            assert tx.atomic() is _JOINED
            other = threading.Thread(target=lambda: seen.append(tx.rows.journal is not None and tx.lock._is_owned()))
            other.start()
            other.join()
        assert seen == [False]  # another thread sees the journal but not the lock: it waits its turn


def test_a_failed_write_joined_to_a_change_set_undoes_the_whole_change_set():
    with Emulator() as emu:
        from mail2dataverse.emulator.references import WriteContext

        ctx = WriteContext(service_root=emu.service_root)
        contact = emu.tables["contact"]
        with pytest.raises(errors.ODataError):
            with emu.store.changeset():
                emu.store.create(contact, {"lastname": "kept?"}, ctx)
                emu.store.create(contact, {"nosuchcolumn": 1}, ctx)
        assert emu.records("contact") == []


def test_deep_inserted_parties_get_ids_no_stored_row_holds():
    with Emulator(seed=5) as emu:
        probe = Emulator(seed=5)
        taken = [probe.store.new_id() for _ in range(3)]  # what seed 5 draws first
        for rid in taken:
            emu.seed("account", {"accountid": rid, "name": "holds an id"})
        c = Client(emu)
        r = c.post("emails", {"subject": "s", "email_activity_parties": [
            {"participationtypemask": 1, "addressused": "a@x.example"},
            {"participationtypemask": 2, "addressused": "b@x.example"}]})
        assert r.status_code == 204
        ids = [p["activitypartyid"] for p in emu.records("activityparty")]
        assert len(ids) == 2 and not set(ids) & set(taken)


@pytest.mark.parametrize("first, then", [
    ("POST /api/data/v9.2/contacts HTTP/1.1", "PATCH $1 HTTP/1.1"),
    ("PATCH /api/data/v9.2/contacts(emailaddress1='a%40x.example') HTTP/1.1", "PATCH $1 HTTP/1.1"),
    ("PATCH /api/data/v9.2/contacts(emailaddress1='b@x.example') HTTP/1.1", "PATCH $1 HTTP/1.1"),
    ("POST /api/data/v9.2/contacts HTTP/1.1", "PATCH $1?$select=lastname HTTP/1.1"),
    ("POST /api/data/v9.2/contacts HTTP/1.1", "PATCH $9 HTTP/1.1"),
])
def test_a_content_id_patch_answers_what_the_router_answers(monkeypatch, first, then):
    def run() -> list[tuple[bytes, list]]:
        with Emulator(alternate_keys=(("contact", "emailaddress1"),), seed=1) as emu:
            c = Client(emu)
            parts = [f"{first}\r\nContent-Type: application/json\r\n\r\n{{\"lastname\": \"a\"}}",
                     f"{then}\r\nContent-Type: application/json\r\n\r\n{{\"firstname\": \"b\"}}"]
            body, headers = _changeset(parts)
            r = c.session.post(c.root + "$batch", data=body, headers=headers)
            lines = [line for line in r.content.replace(c.root.encode(), b"ROOT/").split(b"\r\n")
                     if line.startswith((b"HTTP/1.1", b"OData-EntityId", b"Location", b"{"))]
            return [lines, [(row["lastname"], row.get("firstname"), row["versionnumber"]) for row in emu.records("contact")]]

    fast = run()
    monkeypatch.setattr(app, "content_id_row", lambda by_set, target, ctx: None)
    assert fast == run()


# ------------------------------------------------------------------ value indexes built on first search


def test_an_index_built_by_the_first_search_finds_what_a_scan_finds(emu):
    c = Client(emu)
    ids = [c.create("contacts", {"lastname": f"n{i}", "emailaddress2": f"Same{i % 3}@X.example"}) for i in range(12)]
    c.patch(f"contacts({ids[0]})", {"emailaddress2": "moved@x.example"})
    c.delete(f"contacts({ids[3]})")
    rows = emu.store.table_rows
    assert "emailaddress2" not in rows._value_index["contact"]  # nothing searched it yet
    for value in ("same0@x.example", "SAME1@x.EXAMPLE", "moved@x.example", "none@x.example"):
        found = [r["contactid"] for r in c.get(
            f"contacts?$select=contactid&$filter=emailaddress2 eq '{value}'").json()["value"]]
        scan = [r["contactid"] for r in emu.records("contact") if r.get("emailaddress2", "").casefold() == value.casefold()]
        assert found == scan
    assert "emailaddress2" in rows._value_index["contact"]  # built once, kept by later writes
    c.create("contacts", {"lastname": "late", "emailaddress2": "same0@x.example"})
    found = c.get("contacts?$select=lastname&$filter=emailaddress2 eq 'same0@x.example'").json()["value"]
    assert [r["lastname"] for r in found] == ["n6", "n9", "late"]


def test_an_index_built_inside_a_change_set_is_restored_by_its_rollback():
    from mail2dataverse.emulator.references import WriteContext

    with Emulator() as emu:
        ctx = WriteContext(service_root=emu.service_root)
        email = emu.tables["email"]
        parties = [{"participationtypemask": 1, "addressused": "a@x.example"},
                   {"participationtypemask": 2, "addressused": "b@x.example"}]
        rid = emu.store.create(email, {"subject": "s", "email_activity_parties": parties}, ctx)
        before = emu.records("activityparty")
        rows = emu.store.table_rows
        assert "activityid" not in rows._value_index["activityparty"]
        with pytest.raises(errors.ODataError):
            with emu.store.changeset():
                # Replacing the parties searches them by activityid: the index is built here.
                emu.store.update(email, rid, {"email_activity_parties": [
                    {"participationtypemask": 1, "addressused": "c@x.example"}]}, ctx)
                assert "activityid" in rows._value_index["activityparty"]
                emu.store.create(email, {"nosuchcolumn": 1}, ctx)
        def by_id(records):
            return sorted(records, key=lambda r: r["activitypartyid"])

        # The same rows (a rollback re-inserts restored rows at the end of the row map, as before)
        assert by_id(emu.records("activityparty")) == by_id(before)
        kept = emu.store.rows_where("activityparty", "activityid", rid)
        assert [p["addressused"] for p in kept] == ["a@x.example", "b@x.example"]
