"""Write rules: payload validation and the platform's checks on what a write may contain.

:func:`coerce` checks one value against its column (the service's conversion and range 400s);
:class:`PayloadReader` splits a JSON body into column values, deep inserts and collection
binds; the ``check_*`` functions and :func:`apply_state` are the platform rules on top of that
(state/status pairs, read-only closed rows, activity parties).

String lengths are counted in UTF-16 code units, as the service (a .NET string) counts them;
date-times need a zone (the OData reader refuses ``2024-05-01T09:30:00`` for an
``Edm.DateTimeOffset``), nothing before 1753-01-01 (SQL ``datetime``) is stored, and DateOnly
columns are ``Edm.Date``: ``yyyy-MM-dd`` in and out, a day the calendar has. Numbers stay inside
the column's MinValue/MaxValue from the reference pages.
"""

from __future__ import annotations

from datetime import date
from functools import partial
from typing import Any, Callable

from . import errors
from .references import WriteContext
from .schema import Column, Table
from .values import DATE_RE, is_guid, normalize_datetime, utf16_length

# .NET type names the range error quotes, per column kind.
_CLR_TYPES = {"int": "System.Int32", "bigint": "System.Int64", "decimal": "System.Decimal",
              "money": "System.Decimal", "double": "System.Double"}
_MIN_DATE = "1753-01-01"

# resolve(ref, ctx, entity_set) -> (target table, id): see references.resolve_reference.
Resolve = Callable[[str, WriteContext, str], "tuple[Table, str]"]


def _wrong(table: Table, col: Column, literal: Any) -> errors.ODataError:
    """The conversion error for a literal of the wrong kind (built only when a value fails)."""
    es = table.entity_set
    if isinstance(literal, (dict, list)):
        node = "StartObject" if isinstance(literal, dict) else "StartArray"
        return errors.payload_error(
            es, f"An unexpected '{node}' node was found when reading from the JSON reader. "
                "A 'PrimitiveValue' node was expected.")
    if isinstance(literal, str):
        return errors.payload_error(
            es, f"Cannot convert the literal '{literal}' to the expected type '{col.edm_type}'.")
    return errors.payload_error(
        es, f"Cannot convert a primitive value to the expected type '{col.edm_type}'. See the inner "
            "exception for more details.")


def coerce(table: Table, col: Column, value: Any) -> Any:
    """Validate one value against its column; return the stored form or raise the real 400."""
    if value is None:
        return None
    return _COERCERS.get(col.type, _refuse)(table, col, value)


# One checker per column type (looked up once per value instead of walking every type's test).

def _text(table: Table, col: Column, value: Any) -> Any:
    if not isinstance(value, str):
        raise _wrong(table, col, value)
    if col.max_length is not None and len(value) * 2 > col.max_length \
            and utf16_length(value) > col.max_length:
        raise errors.length_exceeded(table.logical, col.name, col.max_length)
    return value


def _integer(table: Table, col: Column, value: Any) -> Any:
    t = col.type
    if type(value) is not int and (isinstance(value, bool) or not isinstance(value, int)):
        if isinstance(value, float) and value.is_integer() and t in ("int", "bigint"):
            value = int(value)
        else:
            raise _wrong(table, col, value)
    if t != "bigint" and not -2**31 <= value < 2**31:
        raise _wrong(table, col, value)
    if t == "picklist" and col.options and value not in col.options:
        raise errors.outside_range(table.logical, col.name, value, list(col.options))
    if col.min_value is not None or col.max_value is not None:  # _check_range's own test, first
        _check_range(table, col, value)
    return value


def _boolean(table: Table, col: Column, value: Any) -> Any:
    if not isinstance(value, bool):
        raise _wrong(table, col, value)
    return value


def _number(table: Table, col: Column, value: Any) -> Any:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _wrong(table, col, value)
    _check_range(table, col, value)
    return float(value)


def _datetime(table: Table, col: Column, value: Any) -> Any:
    if not isinstance(value, str):
        raise _wrong(table, col, value)
    if col.date_only:
        if not DATE_RE.match(value):
            raise _wrong(table, col, value)
        try:  # the pattern lets 30 February, a trailing newline and non-ASCII digits through
            date.fromisoformat(value)
        except ValueError:
            raise _wrong(table, col, value) from None
        stored = value
    else:
        try:
            stored = normalize_datetime(value, require_zone=True)
        except ValueError:
            raise _wrong(table, col, value) from None
    if stored[:10] < _MIN_DATE:
        raise errors.ODataError(400, "0x80040239", "DateTime is less than minumum value supported by CrmDateTime")
    return stored


