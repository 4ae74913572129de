"""``EntityDefinitions``: the metadata queries clients make before writing.

The official Python SDK resolves a table's entity set and primary key with
``GET EntityDefinitions?$select=LogicalName,EntitySetName,PrimaryIdAttribute&$filter=LogicalName eq 'contact'``
and fetches picklist options through
``EntityDefinitions(LogicalName='contact')/Attributes/Microsoft.Dynamics.CRM.PicklistAttributeMetadata``;
other clients read ``Attributes`` and ``Keys``. Answers are built from the same generated tables
as every write (:mod:`.catalog`: type, MaxLength, MinValue/MaxValue, precision, DateTimeBehavior,
option labels, targets, validity for create/update/read) and the store's declared alternate keys.
"""

from __future__ import annotations

import uuid
from typing import Any

from . import errors
from .filters import compile_filter
from .keys import parse_key
from .queryoptions import parse_expand, parse_select
from .schema import METADATA_NS, Column, Table

_ATTR_ODATA_TYPES = {
    "String": "StringAttributeMetadata", "Memo": "MemoAttributeMetadata", "EntityName": "EntityNameAttributeMetadata",
    "Integer": "IntegerAttributeMetadata", "BigInt": "BigIntAttributeMetadata",
    "Picklist": "PicklistAttributeMetadata", "State": "StateAttributeMetadata", "Status": "StatusAttributeMetadata",
    "Boolean": "BooleanAttributeMetadata", "DateTime": "DateTimeAttributeMetadata",
    "Decimal": "DecimalAttributeMetadata", "Money": "MoneyAttributeMetadata", "Double": "DoubleAttributeMetadata",
    "Uniqueidentifier": "UniqueIdentifierAttributeMetadata", "Lookup": "LookupAttributeMetadata",
    "Customer": "LookupAttributeMetadata", "Owner": "LookupAttributeMetadata", "Image": "ImageAttributeMetadata",
    "File": "FileAttributeMetadata", "PartyList": "LookupAttributeMetadata",
}


def entity(table: Table) -> dict[str, Any]:
    """EntityMetadata for one table (the properties clients read)."""
    return {
        "MetadataId": table.metadata_id,
        "LogicalName": table.logical,
        "SchemaName": table.schema_name,
        "EntitySetName": table.entity_set,
        "LogicalCollectionName": table.entity_set,
        "CollectionSchemaName": table.collection_schema_name or table.schema_name + "s",
        "PrimaryIdAttribute": table.pk,
        "PrimaryNameAttribute": table.primary_name,
        "ObjectTypeCode": table.object_type_code,
        "IsActivity": table.is_activity,
        "IsActivityParty": table.logical == "activityparty",
        "IsCustomEntity": table.object_type_code >= 10000,
        "IsValidForAdvancedFind": True,
        "TableType": "Standard",
    }


def attribute(table: Table, col: Column) -> dict[str, Any]:
    """AttributeMetadata for one column, typed with ``@odata.type`` like the real response."""
    attr_type = col.attribute_type
    out = {
        "@odata.type": f"#Microsoft.Dynamics.CRM.{_ATTR_ODATA_TYPES.get(attr_type, 'LookupAttributeMetadata')}",
        "MetadataId": str(uuid.uuid5(METADATA_NS, f"{table.logical}.{col.name}")),
        "LogicalName": col.name,
        "SchemaName": col.schema_name or col.name,
        "EntityLogicalName": table.logical,
        "AttributeType": attr_type,
        "AttributeTypeName": {"Value": f"{attr_type}Type"},
        "IsPrimaryId": col.name == table.pk,
        "IsPrimaryName": col.name == table.primary_name,
        "IsValidForCreate": col.create,
        "IsValidForUpdate": col.update,
        "IsValidForRead": col.read,
        "IsCustomAttribute": col.custom,
        "RequiredLevel": {"Value": col.required, "CanBeChanged": not col.custom, "ManagedPropertyLogicalName":
                          "canmodifyrequirementlevelsettings"},
    }
    if col.max_length is not None:
        out["MaxLength"] = col.max_length
    if col.min_value is not None:
        out["MinValue"] = col.min_value
    if col.max_value is not None:
        out["MaxValue"] = col.max_value
    if col.precision is not None:
        out["Precision"] = col.precision
    if col.behavior is not None:
        out["DateTimeBehavior"] = {"Value": col.behavior}
        out["Format"] = "DateOnly" if col.date_only else "DateAndTime"
    if col.type == "lookup":
        out["Targets"] = list(col.targets)
    return out


def _options(table: Table, col: Column) -> dict[str, Any]:
    labels = dict(col.option_labels)
    values = col.options
    if col.type == "state":
        values = tuple(sorted(table.state_defaults))
    elif col.type == "status":
        values = tuple(sorted(table.status_state))
    return {
        "MetadataId": str(uuid.uuid5(METADATA_NS, f"{table.logical}.{col.name}.options")),
        "Name": f"{table.logical}_{col.name}",
        "Options": [
            {"Value": v, "Label": {"LocalizedLabels": [{"Label": labels.get(v, str(v)), "LanguageCode": 1033}],
                                   "UserLocalizedLabel": {"Label": labels.get(v, str(v)), "LanguageCode": 1033}}}
            for v in values
        ],
    }


def keys(store, table: Table) -> list[dict[str, Any]]:
    """EntityKeyMetadata for the table's declared alternate keys."""
    return [
        {
            "MetadataId": str(uuid.uuid5(METADATA_NS, f"{table.logical}.key.{k.name}")),
            "LogicalName": k.name.lower(),
            "SchemaName": k.name,
            "EntityLogicalName": table.logical,
            "KeyAttributes": list(k.columns),
            "EntityKeyIndexStatus": "Active",
            "DisplayName": {"LocalizedLabels": [{"Label": k.name, "LanguageCode": 1033}]},
        }
        for k in store.keys[table.logical]
    ]


