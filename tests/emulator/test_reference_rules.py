"""Rules of the real service the emulator used to let through (issue 11 §3), over raw HTTP.

Each test names the rule, the status, the code and the message; docs/emulator.md's table of
modelled behaviour points at these tests. Where no source gives the exact wording, the test
pins the emulator's documented choice.
"""

from __future__ import annotations

import json

import pytest

from mail2dataverse.emulator import Emulator

from .conftest import Client, error_of

GUID = "00000000-0000-0000-0000-0000000000ab"


def _payload_inner(resp) -> str:
    code, message = error_of(resp)
    assert resp.status_code == 400 and code == "0x80048d19", resp.text
    return message.split("Microsoft.OData.ODataException: ", 1)[1]


# --- string lengths in UTF-16 code units --------------------------------------------------------


def test_string_length_counts_utf16_code_units_emoji_is_two(client):
    """firstname is MaxLength 50: 25 emoji are 50 code units (accepted), one more letter is 51."""
    client.create("contacts", {"firstname": "😀" * 25})
    r = client.post("contacts", {"firstname": "😀" * 25 + "a"})
    assert r.status_code == 400
    assert error_of(r) == ("0x80044331", "A validation error occurred.  The length of the 'firstname' attribute of "
                                         "the 'contact' entity exceeded the maximum allowed length of '50'.")


# --- date-times --------------------------------------------------------------------------------


def test_datetime_without_zone_is_refused(client):
    r = client.post("emails", {"subject": "s", "actualstart": "2024-05-01T09:30:00"})
    assert _payload_inner(r) == "Cannot convert the literal '2024-05-01T09:30:00' to the expected type " \
                                "'Edm.DateTimeOffset'."


def test_datetime_with_offset_is_stored_in_utc(client):
    rid = client.create("emails", {"subject": "s", "actualstart": "2024-05-01T09:30:00+02:00"})
    assert client.get(f"emails({rid})?$select=actualstart").json()["actualstart"] == "2024-05-01T07:30:00Z"


@pytest.mark.parametrize("entity_set,body", [
    ("emails", {"subject": "s", "actualstart": "1752-12-31T23:59:59Z"}),
    ("contacts", {"lastname": "x", "birthdate": "1700-01-01"}),
])
def test_dates_before_1753_are_refused(client, entity_set, body):
    r = client.post(entity_set, body)
    assert r.status_code == 400
    assert error_of(r) == ("0x80040239", "DateTime is less than minumum value supported by CrmDateTime")


def test_dateonly_column_takes_and_returns_yyyy_mm_dd(client):
    rid = client.create("contacts", {"lastname": "x", "birthdate": "1980-12-28"})
    assert client.get(f"contacts({rid})?$select=birthdate").json()["birthdate"] == "1980-12-28"
    r = client.post("contacts", {"lastname": "y", "birthdate": "1980-12-28T00:00:00Z"})
    assert _payload_inner(r) == "Cannot convert the literal '1980-12-28T00:00:00Z' to the expected type 'Edm.Date'."



@pytest.mark.parametrize("literal", ["2025-02-30", "2025-02-29", "2025-04-31", "2025-01-01\n", "\uff12025-01-01"])
def test_dateonly_column_refuses_a_day_the_calendar_lacks(client, emu, literal):
    """The pattern alone let 30 February (and a trailing newline, and non-ASCII digits) through;
    ODL reads Edm.Date as a calendar date, so an impossible one is a conversion error."""
    r = client.post("contacts", {"lastname": "x", "birthdate": literal})
    assert _payload_inner(r) == f"Cannot convert the literal '{literal}' to the expected type 'Edm.Date'."
    assert emu.records("contact") == []


@pytest.mark.parametrize("literal", ["2025-02-30T10:00:00Z", "2025-02-29T10:00:00+02:00", "2025-13-01T00:00:00Z",
                                     "2025-04-31T24:00:00Z"])
def test_datetime_column_refuses_a_day_the_calendar_lacks(client, emu, literal):
    r = client.post("emails", {"subject": "s", "actualstart": literal})
    assert _payload_inner(r) == f"Cannot convert the literal '{literal}' to the expected type 'Edm.DateTimeOffset'."
    assert emu.records("email") == []


def test_dateonly_column_takes_29_february_of_a_leap_year(client):
    rid = client.create("contacts", {"lastname": "x", "birthdate": "2024-02-29"})
    assert client.get(f"contacts({rid})?$select=birthdate").json()["birthdate"] == "2024-02-29"

