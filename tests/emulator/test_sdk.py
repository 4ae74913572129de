"""The official Python SDK (PowerPlatform-Dataverse-Client) as a second, independent client.

It refuses http:// base URLs, so the emulator runs with tls=True and the SDK trusts the
emulator's CA through REQUESTS_CA_BUNDLE. Nothing in the SDK is patched: if it works here
unchanged, the emulator speaks the protocol the SDK was written against.
"""

from __future__ import annotations

import time

import pytest

from mail2dataverse.emulator import Emulator

# The official SDK is a test dependency (pyproject's [test] extra): missing, this file fails.
import PowerPlatform.Dataverse.client as sdk
from azure.core.credentials import AccessToken
from PowerPlatform.Dataverse.models.upsert import UpsertItem


class FakeCredential:
    """Any object with get_token() satisfies the SDK's TokenCredential protocol."""

    def __init__(self):
        self.scopes = []

    def get_token(self, *scopes, **kwargs):
        self.scopes.append(scopes)
        return AccessToken("sdk-token", int(time.time()) + 3600)


@pytest.fixture
def tls_emu(monkeypatch):
    with Emulator(tls=True, alternate_keys=(("contact", "emailaddress1"),)) as emu:
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", emu.ca_file)
        yield emu


@pytest.fixture
def dv(tls_emu):
    client = sdk.DataverseClient(tls_emu.base_url, FakeCredential())
    yield client
    client.close()


def test_sdk_rejects_plain_http(emu):
    with pytest.raises(ValueError):
        sdk.DataverseClient(emu.base_url, FakeCredential())


def test_sdk_create_and_update(dv, tls_emu):
    cid = dv.records.create("contact", {"firstname": "Ada", "lastname": "Lovelace", "emailaddress1": "ada@x.com"})
    row = {r["contactid"]: r for r in tls_emu.records("contact")}[cid]
    assert row["fullname"] == "Ada Lovelace"
    dv.records.update("contact", cid, {"jobtitle": "Analyst"})
    assert tls_emu.records("contact")[0]["jobtitle"] == "Analyst"
    fetched = dv.records.retrieve("contact", cid, select=["fullname", "jobtitle"])
    assert fetched["fullname"] == "Ada Lovelace"


def test_sdk_update_of_missing_record_raises_404(dv):
    from PowerPlatform.Dataverse.core.errors import HttpError

    with pytest.raises(HttpError) as info:
        dv.records.update("contact", "00000000-0000-0000-0000-00000000abcd", {"jobtitle": "x"})
    assert info.value.status_code == 404


def test_sdk_upsert_by_alternate_key(dv, tls_emu):
    dv.records.upsert("contact", [UpsertItem(alternate_key={"emailaddress1": "o'brien@x.com"},
                                             record={"lastname": "O'Brien"})])
    dv.records.upsert("contact", [UpsertItem(alternate_key={"emailaddress1": "o'brien@x.com"},
                                             record={"firstname": "Pat"})])
    (row,) = tls_emu.records("contact")
    assert (row["emailaddress1"], row["fullname"]) == ("o'brien@x.com", "Pat O'Brien")


def test_sdk_create_multiple_and_upsert_multiple(dv, tls_emu):
    ids = dv.records.create("contact", [{"lastname": f"L{i}", "emailaddress1": f"u{i}@x.com"} for i in range(3)])
    assert len(ids) == 3 and {r["contactid"] for r in tls_emu.records("contact")} == set(ids)
    dv.records.upsert("contact", [
        UpsertItem(alternate_key={"emailaddress1": "u0@x.com"}, record={"lastname": "changed"}),
        UpsertItem(alternate_key={"emailaddress1": "new@x.com"}, record={"lastname": "new"}),
    ])
    rows = {r["emailaddress1"]: r["lastname"] for r in tls_emu.records("contact")}
    assert rows == {"u0@x.com": "changed", "u1@x.com": "L1", "u2@x.com": "L2", "new@x.com": "new"}


def test_sdk_batch_with_change_set(dv, tls_emu):
    batch = dv.batch.new()
    with batch.changeset() as cs:
        account_ref = cs.records.create("account", {"name": "Babbage Ltd"})
        contact_ref = cs.records.create("contact", {"lastname": "Babbage",
                                                    "parentcustomerid_account@odata.bind": account_ref})
        cs.records.update("contact", contact_ref, {"firstname": "Charles"})
    batch.records.create("contact", {"lastname": "outside"})
    result = batch.execute()
    assert not result.has_errors, [(r.status_code, r.error_message) for r in result.responses]
    assert [r.status_code for r in result.responses] == [204, 204, 204, 204]
    account = tls_emu.records("account")[0]
    contacts = {c["lastname"]: c for c in tls_emu.records("contact")}
    assert contacts["Babbage"]["parentcustomerid"] == account["accountid"]
    assert contacts["Babbage"]["fullname"] == "Charles Babbage" and "outside" in contacts


def test_sdk_batch_change_set_failure_rolls_back(dv, tls_emu):
    batch = dv.batch.new()
    with batch.changeset() as cs:
        cs.records.create("contact", {"lastname": "fine"})
        cs.records.create("contact", {"lastname": "x" * 51})
    result = batch.execute(continue_on_error=True)
    assert result.has_errors
    assert [r.status_code for r in result.responses] == [400]
    assert result.responses[0].error_code == "0x80044331"
    assert tls_emu.records("contact") == []
