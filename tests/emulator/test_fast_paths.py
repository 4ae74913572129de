"""The emulator's cheap paths answer exactly what the general ones do.

Each write, part and value has a fast path (rows shared with the undo journal instead of copied,
indexes moved only for the columns that changed, one id map, remembered date-times and header
blocks, one pattern for an ``In`` list). These tests pin what those must keep: a rolled-back
change set restores rows and indexes, a generated id never repeats a stored one, a refused value
is refused every time, and malformed input gets the same error as before.
"""

from __future__ import annotations

import json
import uuid

import pytest

from mail2dataverse.emulator import Emulator, batch, errors
from mail2dataverse.emulator.filters import _scan_array
from mail2dataverse.emulator.references import WriteContext
from mail2dataverse.emulator.values import GUID_RE, is_guid, normalize_datetime, uuid4_text

from .conftest import Client


@pytest.fixture
def keyed():
    with Emulator(alternate_keys=(("contact", "emailaddress1"),)) as e:
        yield e


def _changeset(parts: list[str]) -> tuple[bytes, str]:
    inner = "".join(
        f"--cs\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: binary\r\nContent-ID: {i + 1}\r\n\r\n{p}\r\n"
        for i, p in enumerate(parts)) + "--cs--"
    body = f'--b\r\nContent-Type: multipart/mixed; boundary="cs"\r\n\r\n{inner}\r\n--b--\r\n'
    return body.encode(), 'multipart/mixed; boundary="b"'


def test_failed_changeset_restores_updated_rows_and_their_indexes(keyed):
    c = Client(keyed)
    rid = c.create("contacts", {"lastname": "Before", "emailaddress1": "old@x.example"})
    before = keyed.records("contact")[0]
    body, ctype = _changeset([
        f"PATCH /api/data/v9.2/contacts({rid}) HTTP/1.1\r\nContent-Type: application/json\r\n\r\n"
        '{"lastname": "After", "emailaddress1": "new@x.example"}',
        "POST /api/data/v9.2/contacts HTTP/1.1\r\nContent-Type: application/json\r\n\r\n{\"nosuchcolumn\": 1}",
    ])
    r = c.session.post(c.root + "$batch", data=body, headers={"Content-Type": ctype})
    assert r.status_code == 400 and b"nosuchcolumn" in r.content
    assert keyed.records("contact") == [before]
    # The alternate key and the value index point at the old value again, not the new one.
    assert c.get("contacts(emailaddress1='old@x.example')?$select=lastname").json()["lastname"] == "Before"
    assert c.get("contacts(emailaddress1='new@x.example')").status_code == 404
    found = c.get("contacts?$select=lastname&$filter=emailaddress1 eq 'new@x.example'").json()["value"]
    assert found == []
    # The key is free again: another contact may take the value the rolled-back update held.
    c.create("contacts", {"lastname": "Other", "emailaddress1": "new@x.example"})


def test_an_update_moves_only_the_changed_index_entries(keyed):
    c = Client(keyed)
    rid = c.create("contacts", {"lastname": "A", "emailaddress1": "a@x.example", "emailaddress2": "keep@x.example"})
    assert c.patch(f"contacts({rid})", {"emailaddress1": "b@x.example"}).status_code == 204
    by = lambda col, v: [row["contactid"] for row in c.get(  # noqa: E731 - a local shorthand
        f"contacts?$select=contactid&$filter={col} eq '{v}'").json()["value"]]
    assert by("emailaddress1", "a@x.example") == []
    assert by("emailaddress1", "B@X.example") == [rid]
    assert by("emailaddress2", "keep@x.example") == [rid]
    # The freed key value can be used by another row; the taken one cannot.
    c.create("contacts", {"lastname": "B", "emailaddress1": "a@x.example"})
    assert c.post("contacts", {"lastname": "C", "emailaddress1": "b@x.example"}).status_code == 412


def test_a_stored_row_is_never_changed_by_a_later_write():
    with Emulator() as emu:
        store = emu.store
        rid = store.create(store.tables["contact"], {"lastname": "One"}, WriteContext(service_root=emu.service_root))
        first = store.rows["contact"][rid]
        snapshot = dict(first)
        store.update(store.tables["contact"], rid, {"lastname": "Two"}, WriteContext(service_root=emu.service_root))
        assert first == snapshot  # the journal may hold it: writes replace rows, never edit them
        assert store.rows["contact"][rid]["lastname"] == "Two"


