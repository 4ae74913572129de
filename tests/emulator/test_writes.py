"""Create, update, upsert, binds, validation errors and email rules — status codes and bodies."""

from __future__ import annotations

import uuid

import pytest

from .conftest import error_of

CID = "11111111-1111-1111-1111-111111111111"


# ------------------------------------------------------------------ create


def test_create_returns_204_with_entity_id_and_uses_client_id(client):
    r = client.post("contacts", {"contactid": CID, "firstname": "Ann", "lastname": "Lee"})
    assert r.status_code == 204
    assert r.text == ""
    assert r.headers["OData-EntityId"] == f"{client.root}contacts({CID})"
    assert "Location" not in r.headers  # only $batch parts carry Location
    rows = client.emu.records("contact")
    assert rows[0]["contactid"] == CID and rows[0]["fullname"] == "Ann Lee"
    assert rows[0]["statecode"] == 0 and rows[0]["statuscode"] == 1
    assert rows[0]["createdon"].endswith("Z")


def test_create_with_return_representation_is_201_with_body(client):
    r = client.post("accounts?$select=name,createdon", {"name": "Contoso"},
                    headers={"Prefer": "return=representation"})
    assert r.status_code == 201
    assert r.headers["Preference-Applied"] == "return=representation"
    assert "OData-EntityId" not in r.headers
    body = r.json()
    assert body["@odata.context"] == f"{client.root}$metadata#accounts(name,createdon)/$entity"
    assert body["name"] == "Contoso" and body["@odata.etag"].startswith('W/"')
    assert set(body) == {"@odata.context", "@odata.etag", "name", "createdon", "accountid"}


def test_create_with_existing_id_is_412_duplicate_record(client):
    client.create("contacts", {"contactid": CID})
    r = client.post("contacts", {"contactid": CID, "firstname": "again"})
    assert r.status_code == 412
    assert error_of(r) == ("0x80040237", "A record with matching key values already exists.")
    assert len(client.emu.records("contact")) == 1


def test_every_response_has_odata_version_and_dop_hint(client):
    for r in (client.get("contacts"), client.post("contacts", {"bogus": 1}), client.get("nothere")):
        assert r.headers["OData-Version"] == "4.0"
        assert int(r.headers["x-ms-dop-hint"]) >= 1


def test_unknown_column_is_400_invalid_property(client):
    r = client.post("accounts", {"Name": "wrong case"})
    assert r.status_code == 400
    assert error_of(r) == ("0x0", "An error occurred while validating input parameters: "
                                  "Microsoft.Crm.CrmException: Invalid property 'Name' was found in entity "
                                  "'Microsoft.Dynamics.CRM.account'. ---> Microsoft.OData.ODataException: "
                                  "Does not support untyped value in non-open type.")


def test_lookup_column_cannot_be_written_directly(client):
    aid = client.create("accounts", {"name": "A"})
    r = client.post("contacts", {"parentcustomerid": aid})
    assert r.status_code == 400 and "Invalid property 'parentcustomerid'" in error_of(r)[1]


@pytest.mark.parametrize("column,max_len,entity_set,logical", [
    ("firstname", 50, "contacts", "contact"), ("lastname", 50, "contacts", "contact"),
    ("emailaddress1", 100, "contacts", "contact"), ("name", 160, "accounts", "account"),
    ("websiteurl", 200, "accounts", "account"), ("subject", 800, "emails", "email"),
    ("messageid", 320, "emails", "email"),
])
def test_over_long_string_is_400_with_exact_message(client, column, max_len, entity_set, logical):
    ok = client.post(entity_set, {column: "x" * max_len})
    assert ok.status_code == 204, ok.text
    r = client.post(entity_set, {column: "x" * (max_len + 1)})
    assert r.status_code == 400
    assert error_of(r) == ("0x80044331", f"A validation error occurred.  The length of the '{column}' attribute "
                                         f"of the '{logical}' entity exceeded the maximum allowed length of "
                                         f"'{max_len}'.")


def test_addressused_max_length_is_320(client):
    r = client.post("emails", {"email_activity_parties": [{"participationtypemask": 2,
                                                           "addressused": "a" * 321}]})
    assert r.status_code == 400
    assert error_of(r)[1].endswith("The length of the 'addressused' attribute of the 'activityparty' entity "
                                   "exceeded the maximum allowed length of '320'.")
    assert client.emu.records("email") == [] and client.emu.records("activityparty") == []


