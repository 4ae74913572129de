"""The Web API's bound actions and functions: ``CreateMultiple``/``UpdateMultiple``/``UpsertMultiple``
on an entity set, and the unbound ``WhoAmI`` function.

Bulk actions run as one transaction (standard tables): any failing target rolls back all.
"""

from __future__ import annotations

import json
from typing import Callable

from . import costs, errors
from .keys import parse_key
from .references import WriteContext
from .schema import Table
from .store import Store
from .wire import Request, Response, json_response, read_body, split_name_key

# The fixed identity the emulator's one system user answers WhoAmI with.
WHOAMI = {"BusinessUnitId": "3d3c0b46-21c0-4b2f-8f44-39bde0d6a9f1",
          "UserId": "7d5b4a2e-93b5-4d7d-9c1b-3a3c1f0e5a11",
          "OrganizationId": "0f6c9a44-5a8b-4c0e-8a9e-2f4d5c6b7a80"}


def who_am_i(root: str) -> Response:
    """``GET WhoAmI``: the caller's user, business unit and organization ids."""
    return json_response(200, {"@odata.context": f"{root}$metadata#Microsoft.Dynamics.CRM.WhoAmIResponse",
                               **WHOAMI}, streaming=False)


class BulkActions:
    """``POST set/Microsoft.Dynamics.CRM.<Action>`` with a ``Targets`` array."""

    def __init__(self, store: Store, root: Callable[[], str], bump: Callable[[str, int], None],
                 op_delay: Callable[[int], None]):
        self.store = store
        self._root = root
        self.bump = bump
        self.op_delay = op_delay

    @property
    def root(self) -> str:
        """Absolute service root, e.g. ``http://127.0.0.1:8080/api/data/v9.2/``."""
        return self._root()

    def run(self, table: Table, action: str, req: Request, ctx: WriteContext) -> Response:
        if action not in ("CreateMultiple", "UpdateMultiple", "UpsertMultiple"):
            raise errors.resource_not_found(f"Microsoft.Dynamics.CRM.{action}")
        if not table.bulk:
            raise errors.unsupported_message(action, table.logical)
        body = read_body(req, table)
        if not isinstance(body, dict) or set(body) != {"Targets"} or not isinstance(body["Targets"], list):
            raise errors.bad_request("The action requires exactly one parameter 'Targets' holding an array of "
                                     f"Microsoft.Dynamics.CRM.{table.logical} entities.", code="0x80048d19")
        targets = body["Targets"]
        for t in targets:
            if not isinstance(t, dict) or "@odata.type" not in t:
                raise errors.payload_error(
                    table.entity_set,
                    "A resource without a type name was found, but no expected type was specified. To allow "
                    "entries without type information, the expected type must also be specified when the model "
                    "is specified.")
        self.bump("bulk_targets", len(targets))
        self.op_delay(len(targets))
        # Standard tables: one transaction, any error rolls back all; targets cost the bulk figures.
        with self.store.atomic(), costs.bulk_message():
            if action == "CreateMultiple":
                ids = []
                for t in targets:
                    ids.append(self.store.create(table, t, ctx))
                return json_response(200, {"@odata.context": f"{self.root}$metadata#Microsoft.Dynamics.CRM."
                                                     "CreateMultipleResponse", "Ids": ids}, streaming=False)
            if action == "UpdateMultiple":
                seen = set()
                for t in targets:
                    rid = t.get(table.pk)
                    if not isinstance(rid, str):
                        raise errors.bad_request(f"The primary key '{table.pk}' is required for each target of "
                                                 "UpdateMultiple; alternate keys are not supported here.",
                                                 code="0x80040203")
                    rid = rid.lower()
                    if rid in seen:
                        continue  # duplicate targets: only the first is applied (documented)
                    seen.add(rid)
                    if rid not in self.store.rows[table.logical]:
                        raise errors.not_found(table.logical, rid)
                    self.store.update(table, rid, t, ctx)
                return Response(204, [("OData-Version", "4.0")])
            seen_keys = set()
            for t in targets:
                odata_id = t.get("@odata.id")
                body_t = {k: v for k, v in t.items() if k != "@odata.id"}
                if odata_id is not None:
                    if not isinstance(odata_id, str):
                        raise errors.payload_error(table.entity_set, "'@odata.id' must be a string.")
                    ref = odata_id
                    if ref.startswith(self.root):
                        ref = ref[len(self.root):]
                    ref = ref.lstrip("/")
                    name, key_text = split_name_key(ref)
                    if name != table.entity_set or key_text is None:
                        raise errors.bad_request(f"The '@odata.id' value '{odata_id}' does not identify a "
                                                 f"{table.logical} record.")
                    key = parse_key(key_text)
                elif table.pk in t and isinstance(t[table.pk], str):
                    key = t[table.pk].lower()
                else:
                    raise errors.bad_request("Each UpsertMultiple target needs '@odata.id' or its primary key.",
                                             code="0x80040203")
                marker = json.dumps(key, sort_keys=True).casefold()
                if marker in seen_keys:
                    raise errors.bad_request("Duplicate key values were found in the UpsertMultiple request.",
                                             code="0x80040237")
                seen_keys.add(marker)
                rid = self.store.find(table, key)
                if rid is not None:
                    self.store.update(table, rid, body_t, ctx)
                elif isinstance(key, str):
                    self.store.create(table, body_t, ctx)
                else:
                    if any(c in body_t for c in key):
                        raise errors.unexpected()  # PR #127: key columns in @odata.id and body on create
                    self.store.create(table, body_t, ctx, key_values=key)
            return Response(204, [("OData-Version", "4.0")])
