"""Org shapes, the generated schema at work, custom columns, seeded data (issue 11 §1–2)."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import pytest

from mail2dataverse.emulator import Emulator
from mail2dataverse.emulator.extend import SchemaExtendError

from .conftest import Client, error_of

EDM = "{http://docs.oasis-open.org/odata/ns/edm}"


# --- the generated schema: standard columns the hand model lacked ------------------------------


def test_standard_columns_the_old_schema_lacked_now_work(client):
    rid = client.create("contacts", {"lastname": "x", "mobilephone": "+1 555 0100", "address1_city": "Seattle",
                                     "department": "Sales", "assistantname": "Ann", "annualincome": 1000.5,
                                     "gendercode": 2, "address1_stateorprovince": "WA"})
    got = client.get(f"contacts({rid})?$select=mobilephone,address1_city,department,assistantname,gendercode").json()
    assert (got["mobilephone"], got["address1_city"], got["department"], got["assistantname"], got["gendercode"]) == (
        "+1 555 0100", "Seattle", "Sales", "Ann", 2)


def test_option_values_come_from_the_page(client):
    r = client.post("contacts", {"lastname": "x", "gendercode": 7})
    assert r.status_code == 400
    assert error_of(r) == ("0x80044331", "A validation error occurred.  The value 7 of 'gendercode' on record of type "
                                         "'contact' is outside the valid range. Accepted Values: 1,2")


def test_email_attachment_deep_insert_through_the_generated_relationship(client):
    rid = client.create("emails", {"subject": "s", "email_activity_mime_attachment": [
        {"filename": "a.txt", "mimetype": "text/plain", "body": "aGk=", "objecttypecode": "email"}]})
    rows = client.emu.records("activitymimeattachment")
    assert [(r["filename"], r["objectid"]) for r in rows] == [("a.txt", rid)]


def test_preflight_accepts_a_mapping_of_standard_columns(emu, tmp_path):
    """The pre-flight reads the org's attribute names; mobilephone & co. are there now."""
    c = Client(emu)
    r = c.get("EntityDefinitions(LogicalName='contact')/Attributes?$select=LogicalName")
    names = {a["LogicalName"] for a in r.json()["value"]}
    assert {"mobilephone", "address1_city", "department"} <= names


# --- $metadata and EntityDefinitions from the same data ----------------------------------------


def test_metadata_is_a_csdl_document_of_the_tables(client):
    r = client.get("$metadata", headers={"Accept": "application/xml"})
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("application/xml")
    root = ET.fromstring(r.content)
    types = {t.get("Name"): t for t in root.iter(f"{EDM}EntityType")}
    contact = types["contact"]
    assert contact.find(f"{EDM}Key/{EDM}PropertyRef").get("Name") == "contactid"
    props = {p.get("Name"): p for p in contact.iter(f"{EDM}Property")}
    assert props["firstname"].get("MaxLength") == "50" and props["firstname"].get("Type") == "Edm.String"
    assert props["birthdate"].get("Type") == "Edm.Date"
    assert props["_parentcustomerid_value"].get("Type") == "Edm.Guid"
    navs = {n.get("Name"): n for n in contact.iter(f"{EDM}NavigationProperty")}
    assert navs["parentcustomerid_account"].get("Type") == "mscrm.account"
    assert navs["parentcustomerid_account"].get("Partner") == "contact_customer_accounts"
    email_navs = {n.get("Name"): n.get("Type") for n in types["email"].iter(f"{EDM}NavigationProperty")}
    assert email_navs["email_activity_parties"] == "Collection(mscrm.activityparty)"
    assert email_navs["regardingobjectid_opportunity_email"] == "mscrm.opportunity"
    sets = {s.get("Name"): s.get("EntityType") for s in root.iter(f"{EDM}EntitySet")}
    assert sets["contacts"] == "Microsoft.Dynamics.CRM.contact"