def test_generated_ids_skip_every_stored_id_and_forget_removed_ones():
    with Emulator(seed=3) as emu:
        table_rows = emu.store.table_rows
        # The ids seed 3 draws next: store the first as an account, so a contact create must skip it.
        probe = Emulator(seed=3)
        taken = probe.store.new_id()
        emu.seed("account", {"accountid": taken, "name": "Holds the next id"})
        rid = emu.store.create(emu.tables["contact"], {"lastname": "x"}, WriteContext(service_root=emu.service_root))
        assert rid != taken and table_rows.holds(taken) and table_rows.holds(rid)
        emu.store.delete(emu.tables["contact"], rid)
        assert not table_rows.holds(rid)
        # A create rolled back with its change set leaves no id behind.
        with pytest.raises(errors.ODataError):
            with emu.store.changeset():
                made = emu.store.create(emu.tables["contact"], {"lastname": "y"},
                                        WriteContext(service_root=emu.service_root))
                assert table_rows.holds(made)
                raise errors.bad_request("undo")
        assert not table_rows.holds(made) and made not in emu.store.rows["contact"]


def test_uuid4_text_is_uuid4_formatting():
    for bits in (0, 2**128 - 1, 0x0123456789ABCDEF0123456789ABCDEF, *(uuid.uuid4().int for _ in range(200))):
        assert uuid4_text(bits) == str(uuid.UUID(int=bits, version=4))
    drawn = uuid.UUID(uuid4_text())
    assert drawn.version == 4 and drawn.variant == uuid.RFC_4122


@pytest.mark.parametrize("text", ["cd142ab0-12ca-5943-ac01-86d4a90aa6a6", "CD142AB0-12CA-5943-AC01-86D4A90AA6A6",
                                  "cd142ab0-12ca-5943-ac01-86d4a90aa6a6\n", "cd142ab0-12ca-5943-ac01-86d4a90aa6a",
                                  "cd142ab0-12ca-5943-ac01-86d4a90aa6a6x", "cd142ab012ca-5943-ac01-86d4a90aa6a6-",
                                  "gd142ab0-12ca-5943-ac01-86d4a90aa6a6", ""])
def test_is_guid_accepts_what_the_anchored_pattern_accepts(text):
    assert is_guid(text) == bool(GUID_RE.match(text))


def test_a_refused_datetime_is_refused_every_time():
    for _ in range(2):  # the second call must not find a remembered answer
        with pytest.raises(ValueError):
            normalize_datetime("2025-02-30T10:00:00Z", require_zone=True)
        with pytest.raises(ValueError):
            normalize_datetime("2025-06-27T10:00:00", require_zone=True)
    assert normalize_datetime("2025-06-27T10:00:00", require_zone=False) == "2025-06-27T10:00:00Z"
    assert normalize_datetime("2025-06-27T12:00:00+02:00", require_zone=True) == "2025-06-27T10:00:00Z"
    assert normalize_datetime("2025-06-27T10:00:00Z", require_zone=True) == "2025-06-27T10:00:00Z"


def test_payload_datetimes_refused_on_every_write(emu):
    c = Client(emu)
    for _ in range(2):
        r = c.post("emails", {"subject": "x", "actualstart": "2025-02-30T10:00:00Z"})
        assert r.status_code == 400 and "Cannot convert the literal '2025-02-30T10:00:00Z'" in r.text


@pytest.mark.parametrize("text,end", [('["a","b"]', 9), ('["a]b","c"]', 11), ('["q\\"]",1]', 10), ("['x]", 4),
                                      ("[]", 2), ('["a\\\\"]', 7)])
def test_in_list_scan_ends_where_the_list_ends(text, end):
    assert _scan_array(text + " rest", 0) == end


@pytest.mark.parametrize("text", ['["a', '["a\\"]', '[1,2', '["a"', '["\\'])
def test_in_list_scan_reports_an_unterminated_literal(text):
    with pytest.raises(errors.ODataError) as info:
        _scan_array(text, 0)
    assert f"There is an unterminated literal at position {len(text)}" in info.value.body().decode()


def test_repeated_header_blocks_are_each_checked():
    good = b"Content-Type: application/json\r\nX-A: 1"
    assert batch._headers(good) == {"content-type": "application/json", "x-a": "1"}
    first = batch._headers(good)
    first["x-a"] = "changed"  # the caller's copy: what is remembered stays as read
    assert batch._headers(good)["x-a"] == "1"
    for _ in range(2):
        with pytest.raises(errors.ODataError):
            batch._headers(b"X-A: 1\r\nx-a: 2")
        with pytest.raises(errors.ODataError):
            batch._headers(b"X-A: 1\nX-B: 2")


def test_every_part_of_a_large_batch_is_answered_in_order(emu):
    c = Client(emu)
    parts = [f"POST /api/data/v9.2/contacts HTTP/1.1\r\nContent-Type: application/json\r\n\r\n"
             f"{json.dumps({'lastname': f'n{i}', 'emailaddress1': f'p{i}@x.example'})}" for i in range(300)]
    body, ctype = _changeset(parts)
    r = c.session.post(c.root + "$batch", data=body, headers={"Content-Type": ctype})
    assert r.status_code == 200
    assert r.content.count(b"HTTP/1.1 204 No Content") == 300
    names = [row["lastname"] for row in sorted(emu.records("contact"), key=lambda row: int(row["lastname"][1:]))]
    assert names == [f"n{i}" for i in range(300)]