def _guid(table: Table, col: Column, value: Any) -> Any:
    if not isinstance(value, str) or not is_guid(value):
        raise _wrong(table, col, value)
    return value.lower()


def _refuse(table: Table, col: Column, value: Any) -> Any:
    raise _wrong(table, col, value)


_COERCERS: dict[str, Callable[[Table, Column, Any], Any]] = {
    **dict.fromkeys(("string", "memo", "entityname", "image"), _text),
    **dict.fromkeys(("int", "bigint", "picklist", "state", "status"), _integer),
    "bool": _boolean,
    **dict.fromkeys(("decimal", "money", "double"), _number),
    "datetime": _datetime,
    "uniqueidentifier": _guid,
}


def checker_for(col: Column) -> Callable[[Table, Column, Any], Any]:
    """The value checker of ``col``'s type (what :func:`coerce` calls for a non-null value)."""
    return _COERCERS.get(col.type, _refuse)


def bound_check(table: Table, col: Column) -> Callable[[Any], Any]:
    """``checker_for(col)`` bound to ``table`` and ``col``: one non-null value in, the stored
    value out (or the checker's error).

    Text, whole-number and yes/no columns get a closure that first tries, with the column's
    figures read once, the value every client sends (a ``str`` within the length, an ``int``
    inside Int32, the column's options and range, a ``bool``) and returns it as the checker
    would; any other value goes to the checker itself, which answers or refuses it. Other
    types are the checker, bound.
    """
    checker = checker_for(col)
    if checker is _text:
        limit = col.max_length
        if limit is None:
            return lambda value: value if type(value) is str else _text(table, col, value)
        half = limit // 2  # len(value) * 2 <= limit: within the limit whatever the UTF-16 count
        return lambda value: value if type(value) is str and len(value) <= half else _text(table, col, value)
    if checker is _integer and col.type != "bigint" and col.min_value is None and col.max_value is None:
        options = frozenset(col.options) if col.type == "picklist" and col.options else None
        if options is None:
            return lambda value: value if type(value) is int and -2**31 <= value < 2**31 else _integer(table, col, value)
        return lambda value: (value if type(value) is int and value in options and -2**31 <= value < 2**31
                              else _integer(table, col, value))
    if checker is _boolean:
        return lambda value: value if type(value) is bool else _boolean(table, col, value)
    return partial(checker, table, col)


class PayloadReader:
    """Reads a write's JSON body for a table: what to store, what to create, what to bind."""

    def __init__(self, resolve: Resolve, statecode_on_create: str):
        self.resolve = resolve
        self.statecode_on_create = statecode_on_create  # "reject" or "ignore" (Options)
        # For creates and for updates: table -> {column: check(value)}, the table's plain
        # columns (Table.plain_create_columns / plain_update_columns), each with its checker
        # bound to the table and column (bound_check). One store, one catalog: the logical
        # name names the table.
        self._checks: dict[bool, dict[str, dict[str, Callable[[Any], Any]]]] = {True: {}, False: {}}

    def _plain_checks(self, table: Table, creating: bool) -> dict[str, Callable[[Any], Any]]:
        checks = self._checks[creating]
        found = checks.get(table.logical)
        if found is None:
            plain = table.plain_create_columns if creating else table.plain_update_columns
            found = checks[table.logical] = {name: bound_check(table, col) for name, col in plain.items()}
        return found

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
        plain = self._checks[creating].get(table.logical) or self._plain_checks(table, creating)
        binds = table.bind_navs
        for key, value in body.items():
            check = plain.get(key)
            if check is not None:  # a column the body may set as it is: only its value to check
                values[key] = None if value is None else check(value)
                continue
            nav = binds.get(key)
            if nav is not None:  # "nav@odata.bind" of a single-valued navigation property
                self._bind(table, nav, value, ctx, values, creating)
                continue
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
                    self._bind(table, table.navs[prop], value, ctx, values, creating)
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
                if value is None:  # "nav": null disassociates too
                    _clear_lookup(table, table.navs[key].column, values)
                    continue
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
            if col is None or col.type in ("lookup", "partylist", "file"):
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


    def _bind(self, table: Table, nav, value: Any, ctx: WriteContext, values: dict, creating: bool) -> None:
        """``nav@odata.bind``: set the lookup column to the bound row (null disassociates)."""
        if value is None:  # "nav@odata.bind": null disassociates (associate-disassociate docs)
            _clear_lookup(table, nav.column, values)
            return
        if not isinstance(value, str):
            raise errors.payload_error(
                table.entity_set, f"The value of the 'odata.bind' annotation for the single-valued "
                                  f"navigation property '{nav.name}' must be a string.")
        target, rid = self.resolve(value, ctx, table.entity_set)
        if target.logical != nav.target:
            raise errors.payload_error(
                table.entity_set,
                f"A resource of type 'Microsoft.Dynamics.CRM.{target.logical}' was bound to the "
                f"navigation property '{nav.name}' whose type is "
                f"'Microsoft.Dynamics.CRM.{nav.target}'.")
        col = table.columns[nav.column]
        if (creating and not col.create) or (not creating and not col.update):
            return  # a read-only lookup is ignored like any read-only column
        values[nav.column] = rid
        if col.type_column:
            values[col.type_column] = target.logical


