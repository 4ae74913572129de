"""Security roles and SDK message filters: what ``doctor`` asks an org before the first sync.

* ``GET systemusers(<id>)/Microsoft.Dynamics.CRM.RetrieveUserPrivileges()`` answers
  ``{"RolePrivileges": [{"Depth", "PrivilegeId", "BusinessUnitId", "PrivilegeName"}]}`` (the
  documented ``RetrieveUserPrivilegesResponse``). The caller (the ``WhoAmI`` user) holds one
  seeded role, "mail2dataverse sync", with every privilege a sync uses at Global depth, plus
  ``prvOverrideCreatedOnCreatedBy``; any other system user holds none. ``Emulator(drop_privileges=
  ("prvReadContact",))`` (CLI ``--drop-privilege``) takes privileges out of that role, and
  ``privilege_depths={"prvReadContact": "Local"}`` lowers one, so tests can fail the check.
* ``...RetrieveUserPrivilegeByPrivilegeName(PrivilegeName='x')`` answers from the same role.
* ``GET sdkmessagefilters?$filter=primaryobjecttypecode eq 'contact' and sdkmessageid/name eq
  'CreateMultiple'`` answers one row per (table, message) the emulator supports: the bulk
  messages on the tables that take them. Only equality on those two properties, joined with
  ``and``, is understood; any other filter is refused with 400 rather than answered wrongly.
* Privileges are not enforced on other requests: the emulator models what a doctor reads, not
  the platform's access checks.
"""

from __future__ import annotations

import re
import uuid

from . import errors
from .actions import WHOAMI
from .rules_attachments import OVERRIDE_PRIVILEGE
from .schema import METADATA_NS, Table
from .wire import Response, json_response

_ACCESS = ("Create", "Read", "Write", "Delete", "Append", "AppendTo", "Assign", "Share")
#: privilege entity names of the tables a sync touches (activities share "Activity")
_ENTITIES = ("Contact", "Account", "Activity", "Lead", "Opportunity", "Incident")
#: the seeded role's privileges, all at Global depth
ROLE_PRIVILEGES = tuple(
    [f"prv{a}{e}" for e in _ENTITIES for a in _ACCESS]
    + ["prvReadUser", "prvReadRole", "prvReadEntity", "prvReadAttribute", "prvReadEntityKey", "prvReadRelationship",
       "prvReadSdkMessage", "prvReadSdkMessageProcessingStep", "prvOverrideCreatedOnCreatedBy"]
)
BULK_MESSAGES = ("CreateMultiple", "UpdateMultiple", "UpsertMultiple")
_DEPTHS = ("Basic", "Local", "Deep", "Global")
_CONDITION = re.compile(r"^\s*(primaryobjecttypecode|sdkmessageid/name)\s+eq\s+'((?:[^']|'')*)'\s*$")


class Security:
    """The seeded role of the calling user, less the dropped privileges."""

    def __init__(self, drop: tuple[str, ...] = (), depths: dict[str, str] | None = None,
                 enforced: set[str] | None = None):
        """``enforced`` is the store's own set of the privileges it checks on writes (today
        ``prvOverrideCreatedOnCreatedBy``, ``AttachmentRules.privileges``), shared, not copied: a
        privilege dropped here is dropped there, and one the rules lack is not reported held."""
        unknown = [d for d in (depths or {}).values() if d not in _DEPTHS]
        if unknown:
            raise ValueError(f"privilege depth must be one of {', '.join(_DEPTHS)}, got {unknown[0]!r}")
        self.dropped = frozenset(drop)
        self.depths = dict(depths or {})
        self.enforced = enforced if enforced is not None else {OVERRIDE_PRIVILEGE}
        self.enforced.difference_update(self.dropped)

    def held(self, user_id: str) -> list[dict]:
        """``RolePrivilege`` rows of ``user_id`` (none for users other than the caller)."""
        if user_id.lower() != WHOAMI["UserId"]:
            return []
        return [{"Depth": self.depths.get(name, "Global"),
                 "PrivilegeId": str(uuid.uuid5(METADATA_NS, f"privilege.{name}")),
                 "BusinessUnitId": WHOAMI["BusinessUnitId"],
                 "PrivilegeName": name}
                for name in ROLE_PRIVILEGES
                if name not in self.dropped and (name != OVERRIDE_PRIVILEGE or name in self.enforced)]

    def retrieve_user_privileges(self, root: str, user_id: str, exists: bool) -> Response:
        """The bound function's answer for ``systemusers(user_id)``."""
        if not exists and user_id.lower() != WHOAMI["UserId"]:
            raise errors.ODataError(404, "0x80040217", f"systemuser With Id = {user_id} Does Not Exist")
        return json_response(200, {"@odata.context": f"{root}$metadata#Microsoft.Dynamics.CRM."
                                                     "RetrieveUserPrivilegesResponse",
                                   "RolePrivileges": self.held(user_id)}, streaming=False)


def sdk_message_filters(root: str, tables: dict[str, Table], params: dict[str, str]) -> Response:
    """``GET sdkmessagefilters`` with the bulk-message filter doctor sends (see module docstring)."""
    wanted: dict[str, str] = {}
    text = params.get("$filter", "")
    if text:
        for part in re.split(r"\s+and\s+", text.strip()):
            m = _CONDITION.match(part)
            if not m:
                raise errors.bad_request(
                    "The emulator answers sdkmessagefilters only for equality on primaryobjecttypecode and "
                    f"sdkmessageid/name joined with 'and'; got '{text}'.")
            wanted[m.group(1)] = m.group(2).replace("''", "'")
    rows = []
    for table in tables.values():
        if not table.bulk or wanted.get("primaryobjecttypecode", table.logical) != table.logical:
            continue
        for message in BULK_MESSAGES:
            if wanted.get("sdkmessageid/name", message) == message:
                rows.append({"sdkmessagefilterid": str(uuid.uuid5(METADATA_NS, f"sdkmessagefilter.{table.logical}.{message}")),
                             "primaryobjecttypecode": table.logical})
    select = [s.strip() for s in params.get("$select", "").split(",") if s.strip()]
    if select:
        rows = [{k: v for k, v in r.items() if k in select or k == "sdkmessagefilterid"} for r in rows]
    return json_response(200, {"@odata.context": f"{root}$metadata#sdkmessagefilters", "value": rows})