def test_entity_definitions_report_the_generated_attribute_metadata(client):
    base = "EntityDefinitions(LogicalName='contact')/Attributes"
    a = client.get(f"{base}(LogicalName='numberofchildren')").json()
    assert (a["AttributeType"], a["MinValue"], a["MaxValue"]) == ("Integer", 0, 1000000000)
    b = client.get(f"{base}(LogicalName='birthdate')").json()
    assert b["DateTimeBehavior"] == {"Value": "DateOnly"} and b["Format"] == "DateOnly"
    m = client.get(f"{base}(LogicalName='mobilephone')").json()
    assert (m["MaxLength"], m["SchemaName"], m["IsValidForCreate"]) == (50, "MobilePhone", True)
    s = client.get(f"{base}(LogicalName='statecode')").json()
    assert s["IsValidForCreate"] is False
    opts = client.get(f"{base}/Microsoft.Dynamics.CRM.PicklistAttributeMetadata?$select=LogicalName"
                      "&$filter=LogicalName eq 'gendercode'&$expand=OptionSet($select=Options)").json()["value"][0]
    labels = {o["Value"]: o["Label"]["UserLocalizedLabel"]["Label"] for o in opts["OptionSet"]["Options"]}
    assert labels == {1: "Male", 2: "Female"}


# --- org profiles ------------------------------------------------------------------------------


def test_base_org_has_no_opportunity_or_incident():
    with Emulator(org_profile="base") as emu:
        c = Client(emu)
        r = c.get("opportunities")
        assert r.status_code == 404
        assert error_of(r) == ("0x8006088a", "Resource not found for the segment 'opportunities'.")
        assert c.get("incidents").status_code == 404
        r = c.post("emails", {"subject": "s", "regardingobjectid_opportunity_email@odata.bind":
                              "/opportunities(00000000-0000-0000-0000-000000000001)"})
        assert r.status_code == 400
        code, message = error_of(r)
        assert code == "0x80048d19" and "An undeclared property 'regardingobjectid_opportunity_email'" in message
        names = {e["LogicalName"] for e in c.get("EntityDefinitions?$select=LogicalName").json()["value"]}
        assert "opportunity" not in names and "incident" not in names and "contact" in names
        targets = c.get("EntityDefinitions(LogicalName='email')/Attributes(LogicalName='regardingobjectid')").json()
        assert "opportunity" not in targets["Targets"] and "account" in targets["Targets"]


@pytest.mark.parametrize("profile,has_opportunity,has_incident", [
    ("sales", True, False), ("service", False, True), ("sales+service", True, True)])
def test_app_profiles(profile, has_opportunity, has_incident):
    with Emulator(org_profile=profile) as emu:
        c = Client(emu)
        assert (c.get("opportunities").status_code == 200) is has_opportunity
        assert (c.get("incidents").status_code == 200) is has_incident
        assert c.get("leads").status_code == 200


def test_unknown_profile_is_refused():
    with pytest.raises(ValueError, match="unknown org profile 'crm'"):
        Emulator(org_profile="crm")


# --- --schema-extend ---------------------------------------------------------------------------


def test_schema_extend_adds_a_custom_column_a_mapping_can_use(tmp_path):
    ext = tmp_path / "ext.yaml"
    ext.write_text("columns:\n  - {table: contact, column: new_nickname, type: string, length: 40}\n"
                   "  - {table: contact, column: new_score, type: integer, min: 0, max: 10}\n", "utf-8")
    with Emulator(schema_extend=ext) as emu:
        c = Client(emu)
        rid = c.create("contacts", {"lastname": "x", "new_nickname": "Bee", "new_score": 3})
        assert c.get(f"contacts({rid})?$select=new_nickname").json()["new_nickname"] == "Bee"
        r = c.post("contacts", {"lastname": "x", "new_nickname": "b" * 41})
        assert error_of(r)[1].endswith("The length of the 'new_nickname' attribute of the 'contact' entity exceeded "
                                       "the maximum allowed length of '40'.")
        r = c.post("contacts", {"new_score": 11})
        assert error_of(r)[0] == "0x80044331"
        attr = c.get("EntityDefinitions(LogicalName='contact')/Attributes(LogicalName='new_nickname')").json()
        assert attr["IsCustomAttribute"] is True and attr["MaxLength"] == 40


def test_schema_extend_adds_a_custom_table_and_lookup(tmp_path):
    ext = tmp_path / "ext.yaml"
    ext.write_text("tables:\n  - {table: new_project, entity_set: new_projects, primary_name: new_name}\n"
                   "columns:\n  - {table: contact, column: new_projectid, type: lookup, target: new_project}\n",
                   "utf-8")
    with Emulator(schema_extend=ext) as emu:
        c = Client(emu)
        pid = c.create("new_projects", {"new_name": "Apollo"})
        rid = c.create("contacts", {"lastname": "x", "new_projectid@odata.bind": f"/new_projects({pid})"})
        assert c.get(f"contacts({rid})?$select=_new_projectid_value").json()["_new_projectid_value"] == pid