def test_a_remembered_reference_is_looked_up_again_each_time(emu):
    # The text "/accounts(id)" is read once; whether the row exists is checked on every bind.
    c = Client(emu)
    rid = c.create("accounts", {"name": "Bound"})
    body = {"lastname": "s", "parentcustomerid_account@odata.bind": f"/accounts({rid})"}
    assert c.post("contacts", body).status_code == 204
    assert c.delete(f"accounts({rid})").status_code == 204
    r = c.post("contacts", body)
    assert r.status_code == 404 and rid in r.json()["error"]["message"]


def test_an_update_that_changes_an_indexed_value_only_in_type_reindexes_it():
    # 1 == True, so the tuples of indexed values compare equal; the types tell them apart and
    # the walk moves the entry, as it did before the quick comparison.
    with Emulator() as emu:
        rows = emu.store.table_rows
        rows._index_column("contact", "numberofchildren")
        rid = emu.seed("contact", {"lastname": "x"})
        old = dict(rows.rows["contact"][rid], numberofchildren=True)
        rows.rows["contact"][rid] = old
        rows.index_add("contact", old)
        rows.put("contact", dict(old, numberofchildren=1))
        idx = rows._value_index["contact"]["numberofchildren"]
        assert list(idx) == [1] and type(next(iter(idx))) is int and idx[1] == {rid: None}


def test_change_set_part_headers_are_checked_for_every_new_block(emu):
    c = Client(emu)
    good = "POST /api/data/v9.2/contacts HTTP/1.1\r\nContent-Type: application/json\r\n\r\n{\"lastname\": \"a\"}"
    body, ctype = _changeset([good, good])
    assert c.session.post(c.root + "$batch", data=body, headers={"Content-Type": ctype}).status_code == 200
    # The same Content-ID with another encoding is another block: refused, though Content-ID 1's
    # block passed a moment ago.
    bad = body.replace(b"binary\r\nContent-ID: 2", b"base64\r\nContent-ID: 2")
    r = c.session.post(c.root + "$batch", data=bad, headers={"Content-Type": ctype})
    assert r.status_code == 400 and b"Content-Transfer-Encoding" in r.content
    assert len(emu.records("contact")) == 2


def test_content_id_targets_resolve_like_the_absolute_url(emu):
    # "$1" is read as the root + what Content-ID 1 created; its query and further segments too.
    c = Client(emu)
    parts = ["POST /api/data/v9.2/contacts HTTP/1.1\r\nContent-Type: application/json\r\n\r\n{\"lastname\": \"a\"}",
             "PATCH $1 HTTP/1.1\r\nContent-Type: application/json\r\n\r\n{\"firstname\": \"b\"}",
             "PUT $1/jobtitle HTTP/1.1\r\nContent-Type: application/json\r\n\r\n{\"value\": \"c\"}"]
    body, ctype = _changeset(parts)
    r = c.session.post(c.root + "$batch", data=body, headers={"Content-Type": ctype})
    assert r.status_code == 200 and r.content.count(b"HTTP/1.1 204 No Content") == 3
    (row,) = emu.records("contact")
    assert (row["lastname"], row["firstname"], row["jobtitle"], row["fullname"]) == ("a", "b", "c", "b a")


def test_a_model_that_charges_nothing_skips_the_meter_and_one_that_charges_does_not():
    from mail2dataverse.emulator import costs

    free = costs.RequestMeter(costs.CostModel.build("none"))
    priced = costs.RequestMeter(costs.CostModel.build("none", {"create.contact": 0.5}), limit=0.7)
    with costs.metering(free):
        costs.write("create", "contact")
        assert costs.priced_meter() is None and free.by_kind == {}
    with costs.metering(priced):
        costs.write("create", "contact")
        assert costs.priced_meter() is priced and priced.total == 0.5
        with pytest.raises(costs.RequestTimedOut):
            costs.write("create", "contact")  # past the limit, as before


@pytest.mark.parametrize("text", ['{"a":1}', ' {"a":1}', '{"a":1} ', '{"a":1}x', '[1,2]', '"s"', "null", '{"a":', "1 2",
                                  '{"a":1,"a":2}', "{}\n", "nul", '{"a":1}}', '\t{"b":[1,{"c":2}]}\r\n'])
def test_bodies_without_surrounding_whitespace_decode_as_decode_does(text):
    from mail2dataverse.emulator.wire import _BODY_DECODER, _decode

    def outcome(decode):
        try:
            return "ok", decode(text)
        except Exception as exc:  # noqa: BLE001 - the very error (type and message) is compared
            return type(exc).__name__, str(exc)

    assert outcome(_decode) == outcome(_BODY_DECODER.decode)
