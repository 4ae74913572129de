"""``--schema-extend FILE``: custom columns and tables, as an org's makers add them.

A small YAML file, so a user can try a mapping to ``new_nickname`` locally before the column
exists on the real org::

    columns:
      - {table: contact, column: new_nickname, type: string, length: 100}
      - {table: contact, column: new_score, type: integer, min: 0, max: 100}
      - {table: contact, column: new_tier, type: choice, options: [1, 2, 3]}
      - {table: contact, column: new_projectid, type: lookup, target: new_project}
    tables:
      - {table: new_project, entity_set: new_projects, primary_name: new_name}

Names follow the platform's rules for custom schema: lower case, a publisher prefix and an
underscore (``new_``, ``contoso_``). A table gets its primary key ``<table>id`` and its primary
name column (``String``, 100 by default). A lookup gives the navigation property named like the
column (a single-target lookup, as the platform names it). Errors name ``file:line:column``.
"""

from __future__ import annotations

import re
from typing import Any

import yaml

_NAME = re.compile(r"^[a-z][a-z0-9]{1,7}_[a-z0-9_]+$")

# YAML type word -> the page's Type and what else the column spec needs.
_TYPES = {
    "string": "String", "text": "String", "memo": "Memo", "multiline": "Memo", "integer": "Integer",
    "whole": "Integer", "bigint": "BigInt", "decimal": "Decimal", "double": "Double", "float": "Double",
    "money": "Money", "currency": "Money", "boolean": "Boolean", "yesno": "Boolean", "datetime": "DateTime",
    "dateonly": "DateTime", "date": "DateTime", "choice": "Picklist", "picklist": "Picklist",
    "lookup": "Lookup", "guid": "Uniqueidentifier", "uniqueidentifier": "Uniqueidentifier",
}
# Defaults of the maker portal for a new column.
_DEFAULTS = {
    "String": {"max_length": 100}, "Memo": {"max_length": 2000},
    "Integer": {"min": -2147483648, "max": 2147483647},
    "Decimal": {"min": -100000000000, "max": 100000000000, "precision": 2},
    "Double": {"min": -100000000000, "max": 100000000000, "precision": 2},
    "Money": {"min": -922337203685477, "max": 922337203685477, "precision": 2},
}
_COLUMN_KEYS = {"table", "column", "type", "length", "min", "max", "precision", "options", "target", "required"}
_TABLE_KEYS = {"table", "entity_set", "primary_name", "primary_name_length"}


class SchemaExtendError(ValueError):
    """A ``--schema-extend`` file the emulator cannot apply (the message names file:line:col)."""


def _where(filename: str, node: yaml.Node | None) -> str:
    if node is None:
        return filename
    mark = node.start_mark
    return f"{filename}:{mark.line + 1}:{mark.column + 1}"


def _items(root: yaml.Node, key: str) -> list[tuple[dict[str, Any], dict[str, yaml.Node], yaml.Node]]:
    """The list under ``key``: each item's values, the node of each value (``"<name>:"`` for the
    key itself), and the item's own node."""
    for k, v in root.value:
        if k.value == key:
            if not isinstance(v, yaml.SequenceNode):
                raise _error(v, f"'{key}' must be a list")
            out = []
            for item in v.value:
                if not isinstance(item, yaml.MappingNode):
                    raise _error(item, f"each entry of '{key}' must be a mapping")
                data = yaml.safe_load(yaml.serialize(item))
                nodes = {kk.value: vv for kk, vv in item.value}
                nodes.update({f"{kk.value}:": kk for kk, _ in item.value})
                out.append((data, nodes, item))
            return out
    return []


class _Located(Exception):
    def __init__(self, node, message):
        super().__init__(message)
        self.node, self.message = node, message


def _error(node, message) -> _Located:
    return _Located(node, message)


