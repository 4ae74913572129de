"""The emulator's schema data is what tools/gen_schema.py makes of Microsoft's reference pages.

The pages live outside the repository (``../shared/reference/entities`` beside the clone, as in
CI); ``MAIL2DATAVERSE_ENTITY_PAGES`` points elsewhere. Without them the regeneration test skips,
and the parser is still exercised on small pages in each of the three layouts the folder uses.
"""

from __future__ import annotations

import importlib.util
import json
import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ROOT / "engine" / "emulator" / "schema_data.json"


def _pages_dir() -> Path:
    return Path(os.environ.get("MAIL2DATAVERSE_ENTITY_PAGES") or ROOT.parent / "shared" / "reference" / "entities")


def _generator():
    spec = importlib.util.spec_from_file_location("gen_schema", ROOT / "tools" / "gen_schema.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_shipped_file_is_what_the_pages_generate():
    pages = _pages_dir()
    if not (pages / "contact.md").is_file():
        pytest.skip(f"Microsoft's reference pages are not at {pages} (set MAIL2DATAVERSE_ENTITY_PAGES)")
    gen = _generator()
    assert gen.render(gen.generate(pages)) == SHIPPED.read_text("utf-8"), (
        "engine/emulator/schema_data.json is stale: run tools/gen_schema.py")


def test_shipped_data_has_the_standard_columns_the_hand_model_lacked():
    tables = json.loads(SHIPPED.read_text("utf-8"))["tables"]
    contact = tables["contact"]["columns"]
    assert contact["mobilephone"] == {"format": "Phone", "max_length": 50, "schema": "MobilePhone", "type": "String"}
    assert contact["address1_city"]["max_length"] == 80
    assert contact["department"]["max_length"] == 100
    assert contact["birthdate"]["behavior"] == "DateOnly"
    assert contact["numberofchildren"]["min"] == 0 and contact["numberofchildren"]["max"] == 1000000000
    assert contact["statecode"]["create"] is False
    assert tables["email"]["columns"]["subject"]["max_length"] == 800
    assert tables["email"]["collections"]["email_activity_mime_attachment"] == {
        "child": "activitymimeattachment", "column": "objectid", "relationship": "email_activity_mime_attachment"}
    assert tables["email"]["collections"]["email_activity_parties"]["child"] == "activityparty"
    navs = tables["email"]["navigations"]
    assert navs["regardingobjectid_contact_email"]["name_source"] == "page"
    assert navs["regardingobjectid_opportunity_email"] == {
        "column": "regardingobjectid", "name_source": "rule", "relationship": "Opportunity_Emails",
        "target": "opportunity"}
    assert {"parentcustomerid_account", "parentcustomerid_contact"} <= set(tables["contact"]["navigations"])
    assert {"partyid_contact", "partyid_account", "partyid_systemuser", "partyid_lead", "partyid_queue"} <= set(
        tables["activityparty"]["navigations"])
    assert sum(len(t["columns"]) for t in tables.values()) > 1000


def test_the_rule_for_unstated_nav_names_matches_every_name_a_page_states():
    """Every single-valued name the newer pages print is what the rule derives, except two that
    are irregular on the pages themselves, so the names the rule gives the older pages' lookups
    follow the platform's own pattern."""
    tables = json.loads(SHIPPED.read_text("utf-8"))["tables"]
    gen = _generator()
    checked, mismatched = 0, set()
    for name, table in tables.items():
        for nav_name, nav in table["navigations"].items():
            if nav["name_source"] != "page":
                continue
            col = table["columns"][nav["column"]]
            derived = gen._nav_rule(name, nav["column"], col["type"], nav["target"], col["targets"],
                                    table["pk"] == "activityid")
            checked += 1
            if derived != nav_name:
                mismatched.add(nav_name)
    assert checked >= 30
    # CorrelatedActivityId_Email: mixed case on the page; acceptingentityid: one name for two targets
    assert mismatched == {"CorrelatedActivityId_Email", "acceptingentityid"}


OLD_LAYOUT = """## Properties

|Property|Value|
|--------|-----|
|EntitySetName|widgets|
|LogicalName|widget|
|PrimaryIdAttribute|widgetid|
|PrimaryNameAttribute|name|
|SchemaName|Widget|

## Writable columns/attributes

### <a name="BKMK_Name"></a> Name

|Property|Value|
|--------|-----|
|LogicalName|name|
|MaxLength|100|
|Type|String|

### <a name="BKMK_Size"></a> Size

|Property|Value|
|--------|-----|
|IsValidForUpdate|False|
|LogicalName|size|
|MaxValue|10|
|MinValue|-2|
|Type|Integer|

### <a name="BKMK_StateCode"></a> StateCode

|Property|Value|
|--------|-----|
|IsValidForCreate|False|
|LogicalName|statecode|
|Type|State|

#### StateCode Choices/Options

|Value|Label|DefaultStatus|InvariantName|
|-----|-----|-------------|-------------|
|0|Active|1|Active|
|1|Inactive|2|Inactive|

### <a name="BKMK_OwnerId"></a> OwnerId

|Property|Value|
|--------|-----|
|LogicalName|parentwidgetid|
|Targets|widget|
|Type|Lookup|

## Read-only columns/attributes

### <a name="BKMK_CreatedOn"></a> CreatedOn

|Property|Value|
|--------|-----|
|DateTimeBehavior|UserLocal|
|Format|DateAndTime|
|LogicalName|createdon|
|Type|DateTime|

## One-To-Many Relationships

### <a name="BKMK_widget_children"></a> widget_children

|Property|Value|
|--------|-----|
|ReferencingEntity|widget|
|ReferencingAttribute|parentwidgetid|
|ReferencedEntityNavigationPropertyName|widget_children|
"""

NEW_LAYOUT = """## Properties

|Property|Value|
| --- | --- |
| **EntitySetName** | `gadgets`|
| **LogicalName** | `gadget` |
| **PrimaryIdAttribute** | `activityid` |
| **PrimaryNameAttribute** |`subject` |

## Writable columns/attributes

### <a name="BKMK_ActivityId"></a> ActivityId

|Property|Value|
|---|---|
|LogicalName|`activityid`|
|Type|Uniqueidentifier|

### <a name="BKMK_RegardingObjectId"></a> RegardingObjectId

|Property|Value|
|---|---|
|LogicalName|`regardingobjectid`|
|Type|Lookup|
|Targets|widget, contact|

### <a name="BKMK_StatusCode"></a> StatusCode

|Property|Value|
|---|---|
|LogicalName|`statuscode`|
|Type|Status|

#### StatusCode Choices/Options

|Value|Details|
|---|---|
|1|Label: **Draft**<br />State:0<br />TransitionData: None|
|4|Label: **Received**<br />State:1<br />TransitionData: None|

## Many-to-One relationships

### <a name="BKMK_Widget_Gadgets"></a> Widget_Gadgets

|Property|Value|
|---|---|
|ReferencedEntity|`widget`|
|ReferencedAttribute|`widgetid`|
|ReferencingAttribute|`regardingobjectid`|
|ReferencingEntityNavigationPropertyName|`regardingobjectid_widget_gadget`|
"""

CE_LAYOUT = """## Properties

**EntitySetName**: gizmos<br />
**LogicalName**: gizmo<br />
**PrimaryIdAttribute**: gizmoid<br />
**PrimaryNameAttribute**: fullname<br />

## Writable attributes

### <a name="BKMK_BudgetStatus"></a> BudgetStatus

**LogicalName**: budgetstatus<br />
**RequiredLevel**: None<br />
**Type**: Picklist<br />
**Options**:

- **Value**: 0 **Label**: No Committed Budget
- **Value**: 1 **Label**: May Buy

### <a name="BKMK_CustomerId"></a> CustomerId

**LogicalName**: customerid<br />
**Targets**: widget,gizmo<br />
**Type**: Customer<br />
"""


def test_generator_reads_each_layout(tmp_path):
    (tmp_path / "widget.md").write_text(OLD_LAYOUT, "utf-8")
    (tmp_path / "gadget.md").write_text(NEW_LAYOUT, "utf-8")
    (tmp_path / "gizmo.md").write_text(CE_LAYOUT, "utf-8")
    gen = _generator()
    data = gen.generate(tmp_path)
    widget, gadget, gizmo = (data["tables"][t] for t in ("widget", "gadget", "gizmo"))
    assert widget["entity_set"] == "widgets" and widget["pk"] == "widgetid"
    assert widget["columns"]["name"] == {"max_length": 100, "schema": "Name", "type": "String"}
    assert widget["columns"]["size"] == {"max": 10, "min": -2, "schema": "Size", "type": "Integer", "update": False}
    assert widget["columns"]["statecode"]["states"] == [[0, "Active", 1], [1, "Inactive", 2]]
    assert widget["columns"]["statecode"]["create"] is False
    assert widget["columns"]["createdon"] == {"behavior": "UserLocal", "create": False, "format": "DateAndTime",
                                              "schema": "CreatedOn", "type": "DateTime", "update": False}
    assert widget["collections"]["widget_children"] == {"child": "widget", "column": "parentwidgetid",
                                                        "relationship": "widget_children"}
    assert widget["navigations"]["parentwidgetid"]["name_source"] == "rule"
    assert gadget["entity_set"] == "gadgets"
    assert gadget["columns"]["statuscode"]["statuses"] == [[1, "Draft", 0], [4, "Received", 1]]
    assert gadget["navigations"]["regardingobjectid_widget_gadget"]["name_source"] == "page"
    assert gizmo["columns"]["budgetstatus"]["options"] == [[0, "No Committed Budget"], [1, "May Buy"]]
    assert set(gizmo["navigations"]) == {"customerid_widget", "customerid_gizmo"}
    # deterministic: the same pages render the same text
    assert gen.render(data) == gen.render(gen.generate(tmp_path))


def test_check_mode_reports_a_stale_file(tmp_path):
    (tmp_path / "widget.md").write_text(OLD_LAYOUT, "utf-8")
    out = tmp_path / "out.json"
    gen = _generator()
    assert gen.main([str(tmp_path), "-o", str(out)]) == 0
    assert gen.main([str(tmp_path), "-o", str(out), "--check"]) == 0
    out.write_text(out.read_text("utf-8").replace("widgets", "gadgets"), "utf-8")
    assert gen.main([str(tmp_path), "-o", str(out), "--check"]) == 1


def test_overrides_name_only_tables_and_columns_that_exist():
    """A typo in schema_overrides.yaml would silently change nothing; refuse it here."""
    import yaml

    tables = json.loads(SHIPPED.read_text("utf-8"))["tables"]
    overrides = yaml.safe_load((ROOT / "engine" / "emulator" / "schema_overrides.yaml").read_text("utf-8"))
    known = set(tables) | set(overrides["tables_without_page"])
    assert set(overrides["object_type_codes"]) == known
    assert set().union(*overrides["profiles"].values()) == known
    for key in ("bulk_messages", "not_creatable"):
        assert set(overrides[key]) <= known, key
    for key in ("read_only_states", "party_rules", "navigations"):
        assert set(overrides[key]) <= known, key
    for table, navs in overrides["navigations"].items():
        assert {n["column"] for n in navs.values()} <= set(tables[table]["columns"]), table
    for table, columns in overrides["columns"].items():
        assert set(columns) <= set(tables[table]["columns"]), table
