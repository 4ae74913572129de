"""Write rules: payload validation and the platform's checks on what a write may contain.

:func:`coerce` checks one value against its column (the service's conversion and range 400s);
:class:`PayloadReader` splits a JSON body into column values, deep inserts and collection
binds; the ``check_*`` functions and :func:`apply_state` are the platform rules on top of that
(state/status pairs, read-only closed activities, activity parties).
"""

from __future__ import annotations

from typing import Any, Callable

from . import errors
from .references import WriteContext
from .schema import EDM_TYPES, Column, Table
from .values import GUID_RE, normalize_datetime

ACTIVITY_TABLES = {"email", "task", "phonecall"}

# resolve(ref, ctx, entity_set) -> (target table, id): see references.resolve_reference.
Resolve = Callable[[str, WriteContext, str], "tuple[Table, str]"]


def coerce(table: Table, col: Column, value: Any) -> Any:
    """Validate one value against its column; return the stored form or raise the real 400."""
    if value is None:
        return None
    t = col.type
    es = table.entity_set

    def wrong(literal: Any) -> errors.ODataError:
        if isinstance(literal, (dict, list)):
            node = "StartObject" if isinstance(literal, dict) else "StartArray"
            return errors.payload_error(
                es, f"An unexpected '{node}' node was found when reading from the JSON reader. "
                    "A 'PrimitiveValue' node was expected.")
        if isinstance(literal, str):
            return errors.payload_error(
                es, f"Cannot convert the literal '{literal}' to the expected type '{EDM_TYPES[t]}'.")
        return errors.payload_error(
            es, f"Cannot convert a primitive value to the expected type '{EDM_TYPES[t]}'. See the inner "
                "exception for more details.")

    if t in ("string", "memo", "entityname"):
        if not isinstance(value, str):
            raise wrong(value)
        if col.max_length is not None and len(value) > col.max_length:
            raise errors.length_exceeded(table.logical, col.name, col.max_length)
        return value
    if t in ("int", "bigint", "picklist", "state", "status"):
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, float) and value.is_integer() and t in ("int", "bigint"):
                value = int(value)
            else:
                raise wrong(value)
        if t in ("int", "picklist", "state", "status") and not -2**31 <= value < 2**31:
            raise wrong(value)
        if t == "picklist" and col.options and value not in col.options:
            raise errors.outside_range(table.logical, col.name, value, list(col.options))
        return value
    if t == "bool":
        if not isinstance(value, bool):
            raise wrong(value)
        return value
    if t in ("decimal", "money", "double"):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise wrong(value)
        return float(value)
    if t == "datetime":
        if not isinstance(value, str):
            raise wrong(value)
        try:
            return normalize_datetime(value)
        except ValueError:
            raise errors.payload_error(
                es, f"Cannot convert the literal '{value}' to the expected type 'Edm.DateTimeOffset'.")
    if t == "uniqueidentifier":
        if not isinstance(value, str) or not GUID_RE.match(value):
            raise wrong(value)
        return value.lower()
    raise wrong(value)


class PayloadReader:
    """Reads a write's JSON body for a table: what to store, what to create, what to bind."""

    def __init__(self, resolve: Resolve, statecode_on_create: str):
        self.resolve = resolve
        self.statecode_on_create = statecode_on_create  # "reject" or "ignore" (Options)

    def prepare(self, table: Table, body: Any, ctx: WriteContext, *, creating: bool, bulk: bool = False):
        """Split a JSON body into column values, deep inserts and collection binds, validating all.

        Returns ``(values, deep_single, deep_collections, collection_binds)``.
        """
        if not isinstance(body, dict):
            raise errors.payload_error(
                table.entity_set, "An unexpected 'StartArray' node was found when reading from the JSON reader. "
                                  "A 'StartObject' node was expected.")
        values: dict[str, Any] = {}
        deep_single: list[tuple[str, dict]] = []
        deep_coll: list[tuple[str, list]] = []
        coll_binds: list[tuple[str, list[tuple[Table, str]]]] = []
        for key, value in body.items():
            if key.startswith("@"):
                if key == "@odata.type":
                    expected = f"Microsoft.Dynamics.CRM.{table.logical}"
                    if not isinstance(value, str) or value.lstrip("#") != expected:
                        raise errors.payload_error(
                            table.entity_set,
                            f"A type named '{value}' could not be resolved by the model. When a model is "
                            "available, each type name must resolve to a valid type.")
                continue  # @odata.etag, @odata.context, @odata.id (handled by callers)
            if "@" in key:
                prop, annotation = key.split("@", 1)
                if annotation != "odata.bind":
                    continue  # instance annotations (FormattedValue etc.) are ignored on write
                if prop in table.navs:
                    nav = table.navs[prop]
                    if not isinstance(value, str):
                        raise errors.payload_error(
                            table.entity_set, f"The value of the 'odata.bind' annotation for the single-valued "
                                              f"navigation property '{prop}' must be a string.")
                    target, rid = self.resolve(value, ctx, table.entity_set)
                    if target.logical != nav.target:
                        raise errors.payload_error(
                            table.entity_set,
                            f"A resource of type 'Microsoft.Dynamics.CRM.{target.logical}' was bound to the "
                            f"navigation property '{prop}' whose type is "
                            f"'Microsoft.Dynamics.CRM.{nav.target}'.")
                    col = table.columns[nav.column]
                    if not creating and not col.update:
                        continue  # a create-only lookup (thread links) is left as it was
                    values[nav.column] = rid
                    if col.type_column:
                        values[col.type_column] = target.logical
                    continue
                if prop in table.collections:
                    coll = table.collections[prop]
                    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                        raise errors.payload_error(
                            table.entity_set, f"The value of the 'odata.bind' annotation for the collection "
                                              f"navigation property '{prop}' must be an array of strings.")
                    refs = []
                    for v in value:
                        target, rid = self.resolve(v, ctx, table.entity_set)
                        if target.logical != coll.child:
                            raise errors.payload_error(
                                table.entity_set,
                                f"A resource of type 'Microsoft.Dynamics.CRM.{target.logical}' was bound to the "
                                f"navigation property '{prop}'.")
                        refs.append((target, rid))
                    coll_binds.append((prop, refs))
                    continue
                raise errors.undeclared_annotation_property(table.entity_set, prop)
            if key in table.navs:
                if not isinstance(value, dict):
                    raise errors.payload_error(
                        table.entity_set, f"A node of type '{type(value).__name__}' was read from the JSON reader "
                                          f"for the navigation property '{key}'; a resource was expected.")
                deep_single.append((key, value))
                continue
            if key in table.collections:
                if not isinstance(value, list):
                    raise errors.payload_error(
                        table.entity_set, "An unexpected 'StartObject' node was found when reading from the JSON "
                                          f"reader. A 'StartArray' node was expected for '{key}'.")
                deep_coll.append((key, value))
                continue
            col = table.columns.get(key)
            if col is None or col.type == "lookup":
                raise errors.invalid_property(table.logical, key)
            if key == "statecode" and creating and not col.create:
                if self.statecode_on_create == "ignore":
                    continue
                raise errors.ODataError(
                    400, "0x80040203",
                    f"'statecode' is not valid for create on entity '{table.logical}' (IsValidForCreate is "
                    "False). Create the record, then update statecode and statuscode.")
            if (creating and not col.create) or (not creating and not col.update and key != table.pk):
                continue  # read-only columns are ignored by the platform, as on the real service
            values[key] = coerce(table, col, value)
        if (deep_single or deep_coll) and not creating:
            # Only email_activity_parties may be replaced on update (the platform rewrites the parties).
            if deep_single or any(name != "email_activity_parties" for name, _ in deep_coll):
                raise errors.payload_error(table.entity_set, "Deep update is not supported.")
        return values, deep_single, deep_coll, coll_binds


