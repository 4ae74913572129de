"""What doctor reads: RetrieveUserPrivileges, sdkmessagefilters, ManyToOneRelationships."""

from __future__ import annotations

import requests

from mail2dataverse.emulator import Emulator
from mail2dataverse.emulator.actions import WHOAMI

H = {"Authorization": "Bearer t", "Accept": "application/json"}


def test_the_caller_holds_the_seeded_role_less_what_was_dropped():
    with Emulator(drop_privileges=("prvReadContact",), privilege_depths={"prvReadAccount": "Local"}) as emu:
        url = emu.service_root + f"systemusers({WHOAMI['UserId']})/Microsoft.Dynamics.CRM.RetrieveUserPrivileges()"
        body = requests.get(url, headers=H, timeout=10).json()
        missing = requests.get(emu.service_root + "systemusers(00000000-0000-0000-0000-000000000001)"
                               "/Microsoft.Dynamics.CRM.RetrieveUserPrivileges()", headers=H, timeout=10)
    held = {p["PrivilegeName"]: p for p in body["RolePrivileges"]}
    assert "prvReadContact" not in held and held["prvCreateContact"]["Depth"] == "Global"
    assert held["prvReadAccount"]["Depth"] == "Local"
    assert held["prvOverrideCreatedOnCreatedBy"]["BusinessUnitId"] == WHOAMI["BusinessUnitId"]
    assert body["@odata.context"].endswith("Microsoft.Dynamics.CRM.RetrieveUserPrivilegesResponse")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "0x80040217"


def test_sdk_message_filters_name_the_bulk_messages_of_tables_that_take_them():
    def rows(emu, table, message):
        q = (f"sdkmessagefilters?$select=sdkmessagefilterid&$filter=primaryobjecttypecode eq '{table}' "
             f"and sdkmessageid/name eq '{message}'")
        return requests.get(emu.service_root + q, headers=H, timeout=10)

    with Emulator() as emu:
        assert len(rows(emu, "contact", "CreateMultiple").json()["value"]) == 1
        assert len(rows(emu, "account", "UpsertMultiple").json()["value"]) == 1
        assert rows(emu, "email", "CreateMultiple").json()["value"] == []  # email has no bulk messages
        bad = requests.get(emu.service_root + "sdkmessagefilters?$filter=startswith(name,'C')", headers=H, timeout=10)
    assert bad.status_code == 400 and "only for equality" in bad.json()["error"]["message"]


def test_many_to_one_relationships_list_the_navigation_properties():
    with Emulator() as emu:
        body = requests.get(emu.service_root + "EntityDefinitions(LogicalName='contact')/ManyToOneRelationships"
                            "?$select=ReferencingEntityNavigationPropertyName,ReferencedEntity", headers=H, timeout=10).json()
    navs = {r["ReferencingEntityNavigationPropertyName"]: r["ReferencedEntity"] for r in body["value"]}
    assert navs["parentcustomerid_account"] == "account"
