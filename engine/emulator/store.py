"""The emulated org's data: rows, alternate-key indexes, payload validation and transactions.

One re-entrant lock guards everything, so concurrent syncs see one consistent order of creates
and the same duplicate-key errors they would get from the real service. Writes record the prior
state of every row they touch in a *journal*; a failed operation or change set rolls back by
restoring it. Rows are plain dicts keyed by attribute logical names (lookups hold the target id
under the lookup column, polymorphic lookups also the target table in their type column).
"""

from __future__ import annotations

import copy
import itertools
import json
import random
import re
import threading
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

from . import errors
from .keys import parse_key
from .schema import EDM_TYPES, Column, Table
from .values import GUID_RE, normalize_datetime, now_utc

ACTIVITY_TABLES = {"email", "task", "phonecall"}


@dataclass(frozen=True)
class AltKey:
    """A declared alternate key: a name and its columns (values unique per table)."""

    table: str
    name: str
    columns: tuple[str, ...]


@dataclass
class WriteContext:
    """What a write needs from its request: how to resolve ``$n`` and absolute URLs."""

    service_root: str
    content_ids: dict[str, str] = field(default_factory=dict)  # "1" -> "contacts(<guid>)"


@dataclass
class Options:
    """Behaviour switches for points the reference marks UNCONFIRMED (see docs/emulator.md)."""

    statecode_on_create: str = "reject"  # or "ignore"
    undeclared_key_code: str = "0x0"


