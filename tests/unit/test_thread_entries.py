"""The thread map's entries (planner/threads.py): an activity id packs and unpacks as uuid.UUID reads it."""

from __future__ import annotations

import uuid

import pytest

from mail2dataverse.planner.threads import _Entries, _guid_bytes

GUID = "27d6c7a7-a9ef-503d-88c2-8bb9a7e2e09c"


@pytest.mark.parametrize("text", [
    GUID, GUID.upper(), "{" + GUID + "}", GUID.replace("-", ""), "urn:uuid:" + GUID,
    # 36 characters with the dashes in place, but not 32 hex digits: left to uuid.UUID
    GUID[:9] + " " + GUID[10:], GUID[:9] + "g" + GUID[10:], GUID[:35] + "\n", GUID[:9] + "_" + GUID[10:],
    "not-a-guid", "", "<m1@x.example>",
])
def test_the_fast_reading_agrees_with_uuid(text):
    try:
        expected = uuid.UUID(text).bytes
    except ValueError:
        expected = None
    assert _guid_bytes(text) == expected


def test_an_entry_gives_back_the_canonical_id_and_the_regarding_bind():
    entries = _Entries()
    bind = ("regardingobjectid_opportunity_email@odata.bind", "/opportunities(1)")
    assert entries.unpack(entries.pack(GUID.upper(), bind)) == (GUID, bind)
    assert entries.unpack(entries.pack("odd-id", None)) == ("odd-id", None)  # not a GUID: kept as it is