# --- numeric ranges ----------------------------------------------------------------------------


@pytest.mark.parametrize("entity_set,column,value,message", [
    ("contacts", "numberofchildren", -1,
     "A validation error occurred for contact.numberofchildren. The value -1 of type System.Int32 is outside the "
     "valid range(0 to 1000000000)."),
    ("contacts", "address1_latitude", 91.5,
     "A validation error occurred for contact.address1_latitude. The value 91.5 of type System.Double is outside "
     "the valid range(-90 to 90)."),
    ("accounts", "creditlimit", -5,
     "A validation error occurred for account.creditlimit. The value -5 of type System.Decimal is outside the "
     "valid range(0 to 100000000000000)."),
])
def test_numeric_min_max_enforced(client, entity_set, column, value, message):
    r = client.post(entity_set, {column: value})
    assert r.status_code == 400
    assert error_of(r) == ("0x80044331", message)


def test_numeric_value_at_the_bounds_is_accepted(client):
    client.create("contacts", {"numberofchildren": 0, "address1_latitude": -90})
    client.create("contacts", {"numberofchildren": 1000000000, "address1_latitude": 90})


# --- statecode on create -----------------------------------------------------------------------


@pytest.mark.parametrize("entity_set,body", [
    ("contacts", {"lastname": "x"}), ("accounts", {"name": "x"}), ("emails", {"subject": "x"}),
    ("leads", {"lastname": "x"}), ("opportunities", {"name": "x"}), ("incidents", {"title": "x"}),
    ("queues", {"name": "x"}),
])
def test_statecode_on_create_is_refused_on_every_table_where_not_valid_for_create(client, entity_set, body):
    table = client.emu.tables[next(t for t in client.emu.tables if client.emu.tables[t].entity_set == entity_set)]
    r = client.post(entity_set, {**body, "statecode": 0})
    assert r.status_code == 400
    assert error_of(r) == ("0x80040203", f"'statecode' is not valid for create on entity '{table.logical}' "
                                         "(IsValidForCreate is False). Create the record, then update statecode "
                                         "and statuscode.")


def test_statecode_on_create_ignored_when_configured():
    with Emulator(statecode_on_create="ignore") as emu:
        c = Client(emu)
        rid = c.create("accounts", {"name": "x", "statecode": 1})
        assert c.get(f"accounts({rid})?$select=statecode").json()["statecode"] == 0


# --- $batch framing as the OData reader checks it ----------------------------------------------


def _batch(client, parts: str):
    return client.post("$batch", data=(parts + "--batch_B--\r\n").encode(),
                       headers={"Content-Type": "multipart/mixed; boundary=batch_B"})


def _get_part(headers: list[str], request_line: str = "GET /api/data/v9.2/contacts?$top=1 HTTP/1.1") -> str:
    return "\r\n".join(["--batch_B", *headers, "", request_line, "", ""])


def _batch_error(resp) -> tuple[str, str]:
    assert resp.status_code == 400, resp.text
    return error_of(resp)


def test_batch_part_without_content_transfer_encoding_is_refused(client):
    r = _batch(client, _get_part(["Content-Type: application/http"]))
    assert _batch_error(r) == ("0x80048d19", "A missing or invalid 'Content-Transfer-Encoding' header was found. "
                                             "The 'Content-Transfer-Encoding' header must be specified for each "
                                             "batch operation, and its value must be 'binary'.")


def test_batch_part_with_other_transfer_encoding_is_refused(client):
    r = _batch(client, _get_part(["Content-Type: application/http", "Content-Transfer-Encoding: base64"]))
    assert _batch_error(r)[1].startswith("A missing or invalid 'Content-Transfer-Encoding' header was found.")


def test_batch_request_line_must_be_http_1_1(client):
    r = _batch(client, _get_part(["Content-Type: application/http", "Content-Transfer-Encoding: binary"],
                                 "GET /api/data/v9.2/contacts HTTP/1.0"))
    assert _batch_error(r) == ("0x80048d19", "The HTTP version 'HTTP/1.0' used in a batch operation request or "
                                             "response is not valid. The value must be 'HTTP/1.1'.")


def test_batch_repeated_header_in_a_part_is_refused(client):
    part = _get_part(["Content-Type: application/http", "Content-Transfer-Encoding: binary",
                      "Content-Transfer-Encoding: binary"])
    assert _batch_error(_batch(client, part)) == (
        "0x80048d19", "The header 'Content-Transfer-Encoding' was specified multiple times. Each header must appear "
                      "only once in a batch part.")