def many_to_one(table: Table) -> list[dict[str, Any]]:
    """OneToManyRelationshipMetadata of the table's lookups, one per single-valued navigation property.

    ``ReferencingEntityNavigationPropertyName`` is the name a client binds with
    (``parentcustomerid_account@odata.bind``); a polymorphic lookup has one per target.
    """
    return [
        {
            "@odata.type": "#Microsoft.Dynamics.CRM.OneToManyRelationshipMetadata",
            "MetadataId": str(uuid.uuid5(METADATA_NS, f"{table.logical}.rel.{nav.name}")),
            "SchemaName": f"{nav.target}_{table.logical}_{nav.column}",
            "RelationshipType": "OneToManyRelationship",
            "ReferencedEntity": nav.target,
            "ReferencingEntity": table.logical,
            "ReferencingAttribute": nav.column,
            "ReferencingEntityNavigationPropertyName": nav.name,
        }
        for nav in table.navs.values()
    ]


def _project(item: dict, select: list[str] | None, always: str = "MetadataId") -> dict:
    if not select:
        return dict(item)
    out = {k: item[k] for k in item if k.startswith("@odata.")}
    for s in select:
        if s in item:
            out[s] = item[s]
    out[always] = item.get(always)
    return out


def _filter(items: list[dict], params: dict[str, str], type_name: str) -> list[dict]:
    text = params.get("$filter")
    if not text:
        return items
    known = set().union(*(i.keys() for i in items)) if items else set()

    def resolve(name: str) -> str:
        if name not in known:
            raise errors.ODataError(400, "0x0", f"Could not find a property named '{name}' on type "
                                               f"'Microsoft.Dynamics.CRM.{type_name}'.")
        return "meta"

    pred = compile_filter(text, resolve, type_name)
    return [i for i in items if pred(lambda n, i=i: i.get(n))]


def handle(store, tables: dict[str, Table], segments: list[str], params: dict[str, str], root: str):
    """Answer a GET under ``EntityDefinitions``; returns ``(status, json_body)``."""
    first = segments[0]
    select = parse_select(params["$select"]) if params.get("$select") else None
    if first == "EntityDefinitions":
        items = [entity(t) for t in tables.values()]
        items = _filter(items, params, "EntityMetadata")
        return 200, {"@odata.context": f"{root}$metadata#EntityDefinitions"
                                       + (f"({','.join(select)})" if select else ""),
                     "value": [_project(i, select) for i in items]}
    key = parse_key(first[len("EntityDefinitions("):-1])
    table = None
    if isinstance(key, str):
        table = next((t for t in tables.values() if t.metadata_id == key), None)
    elif set(key) == {"LogicalName"}:
        table = tables.get(str(key["LogicalName"]))
    else:
        raise errors.invalid_key("EntityMetadata")
    if table is None:
        raise errors.ODataError(404, "0x80040217", f"Could not find entity with key {first[17:]}.")
    if len(segments) == 1:
        return 200, {"@odata.context": f"{root}$metadata#EntityDefinitions/$entity", **_project(entity(table), select)}
    sub = segments[1]
    if sub == "Keys" and len(segments) == 2:
        return 200, {"@odata.context": f"{root}$metadata#EntityDefinitions('{table.metadata_id}')/Keys",
                     "value": [_project(k, select) for k in keys(store, table)]}
    if sub == "ManyToOneRelationships" and len(segments) == 2:
        items = _filter(many_to_one(table), params, "OneToManyRelationshipMetadata")
        return 200, {"@odata.context": f"{root}$metadata#EntityDefinitions('{table.metadata_id}')/ManyToOneRelationships",
                     "value": [_project(i, select) for i in items]}
    if sub == "Attributes" or sub.startswith("Attributes("):
        cols = list(table.columns.values())
        cast = segments[2] if len(segments) > 2 else None
        if sub.startswith("Attributes("):
            akey = parse_key(sub[len("Attributes("):-1])
            name = akey.get("LogicalName") if isinstance(akey, dict) else None
            match = [c for c in cols if c.name == name] if name else [
                c for c in cols if str(uuid.uuid5(METADATA_NS, f"{table.logical}.{c.name}")) == akey]
            if not match:
                raise errors.ODataError(404, "0x80040217", f"Could not find attribute {sub[11:-1]} on entity "
                                                           f"'{table.logical}'.")
            item = attribute(table, match[0])
            return 200, {"@odata.context": f"{root}$metadata#EntityDefinitions('{table.metadata_id}')/Attributes"
                                           "/$entity", **_project(item, select)}
        items = []
        for c in cols:
            item = attribute(table, c)
            if cast:
                want = cast.replace("Microsoft.Dynamics.CRM.", "")
                if not item["@odata.type"].endswith("." + want):
                    continue
            items.append(item)
        expand = parse_expand(params["$expand"]) if params.get("$expand") else []
        out_items = []
        for item in _filter(items, params, "AttributeMetadata"):
            projected = _project(item, select)
            for e in expand:
                if e.nav == "OptionSet":
                    col = table.columns[item["LogicalName"]]
                    projected["OptionSet"] = _options(table, col)
            out_items.append(projected)
        return 200, {"@odata.context": f"{root}$metadata#EntityDefinitions('{table.metadata_id}')/Attributes",
                     "value": out_items}
    raise errors.resource_not_found(sub)
