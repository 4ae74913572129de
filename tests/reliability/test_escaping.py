"""Escaping: any string survives key segments, ``$filter`` literals and ``In(...)`` values on its
way into the emulator and back, through single requests and through ``$batch`` (where the
planner's lookups travel), byte for byte.

The emulator parses what the client sends like the service does, so a quoting or
percent-encoding mistake shows up as a missing row, a different value or a 400.
"""

from __future__ import annotations

import uuid

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from fuzz_profiles import examples

from mail2dataverse import odata
from mail2dataverse.auth import StaticToken
from mail2dataverse.emulator import Emulator
from mail2dataverse.operations import Operation
from mail2dataverse.writers.webapi import WebApiClient

#: Any text the columns can hold: every code point but surrogates (not encodable in JSON as
#: UTF-8 text), with OData, URL and multipart syntax over-represented.
SPECIAL = st.sampled_from(list("'\"+%#&?/\\:*<>=()[]{},;$@! ~\t\r\n") + ["''", "%27", "%2B", "--batch", "\r\n\r\n", " eq ", "é", "😀", "\u202e", "\x00"])
TEXT = st.lists(st.one_of(st.text(st.characters(exclude_categories=("Cs",)), max_size=6), SPECIAL), max_size=12).map("".join)
#: lastname holds 50 characters (counted in UTF-16 units, as the service does, to be safe)
VALUES = TEXT.filter(lambda s: 0 < len(s.encode("utf-16-le")) // 2 <= 50)
FAST = settings(max_examples=examples(120), deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                          HealthCheck.too_slow])


def client_for(emu: Emulator) -> WebApiClient:
    """A client that fails fast: a dropped connection here is a bug, not weather."""
    return WebApiClient(emu.base_url, StaticToken("escaping"), max_retries=1, sleep=lambda s: None)


@pytest.fixture(scope="module")
def org():
    with Emulator() as emu, client_for(emu) as client:
        yield emu, client


@pytest.fixture(scope="module")
def keyed_org():
    with Emulator(alternate_keys=(("contact", "emailaddress1"),)) as emu, client_for(emu) as client:
        yield emu, client


def create(client: WebApiClient, value: str) -> str:
    """A contact holding ``value`` in lastname and emailaddress1; returns its id."""
    cid = str(uuid.uuid4())
    res = client.send(Operation("POST", "contacts", {"contactid": cid, "lastname": value, "emailaddress1": value}))
    assert res.ok, (res.status, res.error_code, res.error_message)
    return cid


def rows(res) -> list[dict]:
    assert res.ok, (res.status, res.error_code, res.error_message)
    return res.body["value"]


@FAST
@given(value=VALUES)
def test_filter_literal_round_trips(org, value):
    emu, client = org
    cid = create(client, value)
    path = odata.query("contacts", select=["contactid", "lastname"], filter=f"lastname eq {odata.literal(value)}")
    single = rows(client.send(Operation("GET", path)))
    batched = rows(client.execute([Operation("GET", path)])[0])
    for found in (single, batched):
        mine = [r for r in found if r["contactid"] == cid]
        assert mine and mine[0]["lastname"] == value


@FAST
@given(values=st.lists(VALUES, min_size=1, max_size=5))
def test_in_filter_values_round_trip(org, values):
    emu, client = org
    ids = {create(client, v): v for v in values}
    path = odata.query("contacts", select=["contactid", "emailaddress1"], filter=odata.in_filter("emailaddress1", values))
    for res in (client.send(Operation("GET", path)), client.execute([Operation("GET", path)])[0]):
        found = {r["contactid"]: r["emailaddress1"] for r in rows(res)}
        for cid, v in ids.items():
            assert found.get(cid) == v


@FAST
@given(value=VALUES.filter(odata.key_segment_ok))
@example(value="\u0e00")  # the emulator echoed it raw in OData-EntityId and dropped the connection
@example(value="o'brien@x.example")
def test_key_segment_round_trips(keyed_org, value):
    emu, client = keyed_org
    path = odata.key_path("contacts", "emailaddress1", value)
    # An upsert by key creates or updates the row; a GET by the same key reads it back.
    for res in (client.send(Operation("PATCH", path, {"lastname": value})),
                client.execute([Operation("PATCH", path, {"lastname": value})])[0]):
        assert res.ok, (res.status, res.error_code, res.error_message)
    got = client.send(Operation("GET", path + "?$select=emailaddress1,lastname"))
    assert got.ok, (got.status, got.error_code, got.error_message)
    assert got.body["emailaddress1"] == value and got.body["lastname"] == value
    assert [r["emailaddress1"] for r in emu.records("contact")].count(value) == 1


@FAST
@given(value=TEXT.filter(lambda s: not odata.key_segment_ok(s) and len(s) <= 100))
def test_values_unfit_for_a_key_segment_are_refused_by_the_key_check(value):
    # The planner relies on key_segment_ok to route such values to $filter and ids instead.
    assert any(ch in odata.KEY_FORBIDDEN for ch in value)