def test_batch_repeated_header_in_the_inner_request_is_refused(client):
    part = "\r\n".join(["--batch_B", "Content-Type: application/http", "Content-Transfer-Encoding: binary", "",
                        "GET /api/data/v9.2/contacts HTTP/1.1", "Accept: application/json",
                        "accept: application/json", "", ""])
    assert _batch_error(_batch(client, part))[1] == (
        "The header 'accept' was specified multiple times. Each header must appear only once in a batch part.")


def test_batch_change_set_request_needs_content_id(client):
    body = {"lastname": "x"}
    inner = "\r\n".join(["--changeset_C", "Content-Type: application/http", "Content-Transfer-Encoding: binary", "",
                         "POST /api/data/v9.2/contacts HTTP/1.1", "Content-Type: application/json; type=entry", "",
                         json.dumps(body), "--changeset_C--", ""])
    parts = "--batch_B\r\nContent-Type: multipart/mixed; boundary=changeset_C\r\n\r\n" + inner
    assert _batch_error(_batch(client, parts)) == (
        "0x80048d19", "The header with name 'Content-ID' was not present in the header collection of the batch "
                      "operation.")
    assert client.emu.records("contact") == []


def test_batch_framing_error_runs_nothing(client):
    """The reader refuses the body before any part runs: an earlier valid create does not land."""
    good = "\r\n".join(["--batch_B", "Content-Type: application/http", "Content-Transfer-Encoding: binary", "",
                        "POST /api/data/v9.2/contacts HTTP/1.1", "Content-Type: application/json; type=entry", "",
                        json.dumps({"lastname": "first"}), ""])
    bad = _get_part(["Content-Type: application/http"])
    assert _batch(client, good + bad).status_code == 400
    assert client.emu.records("contact") == []


# --- contains / startswith / endswith are SQL LIKE ---------------------------------------------


@pytest.fixture
def like_rows(client):
    for name in ("PO_123", "PO-123", "POX123", "100% sure", "abc", "[x]", "b"):
        client.create("contacts", {"lastname": name})
    return client


def _names(client, flt):
    r = client.get("contacts?$select=lastname&$filter=" + flt)
    assert r.status_code == 200, r.text
    return sorted(v["lastname"] for v in r.json()["value"])


@pytest.mark.parametrize("flt,expected", [
    ("contains(lastname,'PO_123')", ["PO-123", "POX123", "PO_123"]),
    ("startswith(lastname,'PO%')", ["PO-123", "POX123", "PO_123"]),
    ("contains(lastname,'%')", ["100% sure", "PO-123", "POX123", "PO_123", "[x]", "abc", "b"]),
    ("endswith(lastname,'[ab]')", ["b"]),
    ("startswith(lastname,'[^P1]')", ["[x]", "abc", "b"]),
    ("contains(lastname,'[_]')", ["PO_123"]),
    ("contains(lastname,'[[]')", ["[x]"]),
])
def test_contains_startswith_endswith_treat_wildcards_as_sql_like(like_rows, flt, expected):
    assert _names(like_rows, flt) == expected


# --- disassociating a lookup on update -----------------------------------------------------------


@pytest.mark.parametrize("body", [{"parentcustomerid_account@odata.bind": None}, {"parentcustomerid_account": None}])
def test_null_bind_or_null_nav_in_update_disassociates(client, body):
    acc = client.create("accounts", {"name": "Contoso"})
    rid = client.create("contacts", {"lastname": "x", "parentcustomerid_account@odata.bind": f"/accounts({acc})"})
    assert client.get(f"contacts({rid})?$select=_parentcustomerid_value").json()["_parentcustomerid_value"] == acc
    r = client.patch(f"contacts({rid})", body, headers={"If-Match": "*"})
    assert r.status_code == 204, r.text
    got = client.get(f"contacts({rid})?$select=_parentcustomerid_value").json()
    assert got["_parentcustomerid_value"] is None
    assert client.emu.records("contact")[0]["parentcustomeridtype"] is None


# --- counts -------------------------------------------------------------------------------------


def test_count_segment_returns_a_plain_number(client):
    for i in range(3):
        client.create("contacts", {"lastname": f"n{i}"})
    r = client.get("contacts/$count")
    assert r.status_code == 200 and r.text == "3"
    assert r.headers["Content-Type"].startswith("text/plain")
    assert client.get("contacts/$count?$filter=lastname eq 'n1'").text == "1"


