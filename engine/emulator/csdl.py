"""``GET /$metadata``: the CSDL document of the emulated org, built from the same tables.

The real service answers ``$metadata`` with one ``Microsoft.Dynamics.CRM`` schema: an entity
type per table (key, structural properties, navigation properties with their partners), lookups
as ``_<lookup>_value`` ``Edm.Guid`` properties, DateOnly columns as ``Edm.Date``, and an entity
container ``System`` whose entity sets bind each navigation property to its target set
(``powerapps-docs: webapi/web-api-service-documents.md``, "CSDL $metadata document"). This
document carries ``MaxLength`` on string properties, so a client can validate lengths against it.
Columns a JSON payload cannot carry (party lists, file columns) are not structural properties.
"""

from __future__ import annotations

from xml.sax.saxutils import quoteattr

from .schema import Column, Table

NAMESPACE = "Microsoft.Dynamics.CRM"
_EDM = {
    "string": "Edm.String", "memo": "Edm.String", "entityname": "Edm.String", "int": "Edm.Int32",
    "bigint": "Edm.Int64", "picklist": "Edm.Int32", "state": "Edm.Int32", "status": "Edm.Int32",
    "bool": "Edm.Boolean", "datetime": "Edm.DateTimeOffset", "decimal": "Edm.Decimal", "money": "Edm.Decimal",
    "double": "Edm.Double", "uniqueidentifier": "Edm.Guid", "lookup": "Edm.Guid", "image": "Edm.Binary",
}


def edm_type(col: Column) -> str | None:
    """The property's Edm type, or None when the column is no structural property."""
    if col.type == "datetime" and col.date_only:
        return "Edm.Date"
    return _EDM.get(col.type)


def _property(col: Column) -> str:
    name = f"_{col.name}_value" if col.type == "lookup" else col.name
    attrs = f'Name={quoteattr(name)} Type="{edm_type(col)}"'
    if col.type in ("string", "memo") and col.max_length:
        attrs += f' Unicode="false" MaxLength="{col.max_length}"'
    if col.type in ("decimal", "money", "double") and col.precision is not None:
        attrs += f' Scale="{col.precision}"' if col.type != "double" else ""
    return f"        <Property {attrs} />"


def _partner(tables: dict[str, Table], table: Table, column: str, target: str) -> str | None:
    other = tables.get(target)
    if other is None:
        return None
    return next((c.name for c in other.collections.values()
                 if c.child == table.logical and c.child_column == column), None)


def _single_partner(tables: dict[str, Table], parent: Table, child: str, column: str) -> str | None:
    child_table = tables.get(child)
    if child_table is None:
        return None
    return next((n.name for n in child_table.navs.values()
                 if n.column == column and n.target == parent.logical), None)


def render(tables: dict[str, Table]) -> str:
    """The whole CSDL XML document for ``tables``."""
    out = [
        '<?xml version="1.0" encoding="utf-8"?>',
        '<edmx:Edmx Version="4.0" xmlns:edmx="http://docs.oasis-open.org/odata/ns/edmx">',
        "  <edmx:DataServices>",
        f'    <Schema Namespace="{NAMESPACE}" Alias="mscrm" xmlns="http://docs.oasis-open.org/odata/ns/edm">',
        '      <EntityType Name="crmbaseentity" Abstract="true" />',
    ]
    for table in tables.values():
        out.append(f'      <EntityType Name="{table.logical}" BaseType="mscrm.crmbaseentity">')
        out.append(f'        <Key><PropertyRef Name="{table.pk}" /></Key>')
        for col in table.columns.values():
            if edm_type(col) is not None:
                out.append(_property(col))
        for nav in table.navs.values():
            if nav.target not in tables:
                continue
            partner = _partner(tables, table, nav.column, nav.target)
            partner_attr = f' Partner="{partner}"' if partner else ""
            out.append(f'        <NavigationProperty Name="{nav.name}" Type="mscrm.{nav.target}"{partner_attr}>')
            out.append(f'          <ReferentialConstraint Property="_{nav.column}_value" '
                       f'ReferencedProperty="{tables[nav.target].pk}" />')
            out.append("        </NavigationProperty>")
        for coll in table.collections.values():
            if coll.child not in tables:
                continue
            partner = _single_partner(tables, table, coll.child, coll.child_column)
            partner_attr = f' Partner="{partner}"' if partner else ""
            out.append(f'        <NavigationProperty Name="{coll.name}" Type="Collection(mscrm.{coll.child})"'
                       f"{partner_attr} />")
        out.append("      </EntityType>")
    out.append('      <EntityContainer Name="System">')
    for table in tables.values():
        out.append(f'        <EntitySet Name="{table.entity_set}" EntityType="{NAMESPACE}.{table.logical}">')
        for nav in list(table.navs.values()) + list(table.collections.values()):
            target = nav.target if hasattr(nav, "target") else nav.child
            if target in tables:
                out.append(f'          <NavigationPropertyBinding Path="{nav.name}" '
                           f'Target="{tables[target].entity_set}" />')
        out.append("        </EntitySet>")
    out += ["      </EntityContainer>", "    </Schema>", "  </edmx:DataServices>", "</edmx:Edmx>", ""]
    return "\n".join(out)
