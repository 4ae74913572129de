"""Table definitions of the emulated org: columns, types, limits, navigation properties.

The tables are no longer written by hand: :mod:`.catalog` builds them from ``schema_data.json``,
which ``tools/gen_schema.py`` generates from Microsoft's table reference pages, plus the
documented rules of ``schema_overrides.yaml``. This module holds the shapes they are built into.

Naming follows Dataverse: a *column* is an attribute logical name (``parentcustomerid``); a
lookup column is read back as ``_parentcustomerid_value`` and written only through a
*single-valued navigation property* (``parentcustomerid_account@odata.bind``); a
*collection navigation property* (``email_activity_parties``) lists the child rows whose lookup
points at the parent.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from functools import cached_property

# Edm type names used in OData error messages, per column type.
EDM_TYPES = {
    "string": "Edm.String",
    "memo": "Edm.String",
    "entityname": "Edm.String",
    "int": "Edm.Int32",
    "bigint": "Edm.Int64",
    "picklist": "Edm.Int32",
    "state": "Edm.Int32",
    "status": "Edm.Int32",
    "bool": "Edm.Boolean",
    "datetime": "Edm.DateTimeOffset",
    "date": "Edm.Date",
    "decimal": "Edm.Decimal",
    "money": "Edm.Decimal",
    "double": "Edm.Double",
    "uniqueidentifier": "Edm.Guid",
    "lookup": "Edm.Guid",
    "image": "Edm.Binary",
    "partylist": "Edm.Guid",
    "file": "Edm.Guid",
}

METADATA_NS = uuid.UUID("6f1d2a56-2f0b-4d6c-9a2c-6d0f4a1e7b10")


@dataclass(frozen=True)
class Column:
    """One attribute: its type, limits and whether a client may write it."""

    name: str
    type: str
    max_length: int | None = None  # in UTF-16 code units, as the service counts
    create: bool = True  # IsValidForCreate
    update: bool = True  # IsValidForUpdate
    targets: tuple[str, ...] = ()  # lookup target tables
    type_column: str | None = None  # polymorphic lookups keep the target's logical name here
    options: tuple[int, ...] = ()  # picklist / state / status values
    label: str = ""
    read: bool = True  # IsValidForRead
    option_labels: tuple[tuple[int, str], ...] = ()
    min_value: int | float | None = None
    max_value: int | float | None = None
    precision: int | None = None
    date_only: bool = False  # DateTimeBehavior DateOnly: Edm.Date, yyyy-MM-dd on the wire
    behavior: str | None = None  # DateTimeBehavior
    attribute_type: str = ""  # AttributeType as the reference page and EntityDefinitions name it
    schema_name: str = ""
    required: str = "None"  # RequiredLevel
    custom: bool = False  # added with --schema-extend

    @property
    def edm_type(self) -> str:
        """The Edm type payload values of this column are read as."""
        return "Edm.Date" if self.type == "datetime" and self.date_only else EDM_TYPES[self.type]


@dataclass(frozen=True)
class NavSingle:
    """A single-valued navigation property: writes ``column`` pointing at ``target``."""

    name: str
    column: str
    target: str


@dataclass(frozen=True)
class NavCollection:
    """A collection navigation property: rows of ``child`` whose ``child_column`` is this record."""

    name: str
    child: str
    child_column: str


@dataclass
class Table:
    """An entity: logical name, entity set, primary key, columns and relationships."""

    logical: str
    entity_set: str
    pk: str
    primary_name: str | None
    object_type_code: int
    columns: dict[str, Column]
    navs: dict[str, NavSingle] = field(default_factory=dict)
    collections: dict[str, NavCollection] = field(default_factory=dict)
    # statecode -> default statuscode; statuscode -> owning statecode.
    state_defaults: dict[int, int] = field(default_factory=dict)
    status_state: dict[int, int] = field(default_factory=dict)
    bulk: bool = False  # CreateMultiple/UpdateMultiple/UpsertMultiple supported
    creatable: bool = True  # activityparty rows exist only inside their activity
    schema_name: str = ""
    collection_schema_name: str = ""
    read_only_states: tuple[int, ...] = ()  # statecodes after which the row can't be edited
    reopen: bool = False  # ... except by an update that only sets statecode/statuscode
    party_masks: tuple[int, ...] = ()  # participation types its activity parties may have
    max_senders: int | None = None
    is_activity: bool = False

    @property
    def metadata_id(self) -> str:
        """A stable MetadataId (the real one differs per org; clients only echo it)."""
        return str(uuid.uuid5(METADATA_NS, self.logical))

    @cached_property
    def plain_create_columns(self) -> dict[str, Column]:
        """The columns a create body sets by name with nothing but a value check (see
        :meth:`plain_columns`)."""
        return self.plain_columns(creating=True)

    @cached_property
    def plain_update_columns(self) -> dict[str, Column]:
        """The columns an update body sets by name with nothing but a value check."""
        return self.plain_columns(creating=False)

    @cached_property
    def bind_navs(self) -> dict[str, NavSingle]:
        """``"<nav>@odata.bind"`` -> its single-valued navigation property (the keys of a
        write body that bind a lookup)."""
        return {f"{name}@odata.bind": nav for name, nav in self.navs.items()}

    @cached_property
    def computes_fullname(self) -> bool:
        """Whether a save sets ``fullname`` from the name parts (contact, lead, systemuser)."""
        return "fullname" in self.columns and "firstname" in self.columns

    def plain_columns(self, creating: bool) -> dict[str, Column]:
        """The columns a create (or update) body sets by name with nothing but a value check:
        valid for that write, not a lookup, party list or file, not ``statecode`` (its own
        rule) and not shadowed by a navigation property. The two properties above cache it:
        tables do not change once the catalog has built them."""
        return {name: col for name, col in self.columns.items()
                if (col.create if creating else col.update) and col.type not in ("lookup", "partylist", "file")
                and name != "statecode" and name not in self.navs and name not in self.collections}

    def lookup_property(self, name: str) -> str | None:
        """Map ``_x_value`` to the lookup column ``x`` when ``x`` is a lookup of this table."""
        if name.startswith("_") and name.endswith("_value"):
            col = self.columns.get(name[1:-6])
            if col is not None and col.type == "lookup":
                return col.name
        return None