@pytest.mark.parametrize("body,fragment", [
    ({"numberofemployees": "ten"}, "Cannot convert the literal 'ten' to the expected type 'Edm.Int32'."),
    ({"creditonhold": "yes"}, "Cannot convert the literal 'yes' to the expected type 'Edm.Boolean'."),
    ({"name": 5}, "Cannot convert a primitive value to the expected type 'Edm.String'."),
    ({"name": {"a": 1}}, "An unexpected 'StartObject' node was found"),
    ({"revenue": "lots"}, "Cannot convert the literal 'lots' to the expected type 'Edm.Decimal'."),
])
def test_wrong_type_is_400_payload_error(client, body, fragment):
    r = client.post("accounts", body)
    assert r.status_code == 400
    code, message = error_of(r)
    assert code == "0x80048d19"
    assert message.startswith("Error identified in Payload provided by the user for Entity :'accounts'")
    assert fragment in message


def test_picklist_value_outside_range(client):
    r = client.post("accounts", {"accountcategorycode": 7})
    assert r.status_code == 400
    assert error_of(r) == ("0x80044331", "A validation error occurred.  The value 7 of 'accountcategorycode' on "
                                         "record of type 'account' is outside the valid range. Accepted Values: 1,2")


def test_non_json_content_type_is_415(client):
    r = client.session.post(client.url("contacts"), data="firstname=x",
                            headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert r.status_code == 415


def test_unknown_entity_set_is_404_case_sensitive(client):
    r = client.get("Contacts")
    assert r.status_code == 404
    assert error_of(r) == ("0x8006088a", "Resource not found for the segment 'Contacts'.")


# ------------------------------------------------------------------ @odata.bind


def test_bind_sets_lookup_and_reads_back_as_value(client):
    aid = client.create("accounts", {"name": "Contoso"})
    cid = client.create("contacts", {"lastname": "L", "parentcustomerid_account@odata.bind": f"/accounts({aid})"})
    row = client.get(f"contacts({cid})?$select=_parentcustomerid_value").json()
    assert row["_parentcustomerid_value"] == aid
    assert client.emu.records("contact")[0]["parentcustomeridtype"] == "account"


@pytest.mark.parametrize("ref", ["/accounts({aid})", "accounts({aid})", "{root}accounts({aid})"])
def test_bind_accepts_relative_and_absolute_urls(client, ref):
    aid = client.create("accounts", {"name": "A"})
    cid = client.create("contacts", {"parentcustomerid_account@odata.bind": ref.format(aid=aid, root=client.root)})
    assert client.emu.records("contact")[0]["parentcustomerid"] == aid and cid


def test_bind_with_bare_lookup_name_is_400_undeclared_property(client):
    aid = client.create("accounts", {"name": "A"})
    r = client.post("contacts", {"parentcustomerid@odata.bind": f"/accounts({aid})"})
    assert r.status_code == 400
    code, message = error_of(r)
    assert code == "0x80048d19"
    assert "An undeclared property 'parentcustomerid' which only has property annotations in the payload but no " \
           "property value was found in the payload." in message


def test_bind_nav_names_are_case_sensitive(client):
    aid = client.create("accounts", {"name": "A"})
    r = client.post("contacts", {"ParentCustomerId_account@odata.bind": f"/accounts({aid})"})
    assert r.status_code == 400 and error_of(r)[0] == "0x80048d19"
    r = client.post("emails", {"Email_activity_parties": [{"participationtypemask": 2, "addressused": "a@b.c"}]})
    assert r.status_code == 400 and "Invalid property 'Email_activity_parties'" in error_of(r)[1]


def test_bind_to_missing_record_is_404(client):
    missing = str(uuid.UUID(int=5))
    r = client.post("contacts", {"parentcustomerid_account@odata.bind": f"/accounts({missing})"})
    assert r.status_code == 404
    assert error_of(r) == ("0x80040217", f"Entity 'account' With Id = {missing} Does Not Exist")
    assert client.emu.records("contact") == []


def test_bind_to_wrong_table_is_rejected(client):
    cid = client.create("contacts", {"lastname": "x"})
    r = client.post("contacts", {"parentcustomerid_account@odata.bind": f"/contacts({cid})"})
    assert r.status_code == 400 and error_of(r)[0] == "0x80048d19"


def test_bind_by_alternate_key(kclient):
    kclient.create("accounts", {"name": "A", "accountnumber": "AC-1"})
    cid = kclient.create("contacts", {"parentcustomerid_account@odata.bind": "/accounts(accountnumber='AC-1')"})
    assert kclient.emu.records("contact")[0]["parentcustomerid"] == kclient.emu.records("account")[0]["accountid"]
    r = kclient.post("contacts", {"parentcustomerid_account@odata.bind": "/accounts(accountnumber='nope')"})
    assert r.status_code == 404
    assert error_of(r) == ("0x80060891", "A record with the specified key values does not exist in account entity")
    assert cid


# ------------------------------------------------------------------ PATCH / upsert


def test_patch_missing_id_creates_with_that_id(client):
    r = client.patch(f"contacts({CID})", {"lastname": "New"})
    assert r.status_code == 204
    assert r.headers["OData-EntityId"] == f"{client.root}contacts({CID})"
    assert client.emu.records("contact")[0]["contactid"] == CID


def test_patch_existing_updates(client):
    client.create("contacts", {"contactid": CID, "lastname": "Old", "firstname": "F"})
    r = client.patch(f"contacts({CID})", {"lastname": "New"})
    assert r.status_code == 204
    row = client.emu.records("contact")[0]
    assert row["lastname"] == "New" and row["firstname"] == "F" and row["fullname"] == "F New"


def test_patch_if_match_star_prevents_create(client):
    r = client.patch(f"contacts({CID})", {"lastname": "x"}, headers={"If-Match": "*"})
    assert r.status_code == 404
    assert error_of(r) == ("0x80040217", f"Entity 'contact' With Id = {CID} Does Not Exist")
    assert client.emu.records("contact") == []


def test_patch_if_none_match_star_prevents_update(client):
    client.create("contacts", {"contactid": CID, "lastname": "Old"})
    r = client.patch(f"contacts({CID})", {"lastname": "x"}, headers={"If-None-Match": "*"})
    assert r.status_code == 412
    assert error_of(r) == ("0x80040237", "A record with matching key values already exists.")
    assert client.emu.records("contact")[0]["lastname"] == "Old"
    r = client.patch(f"contacts({uuid.UUID(int=9)})", {"lastname": "y"}, headers={"If-None-Match": "*"})
    assert r.status_code == 204


def test_if_none_match_null_is_not_a_condition(client):
    client.create("contacts", {"contactid": CID, "lastname": "Old"})
    r = client.patch(f"contacts({CID})", {"lastname": "x"}, headers={"If-None-Match": "null"})
    assert r.status_code == 204


def test_patch_etag_mismatch_is_412(client):
    client.create("contacts", {"contactid": CID, "lastname": "Old"})
    etag = client.get(f"contacts({CID})").json()["@odata.etag"]
    assert client.patch(f"contacts({CID})", {"lastname": "A"}, headers={"If-Match": etag}).status_code == 204
    r = client.patch(f"contacts({CID})", {"lastname": "B"}, headers={"If-Match": etag})
    assert r.status_code == 412
    assert error_of(r) == ("0x80060882", "The version of the existing record doesn't match the RowVersion "
                                         "property provided.")


def test_upsert_return_representation_201_then_200(client):
    h = {"Prefer": "return=representation"}
    assert client.patch(f"contacts({CID})", {"lastname": "a"}, headers=h).status_code == 201
    r = client.patch(f"contacts({CID})", {"lastname": "b"}, headers=h)
    assert r.status_code == 200 and r.json()["lastname"] == "b"


def test_upsert_by_alternate_key_creates_then_updates(kclient):
    url = "contacts(emailaddress1='o''brien@x.com')"
    r = kclient.patch(url, {"lastname": "O'Brien"})
    assert r.status_code == 204
    assert r.headers["OData-EntityId"] == f"{kclient.root}contacts(emailaddress1='o''brien@x.com')"
    row = kclient.emu.records("contact")[0]
    assert row["emailaddress1"] == "o'brien@x.com"  # '' unescaped, key column set from the URL
    assert kclient.patch(url, {"firstname": "Pat"}).status_code == 204
    rows = kclient.emu.records("contact")
    assert len(rows) == 1 and rows[0]["firstname"] == "Pat"


def test_alternate_key_lookup_is_case_insensitive(kclient):
    kclient.create("contacts", {"emailaddress1": "Ann@X.com"})
    assert kclient.patch("contacts(emailaddress1='ann@x.com')", {"lastname": "L"}).status_code == 204
    assert len(kclient.emu.records("contact")) == 1


def test_alternate_key_if_match_missing_is_404(kclient):
    r = kclient.patch("contacts(emailaddress1='none@x.com')", {"lastname": "x"}, headers={"If-Match": "*"})
    assert r.status_code == 404
    assert error_of(r) == ("0x80060891", "A record with the specified key values does not exist in contact entity")


def test_undeclared_alternate_key_is_400(client):
    r = client.patch("contacts(emailaddress1='a@x.com')", {"lastname": "x"})
    assert r.status_code == 400
    assert error_of(r)[1] == (
        "The key in the request URI is not valid for resource 'Microsoft.Dynamics.CRM.contact'. Ensure that the "
        "names and number of key properties match the declared or alternate key properties for the resource "
        "'Microsoft.Dynamics.CRM.contact'.")
    assert client.emu.records("contact") == []


@pytest.mark.parametrize("value", ["a+tag@x.com", "a/b", "a%b", "a*b", "a:b", "a<b", "a>b", "a&b", "a\\b", "a?b"])
def test_forbidden_characters_in_key_values_are_rejected(kclient, value):
    from urllib.parse import quote

    r = kclient.patch("contacts(emailaddress1='" + quote(value, safe="@") + "')", {"lastname": "x"})
    assert r.status_code == 400
    assert "potentially dangerous Request.Path" in error_of(r)[1]
    assert kclient.emu.records("contact") == []


def test_alternate_key_uniqueness_is_enforced(kclient):
    kclient.create("contacts", {"emailaddress1": "a@x.com"})
    r = kclient.post("contacts", {"emailaddress1": "A@x.com"})
    assert r.status_code == 412
    code, message = error_of(r)
    assert code == "0x80060892" and "contact_emailaddress1" in message
    other = kclient.create("contacts", {"emailaddress1": "b@x.com"})
    r = kclient.patch(f"contacts({other})", {"emailaddress1": "a@x.com"})
    assert r.status_code == 412 and error_of(r)[0] == "0x80060892"
    assert sorted(r["emailaddress1"] for r in kclient.emu.records("contact")) == ["a@x.com", "b@x.com"]


def test_delete(client):
    cid = client.create("contacts", {"lastname": "x"})
    assert client.delete(f"contacts({cid})").status_code == 204
    r = client.delete(f"contacts({cid})")
    assert r.status_code == 404 and error_of(r)[0] == "0x80040217"


def test_single_property_put_and_delete(client):
    cid = client.create("contacts", {"lastname": "x", "firstname": "f"})
    assert client.put(f"contacts({cid})/lastname", {"value": "y"}).status_code == 204
    assert client.get(f"contacts({cid})/lastname").json()["value"] == "y"
    assert client.delete(f"contacts({cid})/firstname").status_code == 204
    assert client.emu.records("contact")[0]["firstname"] is None


# ------------------------------------------------------------------ email rules


def _email_body(contact_id: str, opp_id: str | None = None) -> dict:
    body = {
        "activityid": "22222222-2222-2222-2222-222222222222",
        "subject": "Quarterly review",
        "description": "<p>hi</p>",
        "directioncode": False,
        "messageid": "<CAF=abc123@mail.example.com>",
        "actualstart": "2024-05-01T11:30:00+02:00",
        "email_activity_parties": [
            {"participationtypemask": 1, "partyid_contact@odata.bind": f"/contacts({contact_id})"},
            {"participationtypemask": 2, "addressused": "someone.unknown@example.org"},
            {"participationtypemask": 3, "partyid_contact@odata.bind": f"/contacts({contact_id})"},
        ],
    }
    if opp_id:
        body["regardingobjectid_opportunity_email@odata.bind"] = f"/opportunities({opp_id})"
    return body


def test_email_deep_insert_with_parties_and_regarding(client):
    cid = client.create("contacts", {"emailaddress1": "c@x.com"})
    acc = client.emu.seed("account", {"name": "A"})
    opp = client.emu.seed("opportunity", {"name": "Deal", "parentaccountid": acc})
    r = client.post("emails", _email_body(cid, opp))
    assert r.status_code == 204
    assert r.headers["OData-EntityId"].endswith("emails(22222222-2222-2222-2222-222222222222)")
    email = client.emu.records("email")[0]
    assert email["regardingobjectid"] == opp and email["regardingobjecttypecode"] == "opportunity"
    assert email["actualstart"] == "2024-05-01T09:30:00Z"  # offsets normalised to UTC
    assert email["statecode"] == 0 and email["statuscode"] == 1
    parties = client.emu.records("activityparty")
    assert len(parties) == 3 and all(p["activityid"] == email["activityid"] for p in parties)
    unresolved = [p for p in parties if p["partyid"] is None]
    assert unresolved[0]["addressused"] == "someone.unknown@example.org"  # stored as given, not resolved
    got = client.get(f"emails({email['activityid']})?$select=subject&$expand=email_activity_parties("
                     "$select=participationtypemask,addressused,_partyid_value)").json()
    assert {p["participationtypemask"] for p in got["email_activity_parties"]} == {1, 2, 3}
    assert {p["_partyid_value"] for p in got["email_activity_parties"]} == {cid, None}


def test_email_incident_regarding(client):
    inc = client.emu.seed("incident", {"title": "Broken", "ticketnumber": "CAS-01234-ABCDEF"})
    r = client.post("emails", {"subject": "s", "regardingobjectid_incident_email@odata.bind": f"/incidents({inc})"})
    assert r.status_code == 204
    r = client.post("emails", {"subject": "s", "regardingobjectid_incident@odata.bind": f"/incidents({inc})"})
    assert r.status_code == 400 and error_of(r)[0] == "0x80048d19"  # only the documented _email names


@pytest.mark.parametrize("party,fragment", [
    ({"participationtypemask": 5, "addressused": "a@b.c"}, "Accepted Values: 1,2,3,4"),
    ({"participationtypemask": 2}, "addressused"),
    ({"addressused": "a@b.c"}, "participationtypemask"),
    ({"participationtypemask": 2, "partyid_Contact@odata.bind": "/contacts(00000000-0000-0000-0000-000000000001)"},
     "undeclared property 'partyid_Contact'"),
])
def test_bad_activity_parties_are_rejected_and_nothing_is_written(client, party, fragment):
    r = client.post("emails", {"subject": "s", "email_activity_parties": [party]})
    assert r.status_code == 400
    assert fragment in error_of(r)[1]
    assert client.emu.records("email") == [] and client.emu.records("activityparty") == []


def test_party_bound_to_missing_contact_rolls_back_email(client):
    r = client.post("emails", {"subject": "s", "email_activity_parties": [
        {"participationtypemask": 1, "partyid_contact@odata.bind": f"/contacts({uuid.UUID(int=3)})"}]})
    assert r.status_code == 404
    assert client.emu.records("email") == []


def test_statecode_on_email_create_is_rejected_by_default(client):
    r = client.post("emails", {"subject": "s", "statecode": 1, "statuscode": 4})
    assert r.status_code == 400 and "statecode" in error_of(r)[1]
    assert client.emu.records("email") == []


def test_statecode_on_email_create_can_be_ignored():
    from mail2dataverse.emulator import Emulator
    from .conftest import Client

    with Emulator(statecode_on_create="ignore") as emu:
        c = Client(emu)
        assert c.post("emails", {"subject": "s", "statecode": 1}).status_code == 204
        assert emu.records("email")[0]["statecode"] == 0


def test_completed_email_is_read_only(client):
    eid = client.create("emails", {"subject": "s"})
    assert client.patch(f"emails({eid})", {"statecode": 1, "statuscode": 4}, headers={"If-Match": "*"}) \
        .status_code == 204
    row = client.emu.records("email")[0]
    assert (row["statecode"], row["statuscode"]) == (1, 4)
    r = client.patch(f"emails({eid})", {"subject": "changed"})
    assert r.status_code == 400 and "read-only" in error_of(r)[1]
    r = client.patch(f"emails({eid})", {"statecode": 1, "statuscode": 4})
    assert r.status_code == 400
    assert client.emu.records("email")[0]["subject"] == "s"


def test_status_must_match_state(client):
    eid = client.create("emails", {"subject": "s"})
    r = client.patch(f"emails({eid})", {"statecode": 1, "statuscode": 1})
    assert r.status_code == 400
    assert client.patch(f"emails({eid})", {"statecode": 1}).status_code == 204
    assert client.emu.records("email")[0]["statuscode"] == 2  # DefaultStatus of Completed


def test_email_parties_can_be_replaced_on_update(client):
    eid = client.create("emails", {"subject": "s", "email_activity_parties": [
        {"participationtypemask": 2, "addressused": "a@x.com"}]})
    r = client.patch(f"emails({eid})", {"email_activity_parties": [
        {"participationtypemask": 2, "addressused": "b@x.com"}, {"participationtypemask": 3, "addressused": "c@x.com"}]})
    assert r.status_code == 204
    assert sorted(p["addressused"] for p in client.emu.records("activityparty")) == ["b@x.com", "c@x.com"]


def test_activityparty_cannot_be_created_directly(client):
    r = client.post("activityparties", {"participationtypemask": 2, "addressused": "a@x.com"})
    assert r.status_code == 400 and error_of(r)[0] == "0x80040800"


def test_seed_and_read_back(client):
    uid = client.emu.seed("systemuser", {"internalemailaddress": "me@corp.com", "firstname": "Me"})
    inc = client.emu.seed("incident", {"title": "T"})
    assert client.emu.records("incident")[0]["ticketnumber"].startswith("CAS-")
    assert client.get(f"systemusers({uid})").json()["internalemailaddress"] == "me@corp.com" and inc