def apply_state(table: Table, values: dict, row: dict, creating: bool) -> None:
    """Default and cross-check statecode/statuscode like the platform's SetState logic."""
    if not table.state_defaults:
        return
    state = values.get("statecode", row.get("statecode") if not creating else None)
    status_given = "statuscode" in values and values["statuscode"] is not None
    if "statecode" in values and values["statecode"] is not None:
        if values["statecode"] not in table.state_defaults:
            raise errors.outside_range(table.logical, "statecode", values["statecode"],
                                       sorted(table.state_defaults))
    if creating and state is None:
        state = 0
    if "statecode" in values and values["statecode"] is None:
        raise errors.ODataError(400, "0x80040203", "statecode cannot be null.")
    if status_given:
        status = values["statuscode"]
        if status not in table.status_state:
            raise errors.outside_range(table.logical, "statuscode", status, sorted(table.status_state))
        if "statecode" not in values and not creating:
            state = row.get("statecode", 0)
        if table.status_state[status] != state:
            raise errors.ODataError(
                400, "0x8004431a",
                f"{status} is not a valid status code for state code {table.schema_name}State "
                f"{state} on {table.logical} with Id {row.get(table.pk)}.")
    elif "statuscode" in values:
        raise errors.ODataError(400, "0x80040203", "statuscode cannot be null.")
    elif "statecode" in values or creating:
        values["statuscode"] = table.state_defaults[state]
    values["statecode"] = state


def check_editable(table: Table, row: dict) -> None:
    """Completed and canceled activities are read-only (reference §4.3)."""
    if table.logical in ACTIVITY_TABLES and row.get("statecode") not in (None, 0):
        raise errors.ODataError(
            400, "0x80040203",
            f"This {table.logical} is completed or canceled and is read-only; it can't be edited.")


def check_one_sender(items: list) -> None:
    """An email's From holds one party (the platform resolves a sender to a single row), so
    two ``participationtypemask: 1`` parties are refused rather than stored (UNCONFIRMED
    wording, see docs/emulator.md)."""
    senders = sum(1 for i in items if isinstance(i, dict) and i.get("participationtypemask") == 1
                  and not isinstance(i.get("participationtypemask"), bool))
    if senders > 1:
        raise errors.ODataError(
            400, "0x80040203",
            f"An email can have only one sender (participationtypemask 1); {senders} were given.")


def check_party(parent: Table, item: Any) -> None:
    """Email parties: mask 1..4 only, and either a bound party or an address."""
    if not isinstance(item, dict):
        return
    mask = item.get("participationtypemask")
    if mask is None:
        raise errors.ODataError(400, "0x80040203",
                                "participationtypemask is required for an activity party.")
    if parent.logical == "email" and isinstance(mask, int) and not isinstance(mask, bool) and mask not in (1, 2, 3, 4):
        raise errors.outside_range("activityparty", "participationtypemask", mask, [1, 2, 3, 4])
    has_party = any(k.startswith("partyid_") and k.endswith("@odata.bind") for k in item)
    if not has_party and not item.get("addressused"):
        raise errors.ODataError(
            400, "0x80040203",
            "An activity party needs a party (partyid_*@odata.bind) or an address (addressused).")