class Store:
    """Thread-safe in-memory tables with Dataverse write semantics."""

    def __init__(self, tables: dict[str, Table], alternate_keys=(), options: Options | None = None, seed: int = 0):
        self.tables = tables
        self.by_set = {t.entity_set: t for t in tables.values()}
        self.options = options or Options()
        self.rows: dict[str, dict[str, dict]] = {name: {} for name in tables}
        self.lock = threading.RLock()
        self._journal: dict[tuple[str, str], dict | None] | None = None
        self._version = itertools.count(1_000_001)
        self._rng = random.Random(seed)
        self._ticket = itertools.count(1001)
        self.keys: dict[str, list[AltKey]] = {name: [] for name in tables}
        self._key_index: dict[tuple[str, str], dict[tuple, str]] = {}
        self.write_count = 0
        # Called with the number of rows a committed transaction touched (the "writes" stat).
        self.on_commit: Callable[[int], None] | None = None
        self._seeding = False
        for spec in alternate_keys:
            self.declare_key(*spec)

    # ---------------------------------------------------------------- keys and lookups

    def declare_key(self, table: str, columns, name: str | None = None) -> AltKey:
        """Declare an alternate key (like creating one in the maker portal); existing dupes fail."""
        if table not in self.tables:
            raise ValueError(f"unknown table {table!r}")
        cols = (columns,) if isinstance(columns, str) else tuple(columns)
        t = self.tables[table]
        for c in cols:
            if c not in t.columns or t.columns[c].type not in ("string", "int", "bigint", "decimal", "lookup",
                                                                 "datetime", "picklist", "uniqueidentifier"):
                raise ValueError(f"column {c!r} of {table!r} cannot be part of an alternate key")
        key = AltKey(table, name or f"{table}_{'_'.join(cols)}", cols)
        with self.lock:
            index: dict[tuple, str] = {}
            for rid, row in self.rows[table].items():
                kv = self._key_values(key, row)
                if kv is not None:
                    if kv in index:
                        raise ValueError(f"duplicate values for key {key.name}: {kv}")
                    index[kv] = rid
            self.keys[table].append(key)
            self._key_index[(table, key.name)] = index
        return key

    @staticmethod
    def _key_values(key: AltKey, row: dict) -> tuple | None:
        vals = []
        for c in key.columns:
            v = row.get(c)
            if v is None:
                return None  # rows with a null key column are not indexed (SQL filtered index)
            vals.append(v.casefold() if isinstance(v, str) else v)
        return tuple(vals)

    def _index_remove(self, table: str, row: dict) -> None:
        for key in self.keys[table]:
            kv = self._key_values(key, row)
            if kv is not None:
                idx = self._key_index[(table, key.name)]
                if idx.get(kv) == row[self.tables[table].pk]:
                    del idx[kv]

    def _index_add(self, table: str, row: dict) -> None:
        rid = row[self.tables[table].pk]
        for key in self.keys[table]:
            kv = self._key_values(key, row)
            if kv is None:
                continue
            idx = self._key_index[(table, key.name)]
            other = idx.get(kv)
            if other is not None and other != rid:
                raise errors.duplicate_entity_key(key.name, list(key.columns))
            idx[kv] = rid

    def match_key(self, table: Table, key: dict[str, Any]) -> AltKey:
        """The declared key whose columns are exactly ``key``'s names, else the real 400."""
        names = set(key)
        if names == {table.pk}:
            return AltKey(table.logical, table.pk, (table.pk,))
        for k in self.keys[table.logical]:
            if set(k.columns) == names:
                return k
        raise errors.invalid_key(table.logical, self.options.undeclared_key_code)

    def find(self, table: Table, key: str | dict[str, Any]) -> str | None:
        """Return the id of the row a GUID or alternate-key dict names, or None."""
        if isinstance(key, str):
            return key if key in self.rows[table.logical] else None
        altkey = self.match_key(table, key)
        if altkey.name == table.pk:
            v = key[table.pk]
            return v if isinstance(v, str) and v in self.rows[table.logical] else None
        kv = tuple(
            (key[c].casefold() if isinstance(key[c], str) else key[c]) for c in altkey.columns
        )
        return self._key_index[(table.logical, altkey.name)].get(kv)

    # ---------------------------------------------------------------- transactions

    @contextmanager
    def atomic(self) -> Iterator[None]:
        """Run a write atomically: roll back everything it touched if it raises.

        Nested calls join the outer transaction (a change set), which decides for all of them.
        """
        with self.lock:
            if self._journal is not None:
                yield
                return
            self._journal = {}
            try:
                yield
                self._committed(len(self._journal))
            except BaseException:
                self._rollback()
                raise
            finally:
                self._journal = None

    def _committed(self, rows: int) -> None:
        if rows and not self._seeding and self.on_commit is not None:
            self.on_commit(rows)

    @contextmanager
    def changeset(self) -> Iterator["ChangeSetTx"]:
        """Hold the lock for a whole change set; call ``tx.rollback()`` to undo it."""
        with self.lock:
            assert self._journal is None, "change sets cannot nest"
            self._journal = {}
            tx = ChangeSetTx(self)
            try:
                yield tx
                self._committed(len(self._journal))  # empty after a rollback
            except BaseException:
                self._rollback()
                raise
            finally:
                self._journal = None

    def _rollback(self) -> None:
        journal = self._journal or {}
        for (table, rid), old in reversed(list(journal.items())):
            current = self.rows[table].get(rid)
            if current is not None:
                self._index_remove(table, current)
            if old is None:
                self.rows[table].pop(rid, None)
            else:
                self.rows[table][rid] = old
        for (table, rid), old in journal.items():
            if old is not None:
                self._index_add(table, old)
        self._journal = {}

    def _touch(self, table: str, rid: str) -> None:
        if self._journal is not None and (table, rid) not in self._journal:
            old = self.rows[table].get(rid)
            self._journal[(table, rid)] = copy.deepcopy(old) if old is not None else None

    def _put(self, table: str, row: dict) -> None:
        rid = row[self.tables[table].pk]
        self._touch(table, rid)
        old = self.rows[table].get(rid)
        if old is not None:
            self._index_remove(table, old)
        try:
            self._index_add(table, row)
        except errors.ODataError:
            if old is not None:
                self._index_add(table, old)
            raise
        self.rows[table][rid] = row
        self.write_count += 1

    def _remove(self, table: str, rid: str) -> None:
        self._touch(table, rid)
        row = self.rows[table].pop(rid)
        self._index_remove(table, row)

    # ---------------------------------------------------------------- ids and references

    def new_id(self) -> str:
        """A server-generated GUID, deterministic for a given seed and request order.

        Ids already present (e.g. loaded from a state file written by a run with the same seed)
        are skipped, so a generated id never overwrites a row.
        """
        with self.lock:
            while True:
                rid = str(uuid.UUID(int=self._rng.getrandbits(128), version=4))
                if not any(rid in rows for rows in self.rows.values()):
                    return rid

    def resolve_reference(self, ref: str, ctx: WriteContext, entity_set_for_errors: str) -> tuple[Table, str]:
        """Resolve a bind/``@odata.id`` URL (``/contacts(id)``, absolute, alt-key or ``$n``).

        Returns the target table and id; raises 404 when the target row does not exist.
        """
        text = ref.strip()
        if text.startswith("$"):
            m = re.match(r"^\$([A-Za-z0-9_.-]+)$", text)
            if not m or m.group(1) not in ctx.content_ids:
                raise errors.bad_request(f"Content-ID Reference: '{text}' does not exist in the batch context.")
            text = ctx.content_ids[m.group(1)]
        root = ctx.service_root
        if root and text.startswith(root):
            text = text[len(root):]
        elif "://" in text:
            m = re.match(r"^https?://[^/]+/api/data/v9\.\d/(.*)$", text)
            if not m:
                raise errors.payload_error(entity_set_for_errors, f"The URI '{ref}' is not valid for a bind.")
            text = m.group(1)
        else:
            text = re.sub(r"^/?(api/data/v9\.\d/)?", "", text)
        m = re.match(r"^([A-Za-z_][A-Za-z0-9_]*)\((.*)\)$", text)
        if not m:
            raise errors.payload_error(entity_set_for_errors, f"The URI '{ref}' is not valid for a bind.")
        table = self.by_set.get(m.group(1))
        if table is None:
            raise errors.resource_not_found(m.group(1))
        key = parse_key(m.group(2))
        rid = self.find(table, key)
        if rid is None:
            if isinstance(key, str):
                raise errors.not_found(table.logical, key)
            raise errors.key_not_found(table.logical)
        return table, rid

    # ---------------------------------------------------------------- payload validation

    def _coerce(self, table: Table, col: Column, value: Any) -> Any:
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

    def _prepare(self, table: Table, body: Any, ctx: WriteContext, *, creating: bool, bulk: bool = False):
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
                    target, rid = self.resolve_reference(value, ctx, table.entity_set)
                    if target.logical != nav.target:
                        raise errors.payload_error(
                            table.entity_set,
                            f"A resource of type 'Microsoft.Dynamics.CRM.{target.logical}' was bound to the "
                            f"navigation property '{prop}' whose type is "
                            f"'Microsoft.Dynamics.CRM.{nav.target}'.")
                    col = table.columns[nav.column]
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
                        target, rid = self.resolve_reference(v, ctx, table.entity_set)
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
                if self.options.statecode_on_create == "ignore":
                    continue
                raise errors.ODataError(
                    400, "0x80040203",
                    f"'statecode' is not valid for create on entity '{table.logical}' (IsValidForCreate is "
                    "False). Create the record, then update statecode and statuscode.")
            if (creating and not col.create) or (not creating and not col.update and key != table.pk):
                continue  # read-only columns are ignored by the platform, as on the real service
            values[key] = self._coerce(table, col, value)
        if (deep_single or deep_coll) and not creating:
            # Only email_activity_parties may be replaced on update (the platform rewrites the parties).
            if deep_single or any(name != "email_activity_parties" for name, _ in deep_coll):
                raise errors.payload_error(table.entity_set, "Deep update is not supported.")
        return values, deep_single, deep_coll, coll_binds

    def _apply_state(self, table: Table, values: dict, row: dict, creating: bool) -> None:
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

    def _finish_row(self, table: Table, row: dict, creating: bool) -> None:
        stamp = now_utc()
        if creating:
            row["createdon"] = row.pop("overriddencreatedon", None) or stamp
            if table.logical in ACTIVITY_TABLES:
                row["activitytypecode"] = table.logical
            if table.logical == "incident" and not row.get("ticketnumber"):
                row["ticketnumber"] = f"CAS-{next(self._ticket):05d}-{self._rng.randrange(36**6):06X}"[:16]
        row["modifiedon"] = stamp
        row["versionnumber"] = next(self._version)
        if "fullname" in table.columns and ("firstname" in table.columns):
            row["fullname"] = " ".join(p for p in (row.get("firstname"), row.get("lastname")) if p) or None

    # ---------------------------------------------------------------- writes

    def create(self, table: Table, body: Any, ctx: WriteContext, *, key_values: dict | None = None,
               direct: bool = True) -> str:
        """Create a row (with deep inserts) and return its id; atomic."""
        if direct and not table.creatable:
            raise errors.unsupported_message("Create", table.logical)
        with self.atomic():
            values, deep_single, deep_coll, coll_binds = self._prepare(table, body, ctx, creating=True)
            if key_values:
                for k, v in key_values.items():
                    values[k] = self._coerce(table, table.columns[k], v)
            rid = values.get(table.pk)
            if rid is None:
                rid = self.new_id()
            elif rid in self.rows[table.logical]:
                raise errors.duplicate_record()
            values[table.pk] = rid
            for nav_name, child_body in deep_single:
                nav = table.navs[nav_name]
                child_table = self.tables[nav.target]
                child_id = self.create(child_table, child_body, ctx)
                values[nav.column] = child_id
                if table.columns[nav.column].type_column:
                    values[table.columns[nav.column].type_column] = child_table.logical
            row = {c: None for c in table.columns}
            row.update(values)
            self._apply_state(table, values, row, creating=True)
            row.update(values)
            self._finish_row(table, row, creating=True)
            self._put(table.logical, row)
            for coll_name, items in deep_coll:
                self._create_children(table, rid, coll_name, items, ctx)
            for coll_name, refs in coll_binds:
                self._bind_children(table, rid, coll_name, refs)
            return rid

    def _create_children(self, parent: Table, parent_id: str, coll_name: str, items: list, ctx: WriteContext):
        coll = parent.collections[coll_name]
        child = self.tables[coll.child]
        if parent.logical == "email" and child.logical == "activityparty":
            self._check_one_sender(items)
        for item in items:
            if child.logical == "activityparty":
                self._check_party(parent, item)
            values, deep_single, deep_coll, binds = self._prepare(child, item, ctx, creating=True)
            if deep_single or deep_coll or binds:
                raise errors.payload_error(child.entity_set, "Nested deep insert is not supported here.")
            cid = values.get(child.pk) or self.new_id()
            if cid in self.rows[child.logical]:
                raise errors.duplicate_record()
            values[child.pk] = cid
            values[coll.child_column] = parent_id
            tcol = child.columns[coll.child_column].type_column
            if tcol:
                values[tcol] = parent.logical
            row = {c: None for c in child.columns}
            row.update(values)
            self._apply_state(child, values, row, creating=True)
            row.update(values)
            self._finish_row(child, row, creating=True)
            if child.logical == "activityparty":
                row["ispartydeleted"] = False
            self._put(child.logical, row)

    @staticmethod
    def _check_one_sender(items: list) -> None:
        """An email's From holds one party (the platform resolves a sender to a single row), so
        two ``participationtypemask: 1`` parties are refused rather than stored (UNCONFIRMED
        wording, see docs/emulator.md)."""
        senders = sum(1 for i in items if isinstance(i, dict) and i.get("participationtypemask") == 1
                      and not isinstance(i.get("participationtypemask"), bool))
        if senders > 1:
            raise errors.ODataError(
                400, "0x80040203",
                f"An email can have only one sender (participationtypemask 1); {senders} were given.")

    @staticmethod
    def _check_party(parent: Table, item: Any) -> None:
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

    def _bind_children(self, parent: Table, parent_id: str, coll_name: str, refs: list) -> None:
        coll = parent.collections[coll_name]
        for child_table, cid in refs:
            row = copy.deepcopy(self.rows[child_table.logical][cid])
            row[coll.child_column] = parent_id
            tcol = child_table.columns[coll.child_column].type_column
            if tcol:
                row[tcol] = parent.logical
            self._finish_row(child_table, row, creating=False)
            self._put(child_table.logical, row)

    def update(self, table: Table, rid: str, body: Any, ctx: WriteContext) -> None:
        """Update an existing row; closed activities are read-only; atomic."""
        with self.atomic():
            existing = self.rows[table.logical].get(rid)
            if existing is None:
                raise errors.not_found(table.logical, rid)
            values, _single, deep_coll, coll_binds = self._prepare(table, body, ctx, creating=False)
            if table.pk in values and values[table.pk] != rid:
                raise errors.bad_request(
                    f"The value of the primary key '{table.pk}' in the payload does not match the key in the URI.")
            values.pop(table.pk, None)
            self._check_editable(table, existing)
            row = copy.deepcopy(existing)
            self._apply_state(table, values, row, creating=False)
            row.update(values)
            self._finish_row(table, row, creating=False)
            self._put(table.logical, row)
            for coll_name, items in deep_coll:
                coll = table.collections[coll_name]
                for cid, crow in list(self.rows[coll.child].items()):
                    if crow.get(coll.child_column) == rid:
                        self._remove(coll.child, cid)
                self._create_children(table, rid, coll_name, items, ctx)
            for coll_name, refs in coll_binds:
                self._bind_children(table, rid, coll_name, refs)

    @staticmethod
    def _check_editable(table: Table, row: dict) -> None:
        """Completed and canceled activities are read-only (reference §4.3)."""
        if table.logical in ACTIVITY_TABLES and row.get("statecode") not in (None, 0):
            raise errors.ODataError(
                400, "0x80040203",
                f"This {table.logical} is completed or canceled and is read-only; it can't be edited.")

    def upsert(self, table: Table, key: str | dict, body: Any, ctx: WriteContext, *, if_match: str | None = None,
               if_none_match: str | None = None) -> tuple[str, bool]:
        """PATCH semantics: update if the key matches, else create (honouring If-Match/If-None-Match).

        Returns ``(id, created)``.
        """
        with self.atomic():
            rid = self.find(table, key)
            if rid is not None:
                if if_none_match == "*":
                    raise errors.duplicate_record()
                if if_match and if_match != "*":
                    current = f'W/"{self.rows[table.logical][rid]["versionnumber"]}"'
                    if if_match.strip() != current:
                        raise errors.etag_mismatch()
                self.update(table, rid, body, ctx)
                return rid, False
            if if_match:
                if isinstance(key, str):
                    raise errors.not_found(table.logical, key)
                raise errors.key_not_found(table.logical)
            if isinstance(key, str):
                if isinstance(body, dict) and table.pk in body and str(body[table.pk]).lower() != key:
                    raise errors.bad_request(
                        f"The value of the primary key '{table.pk}' in the payload does not match the key in the URI.")
                body = dict(body) if isinstance(body, dict) else body
                if isinstance(body, dict):
                    body[table.pk] = key
                return self.create(table, body, ctx), True
            return self.create(table, body, ctx, key_values=key), True

    def delete(self, table: Table, rid: str) -> None:
        """Delete a row and the activity parties that belong to it."""
        with self.atomic():
            if rid not in self.rows[table.logical]:
                raise errors.not_found(table.logical, rid)
            self._remove(table.logical, rid)
            if table.logical in ACTIVITY_TABLES:
                for cid, crow in list(self.rows["activityparty"].items()):
                    if crow.get("activityid") == rid:
                        self._remove("activityparty", cid)

    def set_lookup(self, table: Table, rid: str, nav_name: str, target: tuple[Table, str] | None) -> None:
        """``PUT .../nav/$ref`` (associate) or ``DELETE .../nav/$ref`` (disassociate)."""
        with self.atomic():
            nav = table.navs[nav_name]
            row = copy.deepcopy(self.rows[table.logical][rid])
            self._check_editable(table, row)  # a $ref is an update too: closed activities refuse it
            col = table.columns[nav.column]
            if target is None:
                row[nav.column] = None
                if col.type_column:
                    row[col.type_column] = None
            else:
                ttable, tid = target
                if ttable.logical != nav.target:
                    raise errors.bad_request(f"The navigation property '{nav_name}' cannot refer to a "
                                             f"'{ttable.logical}' record.")
                row[nav.column] = tid
                if col.type_column:
                    row[col.type_column] = ttable.logical
            self._finish_row(table, row, creating=False)
            self._put(table.logical, row)

    # ---------------------------------------------------------------- seeding / state

    def seed(self, logical: str, row: dict) -> str:
        """Insert a row as an admin would (state, read-only columns and lookups by id allowed)."""
        table = self.tables[logical]
        with self.lock:
            self._seeding = True  # pre-existing data, not writes made by a client
            try:
                return self._seed(table, logical, row)
            finally:
                self._seeding = False

    def _seed(self, table: Table, logical: str, row: dict) -> str:
        with self.atomic():
            values: dict[str, Any] = {}
            for k, v in row.items():
                if k.endswith("@odata.bind"):
                    ctx = WriteContext(service_root="")
                    nav = table.navs.get(k[:-11])
                    if nav is None:
                        raise errors.undeclared_annotation_property(table.entity_set, k[:-11])
                    target, tid = self.resolve_reference(v, ctx, table.entity_set)
                    values[nav.column] = tid
                    if table.columns[nav.column].type_column:
                        values[table.columns[nav.column].type_column] = target.logical
                    continue
                col = table.columns.get(k)
                if col is None:
                    raise errors.invalid_property(logical, k)
                if col.type == "lookup":
                    if not isinstance(v, str) or not GUID_RE.match(v):
                        raise ValueError(f"{k} must be a GUID")
                    values[k] = v.lower()
                    if col.type_column and col.type_column not in row:
                        if len(col.targets) != 1:
                            raise ValueError(f"{k} is polymorphic: give {col.type_column} or use @odata.bind")
                        values[col.type_column] = col.targets[0]
                    continue
                values[k] = self._coerce(table, col, v) if col.type != "entityname" else v
            rid = values.get(table.pk) or self.new_id()
            if rid in self.rows[logical]:
                raise errors.duplicate_record()
            values[table.pk] = rid
            full = {c: None for c in table.columns}
            full.update(values)
            if table.state_defaults:
                st = full.get("statecode") or 0
                full["statecode"] = st
                if full.get("statuscode") is None:
                    full["statuscode"] = table.state_defaults[st]
            self._finish_row(table, full, creating=True)
            self._put(logical, full)
            return rid

    def dump(self) -> dict:
        """The store as JSON-serialisable data (rows and declared keys)."""
        with self.lock:
            return {
                "version": 1,
                "keys": [{"table": k.table, "name": k.name, "columns": list(k.columns)}
                         for ks in self.keys.values() for k in ks],
                "rows": copy.deepcopy(self.rows),
            }

    def load(self, data: dict) -> None:
        """Replace the rows with a :meth:`dump` (keys declared in the file are added)."""
        with self.lock:
            for name in self.rows:
                self.rows[name] = {}
            for idx in self._key_index.values():
                idx.clear()
            for table, rows in data.get("rows", {}).items():
                if table not in self.tables:
                    continue
                for rid, row in rows.items():
                    self.rows[table][rid] = row
                    self._index_add(table, row)
                    self._version = itertools.count(max(next(self._version), int(row.get("versionnumber") or 0) + 1))
            declared = {(k.table, k.name) for ks in self.keys.values() for k in ks}
            for k in data.get("keys", []):
                if (k["table"], k["name"]) not in declared:
                    self.declare_key(k["table"], tuple(k["columns"]), k["name"])


class ChangeSetTx:
    """Handle for a running change set: lets the batch runner roll back on the first failure."""

    def __init__(self, store: Store):
        self.store = store

    def rollback(self) -> None:
        """Undo every write made since the change set began."""
        self.store._rollback()


def dumps_state(store: Store) -> str:
    """Serialise the store for ``--state`` files."""
    return json.dumps(store.dump(), indent=1, sort_keys=True)
