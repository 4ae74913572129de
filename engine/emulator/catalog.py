"""Build the emulated org's tables from the generated schema data, for one org shape.

``schema_data.json`` is generated from Microsoft's table reference pages by
``tools/gen_schema.py``; ``schema_overrides.yaml`` holds what the pages do not state (object type
codes, which app a table belongs to, bulk-message support, state rules, party rules). This
module joins the two, keeps the tables of the chosen org profile, drops the navigation
properties and lookup targets that point at tables the profile lacks (a base org has no
``regardingobjectid_opportunity_email``), then applies ``--schema-extend`` additions.
"""

from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources
from typing import Any

import yaml

from .schema import Column, NavCollection, NavSingle, Table

PROFILES = ("base", "sales", "service", "sales+service")

# The page's Type -> the emulator's value kind (validation, Edm type).
_KINDS = {
    "String": "string", "Memo": "memo", "EntityName": "entityname", "Integer": "int", "BigInt": "bigint",
    "Picklist": "picklist", "State": "state", "Status": "status", "Boolean": "bool", "DateTime": "datetime",
    "Decimal": "decimal", "Money": "money", "Double": "double", "Uniqueidentifier": "uniqueidentifier",
    "Lookup": "lookup", "Customer": "lookup", "Owner": "lookup", "PartyList": "partylist", "Image": "image",
    "File": "file",
}


@lru_cache(maxsize=1)
def schema_data() -> dict[str, Any]:
    """The generated data shipped with the emulator (read once per process)."""
    return json.loads(resources.files(__package__).joinpath("schema_data.json").read_text("utf-8"))


@lru_cache(maxsize=1)
def overrides() -> dict[str, Any]:
    """The documented rules the reference pages do not state."""
    return yaml.safe_load(resources.files(__package__).joinpath("schema_overrides.yaml").read_text("utf-8"))


def profile_tables(profile: str) -> set[str]:
    """Logical names of the tables an org of ``profile`` has."""
    if profile not in PROFILES:
        raise ValueError(f"unknown org profile {profile!r}; expected one of {', '.join(PROFILES)}")
    shapes = overrides()["profiles"]
    names = set(shapes["base"])
    for part in profile.split("+"):
        if part != "base":
            names |= set(shapes[part])
    return names


def _type_column(name: str, spec: dict, columns: dict[str, dict]) -> str | None:
    """The EntityName column that holds a polymorphic lookup's target table."""
    if len(spec.get("targets", ())) < 2 and spec["type"] not in ("Customer", "Owner"):
        return None
    stem = name[:-2] if name.endswith("id") else name
    for candidate in (f"{name}type", f"{stem}typecode", f"{stem}objecttypecode"):
        if columns.get(candidate, {}).get("type") == "EntityName":
            return candidate
    return None


def make_column(name: str, spec: dict, columns: dict[str, dict], absent: set[str]) -> Column:
    """One :class:`Column` from its generated (or extension) spec."""
    kind = _KINDS[spec["type"]]
    options: tuple = ()
    labels: tuple = ()
    if "options" in spec:
        labels = tuple((int(v), str(label)) for v, label, *_ in spec["options"])
    elif "states" in spec:
        labels = tuple((int(v), str(label)) for v, label, _default in spec["states"])
    elif "statuses" in spec:
        labels = tuple((int(v), str(label)) for v, label, _state in spec["statuses"])
    options = tuple(v for v, _ in labels)
    targets = tuple(t for t in spec.get("targets", ()) if t not in absent)
    return Column(
        name=name,
        type=kind,
        max_length=spec.get("max_length"),
        create=spec.get("create", True),
        update=spec.get("update", True),
        read=spec.get("read", True),
        targets=targets,
        type_column=_type_column(name, spec, columns) if kind == "lookup" else None,
        options=options,
        option_labels=labels,
        min_value=spec.get("min"),
        max_value=spec.get("max"),
        precision=spec.get("precision"),
        date_only=spec.get("behavior") == "DateOnly",
        behavior=spec.get("behavior"),
        attribute_type=spec["type"],
        schema_name=spec.get("schema") or name,
        required=spec.get("required", "None"),
        custom=bool(spec.get("custom")),
    )


