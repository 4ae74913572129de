"""Lookups answered from indexes: the same rows as a scan, in the same order, examining only matches.

The emulator charges ``scan_row`` per row a query examines; with that figure set to 1 s and every
other at 0, a request's execution time in the usage report *is* the number of rows it examined.
"""

from __future__ import annotations

import json
import random

import requests

from mail2dataverse.emulator import Emulator

from .conftest import AUTH, Client


def examined(emu: Emulator, path: str) -> tuple[list[dict], int]:
    """(rows returned, rows examined) for one GET."""
    requests.delete(emu.base_url + "/_emulator/usage")
    r = requests.get(emu.service_root + path, headers=AUTH)
    assert r.status_code == 200, r.text
    usage = requests.get(emu.base_url + "/_emulator/usage").json()
    return r.json()["value"], round(usage["totals"]["execution_seconds"])


def in_filter(column: str, values) -> str:
    return f"Microsoft.Dynamics.CRM.In(PropertyName='{column}',PropertyValues={json.dumps(list(values))})"


def make_contacts(c: Client, n: int, rng: random.Random) -> list[tuple[str, str]]:
    out = []
    for i in range(n):
        email = f"P{i}.x@{rng.choice(['a', 'b', 'c'])}.example"  # mixed case: lookups are case-insensitive
        out.append((c.create("contacts", {"lastname": f"n{i % 7}", "emailaddress1": email,
                                          "emailaddress2": f"alt{i}@z.example" if i % 5 == 0 else None}), email))
    return out


def test_eq_and_in_lookups_examine_only_the_matching_rows():
    with Emulator(costs={"scan_row": 1}, time_scale=10_000) as emu:
        c = Client(emu)
        people = make_contacts(c, 60, random.Random(3))
        rows, n = examined(emu, f"contacts?$filter=emailaddress1 eq '{people[10][1].lower()}'")
        assert [r["contactid"] for r in rows] == [people[10][0]] and n == 1
        wanted = [people[i][1] for i in (3, 50, 7)] + ["nobody@x.example"]
        rows, n = examined(emu, "contacts?$select=contactid&$filter=" + in_filter("emailaddress1", wanted))
        assert [r["contactid"] for r in rows] == [people[i][0] for i in (3, 7, 50)] and n == 3  # insertion order
        # The planner's shape: one In per address column, joined by or.
        filt = " or ".join(in_filter(col, ["alt10@z.example", people[4][1]]) for col in
                           ("emailaddress1", "emailaddress2", "emailaddress3"))
        rows, n = examined(emu, "contacts?$select=contactid&$filter=" + filt)
        assert [r["contactid"] for r in rows] == [people[4][0], people[10][0]] and n == 2
        rows, n = examined(emu, f"contacts?$filter=emailaddress1 eq '{people[5][1]}' and lastname eq 'n5'")
        assert len(rows) == 1 and n == 1
        # Lookups by id and by a lookup column are indexed too.
        rows, n = examined(emu, f"contacts?$filter=contactid eq {people[8][0]}")
        assert len(rows) == 1 and n == 1


def test_filters_an_index_cannot_bound_still_scan():
    with Emulator(costs={"scan_row": 1}, time_scale=10_000) as emu:
        c = Client(emu)
        make_contacts(c, 20, random.Random(4))
        for filt in ("lastname eq 'n1'", "not (emailaddress1 eq 'p1.x@a.example')", "contains(emailaddress1,'x')",
                     "emailaddress1 eq 'p1.x@a.example' or lastname eq 'n2'", "emailaddress1 ne 'p1.x@a.example'"):
            _rows, n = examined(emu, f"contacts?$filter={filt}")
            assert n == 20, filt


def test_indexed_and_scanned_answers_agree_after_updates_deletes_and_rollbacks():
    with Emulator(costs={"scan_row": 1}, time_scale=10_000) as emu:
        c = Client(emu)
        rng = random.Random(5)
        people = make_contacts(c, 40, rng)
        for cid, _ in people[:10]:
            assert c.patch(f"contacts({cid})", {"emailaddress1": "moved@x.example"}).status_code == 204
        for cid, _ in people[10:15]:
            assert c.delete(f"contacts({cid})").status_code == 204
        # A change set that fails rolls its writes back, indexes included.
        body = ("--b\r\nContent-Type: multipart/mixed; boundary=cs\r\n\r\n"
                f"--cs\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: binary\r\nContent-ID: 1\r\n\r\n"
                f"PATCH /api/data/v9.2/contacts({people[20][0]}) HTTP/1.1\r\nContent-Type: application/json\r\n\r\n"
                '{"emailaddress1":"moved@x.example"}\r\n'
                f"--cs\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: binary\r\nContent-ID: 2\r\n\r\n"
                "POST /api/data/v9.2/contacts HTTP/1.1\r\nContent-Type: application/json\r\n\r\n"
                '{"lastname":"' + "x" * 60 + '"}\r\n--cs--\r\n--b--\r\n')
        r = c.session.post(c.url("$batch"), data=body, headers={"Content-Type": "multipart/mixed; boundary=b"})
        assert r.status_code == 400
        for value in ["moved@x.example", people[20][1], people[12][1], people[30][1].upper()]:
            indexed, n = examined(emu, f"contacts?$select=contactid&$filter=emailaddress1 eq '{value}'")
            # startswith/endswith have no index: the same question answered by a scan
            scanned, m = examined(emu, f"contacts?$select=contactid&$filter=startswith(emailaddress1,'{value}') "
                                       f"and endswith(emailaddress1,'{value}')")
            assert indexed == scanned and n == len(indexed) and m == 35
        moved, _ = examined(emu, "contacts?$select=contactid&$filter=emailaddress1 eq 'moved@x.example'")
        assert [r["contactid"] for r in moved] == [cid for cid, _ in people[:10]]


def test_expand_and_party_cleanup_use_the_lookup_index():
    with Emulator(costs={"scan_row": 1}, time_scale=10_000) as emu:
        c = Client(emu)
        ids = [c.create("emails", {"subject": f"s{i}", "email_activity_parties": [
            {"participationtypemask": 1, "addressused": f"from{i}@x.example"},
            {"participationtypemask": 2, "addressused": f"to{i}@x.example"}]}) for i in range(15)]
        rows, n = examined(emu, f"emails?$select=subject&$filter=activityid eq {ids[3]}"
                                "&$expand=email_activity_parties($select=addressused;$filter=participationtypemask ge 1)")
        assert [p["addressused"] for p in rows[0]["email_activity_parties"]] == ["from3@x.example", "to3@x.example"]
        assert n == 1 + 2  # the email, then the nested filter over its two parties (not the other 28)
        assert c.patch(f"emails({ids[4]})", {"email_activity_parties": [
            {"participationtypemask": 1, "addressused": "new@x.example"}]}).status_code == 204
        assert c.delete(f"emails({ids[5]})").status_code == 204
        parties = emu.records("activityparty")
        assert len(parties) == 30 - 1 - 2
        assert sorted(p["addressused"] for p in parties if p["activityid"] == ids[4]) == ["new@x.example"]