def load_extension(text: str, filename: str, known: dict[str, dict]) -> dict[str, Any]:
    """Parse a ``--schema-extend`` file into the shape :func:`.catalog.build_catalog` applies.

    :param known: the generated tables (``schema_data()["tables"]`` plus pageless ones), to
        refuse a column that already exists or a table that does not.
    :raises SchemaExtendError: with ``file:line:col: message``.
    """
    try:
        root = yaml.compose(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{filename}:{mark.line + 1}:{mark.column + 1}" if mark else filename
        raise SchemaExtendError(f"{where}: not valid YAML: {getattr(exc, 'problem', exc)}") from None
    if root is None:
        return {"tables": {}, "columns": {}}
    try:
        if not isinstance(root, yaml.MappingNode):
            raise _error(root, "expected a mapping with 'columns' and/or 'tables'")
        unknown = [k for k, _ in root.value if k.value not in ("columns", "tables")]
        if unknown:
            raise _error(unknown[0], f"unknown key '{unknown[0].value}' (expected 'columns', 'tables')")
        tables = _tables(_items(root, "tables"), known)
        columns = _columns(_items(root, "columns"), {**known, **tables})
    except _Located as exc:
        raise SchemaExtendError(f"{_where(filename, exc.node)}: {exc.message}") from None
    return {"tables": tables, "columns": columns}


def _name(value: Any, node, what: str) -> str:
    if not isinstance(value, str) or not _NAME.match(value):
        raise _error(node, f"{what} {value!r} is not a custom schema name: lower case, a publisher prefix "
                           "and an underscore, e.g. new_nickname")
    return value


def _tables(items, known) -> dict[str, dict]:
    out: dict[str, dict] = {}
    for data, nodes, item in items:
        extra = set(data) - _TABLE_KEYS
        if extra:
            key = sorted(extra)[0]
            raise _error(nodes[key + ":"], f"unknown key '{key}' for a table (expected {', '.join(sorted(_TABLE_KEYS))})")
        if "table" not in data:
            raise _error(item, "a table needs 'table'")
        name = _name(data["table"], nodes["table"], "table")
        if name in known or name in out:
            raise _error(nodes["table"], f"table '{name}' already exists")
        entity_set = data.get("entity_set", name + "s")
        primary = _name(data.get("primary_name", f"{name.split('_', 1)[0]}_name"), nodes.get("primary_name", item),
                        "primary_name")
        pk = f"{name}id"
        out[name] = {
            "schema": name, "collection_schema": entity_set, "entity_set": entity_set, "pk": pk,
            "primary_name": primary, "ownership": "UserOwned", "display": name, "custom": True,
            "messages": ["Create", "Delete", "Retrieve", "RetrieveMultiple", "Update"],
            "columns": {
                pk: {"schema": pk, "type": "Uniqueidentifier", "update": False, "custom": True},
                primary: {"schema": primary, "type": "String", "custom": True,
                          "max_length": int(data.get("primary_name_length", 100))},
                "createdon": {"schema": "CreatedOn", "type": "DateTime", "behavior": "UserLocal",
                              "create": False, "update": False},
                "modifiedon": {"schema": "ModifiedOn", "type": "DateTime", "behavior": "UserLocal",
                               "create": False, "update": False},
                "versionnumber": {"schema": "VersionNumber", "type": "BigInt", "create": False, "update": False},
                "statecode": {"schema": "StateCode", "type": "State", "create": False,
                              "states": [[0, "Active", 1], [1, "Inactive", 2]]},
                "statuscode": {"schema": "StatusCode", "type": "Status",
                               "statuses": [[1, "Active", 0], [2, "Inactive", 1]]},
            },
            "navigations": {}, "collections": {},
            "source": {"note": "custom table from --schema-extend"},
        }
    return out


def _columns(items, known) -> dict[str, dict[str, tuple[dict, str | None]]]:
    out: dict[str, dict[str, tuple[dict, str | None]]] = {}
    for data, nodes, item in items:
        extra = set(data) - _COLUMN_KEYS
        if extra:
            key = sorted(extra)[0]
            raise _error(nodes[key + ":"], f"unknown key '{key}' for a column (expected {', '.join(sorted(_COLUMN_KEYS))})")
        for key in ("table", "column", "type"):
            if key not in data:
                raise _error(item, f"a column needs '{key}'")
        table = data["table"]
        if table not in known:
            raise _error(nodes["table"], f"no table '{table}' (known: {', '.join(sorted(known))})")
        name = _name(data["column"], nodes["column"], "column")
        if name in known[table]["columns"] or name in out.get(table, {}):
            raise _error(nodes["column"], f"column '{name}' already exists on '{table}'")
        kind_word = str(data["type"]).lower()
        if kind_word not in _TYPES:
            raise _error(nodes["type"], f"unknown type {data['type']!r} (expected one of {', '.join(sorted(_TYPES))})")
        kind = _TYPES[kind_word]
        spec: dict[str, Any] = {"schema": name, "type": kind, "custom": True, **_DEFAULTS.get(kind, {})}
        if kind_word in ("dateonly", "date"):
            spec.update(behavior="DateOnly", format="DateOnly")
        elif kind == "DateTime":
            spec.update(behavior="UserLocal", format="DateAndTime")
        for src, dst in (("length", "max_length"), ("min", "min"), ("max", "max"), ("precision", "precision")):
            if src in data:
                value = data[src]
                if isinstance(value, bool) or not isinstance(value, (int, float)):
                    raise _error(nodes[src], f"'{src}' must be a number, got {value!r}")
                spec[dst] = value
        if "required" in data:
            spec["required"] = "ApplicationRequired" if data["required"] else "None"
        nav = None
        if kind == "Picklist":
            options = data.get("options")
            if not isinstance(options, list) or not options or not all(
                    isinstance(o, int) and not isinstance(o, bool) for o in options):
                raise _error(nodes.get("options", item), "a choice column needs 'options': a list of integers")
            spec["options"] = [[o, str(o)] for o in options]
        if kind == "Lookup":
            target = data.get("target")
            if target not in known:
                raise _error(nodes.get("target", item), f"a lookup needs 'target': one of {', '.join(sorted(known))}")
            spec["targets"] = [target]
            nav = name
        out.setdefault(table, {})[name] = (spec, nav)
    return out