def _table(logical: str, data: dict, absent: set[str], rules: dict, email_subject_max: int) -> Table:
    specs = {name: spec for name, spec in data["columns"].items() if spec.get("added_with") not in absent}
    extra_navs = (rules.get("navigations") or {}).get(logical) or {}
    for nav in extra_navs.values():
        col = specs[nav["column"]]
        if nav["target"] not in col.get("targets", ()):
            specs[nav["column"]] = {**col, "targets": sorted([*col.get("targets", ()), nav["target"]])}
    data = {**data, "navigations": {**data.get("navigations", {}), **extra_navs}}
    for name, change in (rules.get("columns", {}).get(logical) or {}).items():
        specs[name] = {**specs[name], **change}
    if logical == "email" and email_subject_max != specs["subject"].get("max_length"):
        specs["subject"] = {**specs["subject"], "max_length": email_subject_max}
    columns = {name: make_column(name, spec, specs, absent) for name, spec in specs.items()}
    navs = {name: NavSingle(name, nav["column"], nav["target"])
            for name, nav in data.get("navigations", {}).items() if nav["target"] not in absent}
    colls = {name: NavCollection(name, coll["child"], coll["column"])
             for name, coll in data.get("collections", {}).items() if coll["child"] not in absent}
    states = {int(v): int(default) for v, _label, default in specs.get("statecode", {}).get("states", ())}
    statuses = {int(v): int(state) for v, _label, state in specs.get("statuscode", {}).get("statuses", ())}
    read_only = rules.get("read_only_states", {}).get(logical) or {}
    party = rules.get("party_rules", {}).get(logical) or {}
    return Table(
        logical=logical,
        entity_set=data["entity_set"],
        pk=data["pk"],
        primary_name=data.get("primary_name"),
        object_type_code=int(rules["object_type_codes"][logical]),
        columns=columns,
        navs=navs,
        collections=colls,
        state_defaults=states,
        status_state=statuses,
        bulk=logical in rules["bulk_messages"],
        creatable=logical not in rules["not_creatable"],
        schema_name=data.get("schema") or logical,
        collection_schema_name=data.get("collection_schema") or "",
        read_only_states=tuple(read_only.get("states", ())),
        reopen=bool(read_only.get("reopen", False)),
        party_masks=tuple(party.get("masks", ())),
        max_senders=party.get("max_senders"),
        is_activity=data["pk"] == "activityid" and "activitytypecode" in specs,
    )


def build_catalog(profile: str = "sales+service", email_subject_max: int = 800,
                  extension: dict | None = None) -> dict[str, Table]:
    """The tables of an org of ``profile``, with ``extension`` (see :mod:`.extend`) applied."""
    present = profile_tables(profile)
    rules = overrides()
    every = set(schema_data()["tables"]) | set(rules["tables_without_page"])
    absent = every - present
    datas = {**schema_data()["tables"], **rules["tables_without_page"]}
    if extension:
        datas = _extended(datas, extension, absent)
        present |= set(extension.get("tables", {}))
        rules = {**rules, "object_type_codes": {**rules["object_type_codes"],
                                                **{t: 10000 + i for i, t in enumerate(sorted(extension.get("tables", {})))}},
                 "bulk_messages": [*rules["bulk_messages"], *extension.get("tables", {})]}
    return {name: _table(name, datas[name], absent, rules, email_subject_max)
            for name in sorted(present) if name in datas}


def _extended(datas: dict, extension: dict, absent: set[str]) -> dict:
    """``datas`` with the extension's custom tables and columns merged in."""
    out = dict(datas)
    for name, table in extension.get("tables", {}).items():
        out[name] = table
    for table, columns in extension.get("columns", {}).items():
        base = dict(out[table])
        base["columns"] = {**base["columns"], **{c: spec for c, (spec, _nav) in columns.items()}}
        navs = dict(base.get("navigations", {}))
        for column, (spec, nav) in columns.items():
            if nav:
                navs[nav] = {"column": column, "target": spec["targets"][0], "name_source": "rule"}
        base["navigations"] = navs
        out[table] = base
    return out