def test_count_annotations_under_include_annotations(client):
    for i in range(2):
        client.create("contacts", {"lastname": f"n{i}"})
    prefer = 'odata.include-annotations="Microsoft.Dynamics.CRM.totalrecordcount,' \
             'Microsoft.Dynamics.CRM.totalrecordcountlimitexceeded"'
    body = client.get("contacts?$select=lastname&$count=true", headers={"Prefer": prefer}).json()
    assert body["@odata.count"] == 2
    assert body["@Microsoft.Dynamics.CRM.totalrecordcount"] == 2
    assert body["@Microsoft.Dynamics.CRM.totalrecordcountlimitexceeded"] is False
    plain = client.get("contacts?$select=lastname&$count=true").json()
    assert "@Microsoft.Dynamics.CRM.totalrecordcount" not in plain
    star = client.get("contacts?$select=lastname&$count=true", headers={"Prefer": 'odata.include-annotations="*"'})
    assert star.json()["@Microsoft.Dynamics.CRM.totalrecordcount"] == 2


# --- bypassing custom logic needs the privilege ------------------------------------------------


@pytest.mark.parametrize("header,value,privilege", [
    ("MSCRM.BypassCustomPluginExecution", "true", "prvBypassCustomPlugins"),
    ("MSCRM.BypassBusinessLogicExecution", "CustomSync,CustomAsync", "prvBypassCustomBusinessLogic"),
])
def test_bypass_headers_refused_without_the_privilege(client, header, value, privilege):
    r = client.post("contacts", {"lastname": "x"}, headers={header: value})
    assert r.status_code == 403
    code, message = error_of(r)
    assert code == "0x80040220"
    assert f"is missing {privilege} privilege" in message
    assert client.emu.records("contact") == []


@pytest.mark.parametrize("header,value", [
    ("MSCRM.BypassCustomPluginExecution", "true"), ("MSCRM.BypassBusinessLogicExecution", "CustomSync"),
])
def test_bypass_headers_accepted_with_the_privilege(header, value):
    with Emulator(bypass_privilege=True) as emu:
        r = Client(emu).post("contacts", {"lastname": "x"}, headers={header: value})
        assert r.status_code == 204, r.text


def test_bypass_false_needs_no_privilege(client):
    assert client.post("contacts", {"lastname": "x"},
                       headers={"MSCRM.BypassCustomPluginExecution": "false"}).status_code == 204


def test_bypass_header_inside_a_batch_part_is_checked(client):
    part = "\r\n".join(["--batch_B", "Content-Type: application/http", "Content-Transfer-Encoding: binary", "",
                        "POST /api/data/v9.2/contacts HTTP/1.1", "Content-Type: application/json; type=entry",
                        "MSCRM.BypassCustomPluginExecution: true", "", json.dumps({"lastname": "x"}), ""])
    r = _batch(client, part)
    assert r.status_code == 400  # the batch stops at its failing part, which carries the 403
    assert "HTTP/1.1 403 Forbidden" in r.text and "prvBypassCustomPlugins" in r.text
    assert client.emu.records("contact") == []


# --- read-only states --------------------------------------------------------------------------


def test_inactive_contact_is_read_only_until_reactivated(client):
    """contact.md: "Inactive contacts are read-only and can't be edited unless they are reactivated." """
    rid = client.create("contacts", {"lastname": "x"})
    assert client.patch(f"contacts({rid})", {"statecode": 1, "statuscode": 2}).status_code == 204
    r = client.patch(f"contacts({rid})", {"lastname": "y"})
    assert r.status_code == 400
    assert error_of(r) == ("0x80040203", "This contact is inactive and is read-only; it can't be edited unless it "
                                         "is reactivated.")
    assert client.patch(f"contacts({rid})", {"statecode": 0, "statuscode": 1}).status_code == 204
    assert client.patch(f"contacts({rid})", {"lastname": "y"}).status_code == 204


def test_dateonly_column_filters_by_date(client):
    client.create("contacts", {"lastname": "a", "birthdate": "1980-12-28"})
    client.create("contacts", {"lastname": "b", "birthdate": "1990-01-02"})
    assert _names(client, "birthdate eq 1980-12-28") == ["a"]
    assert _names(client, "birthdate gt 1985-01-01") == ["b"]