def _clear_lookup(table: Table, column: str, values: dict) -> None:
    col = table.columns[column]
    values[column] = None
    if col.type_column:
        values[col.type_column] = None


def _check_range(table: Table, col: Column, value: int | float) -> None:
    """MinValue/MaxValue of a number column (the page's values; 0x80044331 like a length)."""
    low, high = col.min_value, col.max_value
    if (low is not None and value < low) or (high is not None and value > high):
        raise errors.ODataError(
            400, "0x80044331",
            f"A validation error occurred for {table.logical}.{col.name}. The value {value} of type "
            f"{_CLR_TYPES.get(col.type, 'System.Int32')} is outside the valid range({_num(low)} to {_num(high)}).")


def _num(value: int | float | None) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


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


def check_editable(table: Table, row: dict, changing: set[str] | None = None) -> None:
    """A row in a read-only state can't be edited (the StateCode descriptions of the pages:
    "Completed and canceled email is read-only", "Inactive contacts are read-only and can't be
    edited unless they are reactivated"). Where reactivation exists, an update that only sets
    ``statecode``/``statuscode`` still goes through."""
    state = row.get("statecode")
    if state is None or state not in table.read_only_states:
        return
    if table.reopen and changing is not None and changing and changing <= {"statecode", "statuscode"}:
        return
    label = dict(table.columns["statecode"].option_labels).get(state, str(state)).lower()
    if table.is_activity:
        raise errors.ODataError(
            400, "0x80040203",
            f"This {table.logical} is completed or canceled and is read-only; it can't be edited.")
    raise errors.ODataError(
        400, "0x80040203",
        f"This {table.logical} is {label} and is read-only; it can't be edited unless it is reactivated.")


def check_one_sender(parent: Table, items: list) -> None:
    """An email's From holds one party (the platform resolves a sender to a single row), so
    two ``participationtypemask: 1`` parties are refused rather than stored (UNCONFIRMED
    wording, see docs/emulator.md; the limit is ``party_rules`` in schema_overrides.yaml)."""
    if parent.max_senders is None:
        return
    senders = sum(1 for i in items if isinstance(i, dict) and i.get("participationtypemask") == 1
                  and not isinstance(i.get("participationtypemask"), bool))
    if senders > parent.max_senders:
        raise errors.ODataError(
            400, "0x80040203",
            f"An email can have only one sender (participationtypemask 1); {senders} were given.")


def check_party(parent: Table, item: Any) -> None:
    """The activity's allowed participation types (email: 1..4), and a bound party or an address."""
    if not isinstance(item, dict):
        return
    mask = item.get("participationtypemask")
    if mask is None:
        raise errors.ODataError(400, "0x80040203",
                                "participationtypemask is required for an activity party.")
    if parent.party_masks and isinstance(mask, int) and not isinstance(mask, bool) and mask not in parent.party_masks:
        raise errors.outside_range("activityparty", "participationtypemask", mask, list(parent.party_masks))
    if not item.get("addressused") and not any(k.startswith("partyid_") and k.endswith("@odata.bind") for k in item):
        raise errors.ODataError(
            400, "0x80040203",
            "An activity party needs a party (partyid_*@odata.bind) or an address (addressused).")
