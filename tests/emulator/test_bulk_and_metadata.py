"""CreateMultiple / UpdateMultiple / UpsertMultiple and the EntityDefinitions queries."""

from __future__ import annotations

import uuid

from .conftest import error_of

T = "Microsoft.Dynamics.CRM.contact"


def test_create_multiple_returns_ids_and_honours_client_ids(client):
    given = str(uuid.uuid4())
    r = client.post("contacts/Microsoft.Dynamics.CRM.CreateMultiple", {"Targets": [
        {"@odata.type": T, "lastname": "a", "contactid": given}, {"@odata.type": T, "lastname": "b"}]})
    assert r.status_code == 200
    body = r.json()
    assert body["@odata.context"] == f"{client.root}$metadata#Microsoft.Dynamics.CRM.CreateMultipleResponse"
    assert body["Ids"][0] == given and len(body["Ids"]) == 2
    assert sorted(c["lastname"] for c in client.emu.records("contact")) == ["a", "b"]


def test_create_multiple_is_all_or_nothing(client):
    r = client.post("contacts/Microsoft.Dynamics.CRM.CreateMultiple", {"Targets": [
        {"@odata.type": T, "lastname": "a"}, {"@odata.type": T, "lastname": "b" * 51}]})
    assert r.status_code == 400 and error_of(r)[0] == "0x80044331"
    assert client.emu.records("contact") == []


def test_create_multiple_requires_odata_type(client):
    r = client.post("contacts/Microsoft.Dynamics.CRM.CreateMultiple", {"Targets": [{"lastname": "a"}]})
    assert r.status_code == 400
    assert "A resource without a type name was found" in error_of(r)[1]


def test_bulk_messages_are_not_supported_on_email(client):
    for action in ("CreateMultiple", "UpdateMultiple", "UpsertMultiple"):
        r = client.post(f"emails/Microsoft.Dynamics.CRM.{action}",
                        {"Targets": [{"@odata.type": "Microsoft.Dynamics.CRM.email", "subject": "s"}]})
        assert r.status_code == 400
        assert error_of(r) == ("0x80040800", f"The '{action}' method does not support entities of type 'email'. "
                                             "MessageProcessorCache returned MessageProcessor.Empty.")
    assert client.emu.records("email") == []


def test_update_multiple(client):
    a = client.create("contacts", {"lastname": "a"})
    b = client.create("contacts", {"lastname": "b"})
    r = client.post("contacts/Microsoft.Dynamics.CRM.UpdateMultiple", {"Targets": [
        {"@odata.type": T, "contactid": a, "firstname": "A"}, {"@odata.type": T, "contactid": b, "firstname": "B"}]})
    assert r.status_code == 204
    assert sorted(c["fullname"] for c in client.emu.records("contact")) == ["A a", "B b"]
    missing = str(uuid.uuid4())
    r = client.post("contacts/Microsoft.Dynamics.CRM.UpdateMultiple", {"Targets": [
        {"@odata.type": T, "contactid": a, "firstname": "X"}, {"@odata.type": T, "contactid": missing}]})
    assert r.status_code == 404
    assert client.emu.records("contact")[0]["firstname"] == "A"  # rolled back


def test_upsert_multiple_by_alternate_key_and_pk(kclient):
    existing = kclient.create("contacts", {"emailaddress1": "old@x.com", "lastname": "Old"})
    pk = str(uuid.uuid4())
    r = kclient.post("contacts/Microsoft.Dynamics.CRM.UpsertMultiple", {"Targets": [
        {"@odata.type": T, "@odata.id": "contacts(emailaddress1='old@x.com')", "lastname": "Updated"},
        {"@odata.type": T, "@odata.id": "contacts(emailaddress1='new@x.com')", "lastname": "New"},
        {"@odata.type": T, "contactid": pk, "lastname": "ByPk"},
    ]})
    assert r.status_code == 204, r.text
    rows = {c["emailaddress1"]: c for c in kclient.emu.records("contact")}
    assert rows["old@x.com"]["contactid"] == existing and rows["old@x.com"]["lastname"] == "Updated"
    assert rows["new@x.com"]["lastname"] == "New"
    assert rows[None]["contactid"] == pk


def test_upsert_multiple_key_column_repeated_in_body_on_create_is_unexpected_error(kclient):
    r = kclient.post("contacts/Microsoft.Dynamics.CRM.UpsertMultiple", {"Targets": [
        {"@odata.type": T, "@odata.id": "contacts(emailaddress1='n@x.com')", "emailaddress1": "n@x.com"}]})
    assert r.status_code == 400
    assert error_of(r) == ("0x80040216", "An unexpected error occurred.")


def test_upsert_multiple_undeclared_key_and_duplicates(client, kclient):
    r = client.post("contacts/Microsoft.Dynamics.CRM.UpsertMultiple", {"Targets": [
        {"@odata.type": T, "@odata.id": "contacts(emailaddress1='a@x.com')", "lastname": "x"}]})
    assert r.status_code == 400 and "The key in the request URI is not valid" in error_of(r)[1]
    r = kclient.post("contacts/Microsoft.Dynamics.CRM.UpsertMultiple", {"Targets": [
        {"@odata.type": T, "@odata.id": "contacts(emailaddress1='a@x.com')", "lastname": "x"},
        {"@odata.type": T, "@odata.id": "contacts(emailaddress1='A@x.com')", "lastname": "y"}]})
    assert r.status_code == 400
    assert kclient.emu.records("contact") == []


# ------------------------------------------------------------------ metadata


def test_entity_definitions_query_used_by_the_sdk(client):
    r = client.get("EntityDefinitions?$select=LogicalName,EntitySetName,PrimaryIdAttribute"
                   "&$filter=LogicalName eq 'contact'")
    assert r.status_code == 200
    (item,) = r.json()["value"]
    assert item["EntitySetName"] == "contacts" and item["PrimaryIdAttribute"] == "contactid"
    assert item["LogicalName"] == "contact" and "MetadataId" in item


def test_entity_definition_attributes_and_keys(kclient):
    r = kclient.get("EntityDefinitions(LogicalName='email')/Attributes(LogicalName='subject')")
    assert r.json()["MaxLength"] == 800 and r.json()["AttributeType"] == "String"
    r = kclient.get("EntityDefinitions(LogicalName='contact')/Attributes?$select=LogicalName,MaxLength")
    names = {a["LogicalName"]: a for a in r.json()["value"]}
    assert names["emailaddress1"]["MaxLength"] == 100
    r = kclient.get("EntityDefinitions(LogicalName='contact')/Keys")
    assert [k["KeyAttributes"] for k in r.json()["value"]] == [["emailaddress1"]]
    r = kclient.get("EntityDefinitions(LogicalName='account')/Attributes/"
                    "Microsoft.Dynamics.CRM.PicklistAttributeMetadata?$select=LogicalName&$expand=OptionSet($select=Options)")
    opts = {a["LogicalName"]: [o["Value"] for o in a["OptionSet"]["Options"]] for a in r.json()["value"]}
    assert opts["accountcategorycode"] == [1, 2]
    assert kclient.get("EntityDefinitions(LogicalName='nope')").status_code == 404


def test_whoami(client):
    r = client.get("WhoAmI")
    assert r.status_code == 200 and "UserId" in r.json()
