"""Pre-flight: check the mappings against the org's own metadata before the first write.

A mapping that names a column the org does not have (a typo, a column of another solution, a
custom column not yet deployed), or gives a column a value of the wrong type
(``telephone2: {value: 12345}`` on a text column) or longer than the column holds, would fail
every record of that table on the service, with a message that does not name the column.
Reading each table's column definitions once (``EntityDefinitions(...)/Attributes``: logical
name, ``AttributeType`` and, for text columns, ``MaxLength``) turns that into one clear error at
the mapping file's line, before anything is written. ``doctor`` runs the same checks.

What can be known before reading any record is checked: whether the column exists, and the type
and length of values fixed in the mapping (``value:`` with its transforms applied). Values read
from records are the mapping's transforms' business (``{truncate: 50}``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from .errors import Problem

#: The tables the mappings write, with the attribute of the mapping set that describes each.
MAPPED_TABLES = (("contact", "contact"), ("account", "account"), ("email", "email"))

#: ``AttributeType`` → the JSON value types a column of that type takes (bool is not a number here).
_ACCEPTS: dict[str, tuple[str, ...]] = {
    "String": ("string",), "Memo": ("string",), "EntityName": ("string",),
    "Uniqueidentifier": ("string",), "DateTime": ("string",),
    "Integer": ("integer",), "BigInt": ("integer",), "Picklist": ("integer",),
    "State": ("integer",), "Status": ("integer",),
    "Decimal": ("integer", "number"), "Double": ("integer", "number"), "Money": ("integer", "number"),
    "Boolean": ("boolean",),
}
#: lookups are written as ``<navigation>@odata.bind``, never as plain values
_LOOKUPS = {"Lookup", "Customer", "Owner", "PartyList"}


@dataclass(frozen=True)
class ColumnInfo:
    """What the org says about one column: its ``AttributeType`` and, for text, ``MaxLength``."""

    name: str
    type: str | None = None
    max_length: int | None = None


def read_columns(send: Callable[[str], Any], table: str) -> dict[str, ColumnInfo] | None:
    """The columns of ``table`` from the org's metadata; None when it cannot be read.

    :param send: ``path → Result`` (a GET relative to the service root), e.g.
        ``lambda p: client.send(Operation("GET", p))``.

    ``MaxLength`` is a property of the String and Memo metadata types, not of
    ``AttributeMetadata``: it is read through the documented type casts, one request each.
    """
    base = f"EntityDefinitions(LogicalName='{table}')/Attributes"
    res = send(f"{base}?$select=LogicalName,AttributeType")
    if not res.ok:
        return None
    columns = {a["LogicalName"]: ColumnInfo(a["LogicalName"], a.get("AttributeType"))
               for a in (res.body or {}).get("value", []) if "LogicalName" in a}
    for cast in ("StringAttributeMetadata", "MemoAttributeMetadata"):
        res = send(f"{base}/Microsoft.Dynamics.CRM.{cast}?$select=LogicalName,MaxLength")
        if not res.ok:
            continue  # lengths unknown: types and names are still checked
        for a in (res.body or {}).get("value", []):
            name = a.get("LogicalName")
            if name in columns and isinstance(a.get("MaxLength"), int):
                columns[name] = ColumnInfo(name, columns[name].type, a["MaxLength"])
    return columns


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object" if isinstance(value, dict) else "null"


def utf16_length(text: str) -> int:
    """Length in UTF-16 code units, as Dataverse counts ``MaxLength`` (an emoji counts 2)."""
    return len(text.encode("utf-16-le")) // 2


def value_problem(column: ColumnInfo, value: Any) -> str | None:
    """Why ``value`` cannot be written to ``column`` (type or length), or None when it can."""
    if column.type is None or value is None:
        return None
    if column.type in _LOOKUPS:
        return (f"column {column.name} is a {column.type} column: bind it with "
                f"'<navigation property>@odata.bind' instead of a plain value")
    accepts = _ACCEPTS.get(column.type)
    got = _json_type(value)
    if accepts is not None and got not in accepts:
        want = " or ".join(accepts)
        hint = f" (write it as {str(value)!r} in quotes)" if "string" in accepts and got in ("integer", "number") else ""
        return f"column {column.name} is {column.type} in the org and takes a {want}, but the mapping gives {got} {value!r}{hint}"
    if column.max_length is not None and isinstance(value, str) and utf16_length(value) > column.max_length:
        return (f"column {column.name} holds at most {column.max_length} characters, but the mapping's value has "
                f"{utf16_length(value)}")
    return None


def _constant(column: Any) -> tuple[bool, Any]:
    """The value a mapping column always has (``value:`` through its transforms), if it has one."""
    if not getattr(column, "has_constant", False) or getattr(column, "when", None) is not None:
        return False, None
    try:
        return True, column.compute({}, []) if column.compute is not None else column.constant
    except Exception:  # noqa: BLE001 - a transform refusing the constant is the mapper's error to report
        return False, None


def read_concurrently(mappings: Any, attributes: Callable[[str], Any]) -> Callable[[str], Any]:
    """``attributes`` for every table the mappings write, read at once (a thread each) and kept:
    the org's metadata takes three GETs a table, one after another, and nine round trips before
    the first write were a quarter of a second at 25 ms. The result is what
    :func:`column_problems` takes; a table not read here is read when asked for."""
    tables = [table for table, attr in MAPPED_TABLES if getattr(mappings, attr, None) is not None]
    if len(tables) < 2:
        return attributes
    with ThreadPoolExecutor(max_workers=len(tables), thread_name_prefix="metadata") as pool:
        found = dict(zip(tables, pool.map(attributes, tables)))
    return lambda table: found[table] if table in found else attributes(table)


def column_problems(mappings: Any, attributes: Callable[[str], Mapping[str, Any] | set[str] | None]
                    ) -> tuple[list[Problem], list[str]]:
    """Columns the mappings write that the org's tables do not have, or cannot take.

    :param mappings: the compiled :class:`~mail2dataverse.mapper.MappingSet`.
    :param attributes: ``table → {name: ColumnInfo}`` (or a plain set of names, which checks
        existence only), or ``None`` when the org's metadata cannot be read (for instance
        without the privilege to read it).
    :returns: the problems (located at the mapping's column) and warnings for tables that could
        not be checked.
    """
    problems: list[Problem] = []
    warnings: list[str] = []
    for table, attr in MAPPED_TABLES:
        mapping = getattr(mappings, attr, None)
        if mapping is None:
            continue
        names = attributes(table)
        if names is None:
            warnings.append(f"could not read the {table} table's columns from the org; mapping columns not checked")
            continue
        for column in mapping.columns:
            if "@" in column.name:  # navigation properties are checked by the service per bind
                continue
            if column.name not in names:
                problems.append(Problem(column.source, f"the org's {table} table has no column {column.name!r}"))
                continue
            info = names[column.name] if isinstance(names, Mapping) else None
            if not isinstance(info, ColumnInfo):
                continue
            fixed, value = _constant(column)
            why = value_problem(info, value) if fixed else None
            if why is None and info.type in _LOOKUPS:
                why = value_problem(info, "")
            if why:
                problems.append(Problem(column.source, f"the org's {table} table: {why}"))
    return problems, warnings