@pytest.mark.parametrize("text,message", [
    ("columns:\n  - {table: contact, column: nickname2, type: string}\n",
     "ext.yaml:2:30: column 'nickname2' is not a custom schema name"),
    ("columns:\n  - {table: contact, column: new_x, type: strng}\n", "ext.yaml:2:43: unknown type 'strng'"),
    ("columns:\n  - {table: nosuch, column: new_x, type: string}\n", "ext.yaml:2:13: no table 'nosuch'"),
    ("columns:\n  - {table: contact, column: new_x, type: string, lenght: 3}\n",
     "ext.yaml:2:51: unknown key 'lenght' for a column"),
    ("colums: []\n", "ext.yaml:1:1: unknown key 'colums'"),
])
def test_schema_extend_errors_name_file_line_and_column(tmp_path, text, message):
    ext = tmp_path / "ext.yaml"
    ext.write_text(text, "utf-8")
    with pytest.raises(SchemaExtendError) as info:
        Emulator(schema_extend=ext)
    assert str(info.value).split(str(tmp_path) + "/", 1)[1].startswith(message)


# --- --seed FILE and --state -------------------------------------------------------------------


def test_seed_file_loads_an_org_and_is_never_written(tmp_path):
    seed = tmp_path / "org.json"
    org = {"description": "x", "account": [{"accountid": "1b2c3d4e-5f60-4718-a9b0-c1d2e3f4a5b6", "name": "Northwind"}],
           "opportunity": [{"name": "Deal", "parentaccountid@odata.bind": "/accounts(1b2c3d4e-5f60-4718-a9b0-c1d2e3f4a5b6)"}]}
    seed.write_text(json.dumps(org), "utf-8")
    before = seed.read_bytes()
    with Emulator(seed_file=seed) as emu:
        c = Client(emu)
        assert [a["name"] for a in c.get("accounts?$select=name").json()["value"]] == ["Northwind"]
        c.create("contacts", {"lastname": "new"})
    assert seed.read_bytes() == before


def test_seed_file_with_an_unknown_table_names_it(tmp_path):
    seed = tmp_path / "org.json"
    seed.write_text(json.dumps({"widget": [{"name": "x"}]}), "utf-8")
    with pytest.raises(ValueError, match=r"org.json: table 'widget' is not in this org"):
        Emulator(seed_file=seed).start()


def test_state_file_that_is_not_a_state_file_is_refused_not_overwritten(tmp_path):
    """Passing an org.json to --state used to replace it with an empty store on exit."""
    org = tmp_path / "org.json"
    org.write_text(json.dumps({"account": [{"name": "Northwind"}]}), "utf-8")
    before = org.read_bytes()
    emu = Emulator(state_file=org)
    with pytest.raises(ValueError, match="is not an emulator state file"):
        emu.start()
    assert org.read_bytes() == before


def test_state_file_round_trips(tmp_path):
    state = tmp_path / "dv.json"
    with Emulator(state_file=state) as emu:
        Client(emu).create("contacts", {"lastname": "kept"})
    with Emulator(state_file=state) as emu:
        assert [r["lastname"] for r in emu.records("contact")] == ["kept"]


def test_cli_refuses_a_state_file_that_is_not_one_and_leaves_it(tmp_path, capsys):
    from mail2dataverse.emulator.cli import main

    org = tmp_path / "org.json"
    org.write_text(json.dumps({"account": [{"name": "Northwind"}]}), "utf-8")
    before = org.read_bytes()
    assert main(["--state", str(org)]) == 2
    assert "is not an emulator state file" in capsys.readouterr().err
    assert org.read_bytes() == before


def test_cli_seed_row_errors_name_the_file_table_and_row(tmp_path, capsys):
    from mail2dataverse.emulator.cli import main

    seed = tmp_path / "org.json"
    seed.write_text(json.dumps({"account": [{"name": "ok"}, {"name": "x", "nosuchcolumn": 1}]}), "utf-8")
    assert main(["--seed", str(seed)]) == 2
    err = capsys.readouterr().err
    assert f"{seed}: account row 2: " in err and "Invalid property 'nosuchcolumn'" in err
