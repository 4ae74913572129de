"""The write operations of the emulated org: create (with deep inserts), update, upsert,
delete, associate/disassociate and admin seeding.

Each operation is atomic (it joins a running change set) and applies the platform's write rules
from :mod:`.validation`. Each charges its modeled server time to the request's meter
(:mod:`.costs`) inside its transaction, so an operation cut at the 2-minute limit rolls back. The :class:`Writer` also owns the server-side sequences that make a run
reproducible for a seed: generated ids, row version numbers and case ticket numbers.
"""

from __future__ import annotations

import itertools
import random
from typing import Any

from . import costs, errors
from .references import WriteContext, find_target, plain_reference, reference_target
from .rows import TableRows
from .rules_attachments import AttachmentRules, swap_created_on
from .schema import Table
from .transactions import Transactions
from .validation import (
    PayloadReader,
    apply_state,
    check_editable,
    check_one_sender,
    check_party,
    coerce,
)
from .values import GUID_RE, now_utc, uuid4_text

# Base64 attachment content, charged per MB on top of the row's create/update.
_CONTENT_COLUMN = {"activitymimeattachment": "body", "annotation": "documentbody"}
_STATE_COLUMNS = frozenset(("statecode", "statuscode"))


def _charge(kind: str, table: Table, values: dict) -> None:
    """Charge a create/update of ``table`` and the attachment content ``values`` carry."""
    meter = costs.priced_meter()
    if meter is None:
        return  # no figure costs anything (what costs.write and costs.charge would find)
    meter.write(kind, table.logical)
    column = _CONTENT_COLUMN.get(table.logical)
    content = values.get(column) if column else None
    if isinstance(content, str) and content:
        meter.charge("attachment_mb", table.logical, len(content) * 3 / 4 / 1_000_000)


class Writer:
    """Dataverse write semantics over the rows, inside the store's transactions."""

    def __init__(self, rows: TableRows, tx: Transactions, statecode_on_create: str, seed: int,
                 rules: AttachmentRules | None = None):
        self.rows = rows
        self.tx = tx
        self.rules = rules or AttachmentRules()
        self.reader = PayloadReader(self.resolve, statecode_on_create)
        # One generator for ids and ticket suffixes, drawn in request order: same seed, same org.
        self._rng = random.Random(seed)
        self._version = itertools.count(1_000_001)
        self._ticket = itertools.count(1001)
        self._targets: dict[str, tuple[Table, str | dict]] = {}  # see resolve()

    def resolve(self, ref: str, ctx: WriteContext, entity_set_for_errors: str) -> tuple[Table, str]:
        """Resolve a bind/``@odata.id`` URL to ``(table, id)``; see :func:`.references.resolve_reference`.

        What a plain reference's text names is remembered (every party binds ``/contacts(id)``
        of a few thousand contacts); whether that row exists is looked up every time.
        """
        found = self._targets.get(ref)
        if found is None:
            found = reference_target(self.rows, ref, ctx, entity_set_for_errors)
            if plain_reference(ref):
                if len(self._targets) >= 8192:
                    self._targets.clear()
                self._targets[ref] = found
        table, key = found
        # A GUID key of a stored row is what find_target answers for it, without its two calls.
        return table, key if type(key) is str and key in self.rows.rows[table.logical] else find_target(self.rows, table, key)

    def versions_after(self, version: int) -> None:
        """Make the next row version number larger than ``version`` (rows loaded from a state file)."""
        self._version = itertools.count(max(next(self._version), version + 1))

    def fresh_id(self) -> str:
        """A server-generated GUID, deterministic for a given seed and request order; ids already
        present (e.g. loaded from a state file of a run with the same seed) are skipped. The
        caller holds the store's lock (a transaction does; :meth:`.Store.new_id` takes it)."""
        rid = uuid4_text(self._rng.getrandbits(128))
        while self.rows.holds(rid):
            rid = uuid4_text(self._rng.getrandbits(128))
        return rid

    def finish_row(self, table: Table, row: dict, creating: bool) -> None:
        """Set what the platform computes on every save: timestamps, version, type code, names."""
        stamp = now_utc()
        if creating:
            swap_created_on(row, stamp)
            if table.is_activity:
                row["activitytypecode"] = table.logical
            if table.logical == "incident" and not row.get("ticketnumber"):
                row["ticketnumber"] = f"CAS-{next(self._ticket):05d}-{self._rng.randrange(36**6):06X}"[:16]
        row["modifiedon"] = stamp
        row["versionnumber"] = next(self._version)
        if table.computes_fullname:
            # contact, lead, systemuser: "Combines and shows the ... first and last names"
            row["fullname"] = " ".join(p for p in (row.get("firstname"), row.get("middlename"), row.get("lastname"))
                                       if p) or None

    def create(self, table: Table, body: Any, ctx: WriteContext, *, key_values: dict | None = None,
               direct: bool = True) -> str:
        """Create a row (with deep inserts) and return its id; atomic."""
        if direct and not table.creatable:
            raise errors.unsupported_message("Create", table.logical)
        with self.tx.atomic():
            values, deep_single, deep_coll, coll_binds = self.reader.prepare(table, body, ctx, creating=True)
            if key_values:
                for k, v in key_values.items():
                    values[k] = coerce(table, table.columns[k], v)
            rid = values.get(table.pk)
            if rid is None:
                rid = self.fresh_id()  # the transaction holds the lock
            elif rid in self.rows.rows[table.logical]:
                raise errors.duplicate_record()
            values[table.pk] = rid
            if not self.tx.seeding:
                self.rules.on_create(table, values, self.rows.rows)
            for nav_name, child_body in deep_single:
                nav = table.navs[nav_name]
                child_table = self.rows.tables[nav.target]
                child_id = self.create(child_table, child_body, ctx)
                values[nav.column] = child_id
                if table.columns[nav.column].type_column:
                    values[table.columns[nav.column].type_column] = child_table.logical
            # Rows are sparse (a column never written is absent and reads as null): the generated
            # tables have up to 223 columns, and 200k emails must not hold 111 Nones each. On
            # create the state rules read nothing but the new values, so the row is their copy.
            apply_state(table, values, values, creating=True)
            # The values are this call's own dict (prepare built it): the row itself, without
            # a copy (finish_row adds only stamps, never the attachment content _charge reads).
            row = values
            self.finish_row(table, row, creating=True)
            self.rows.put(table.logical, row)
            _charge("create", table, row)
            for coll_name, items in deep_coll:
                self._create_children(table, rid, coll_name, items, ctx)
            for coll_name, refs in coll_binds:
                self.bind_children(table, rid, coll_name, refs)
            return rid

    def _create_children(self, parent: Table, parent_id: str, coll_name: str, items: list, ctx: WriteContext):
        coll = parent.collections[coll_name]
        child = self.rows.tables[coll.child]
        parties = child.logical == "activityparty"
        if parties:
            check_one_sender(parent, items)
        existing = self.rows.rows[child.logical]
        tcol = child.columns[coll.child_column].type_column
        # Looked up once for the items (an email has three or more parties); the request's meter
        # is fixed for the request (asked once, not per row), and the transaction holds the lock.
        prepare, finish_row, put, on_create = self.reader.prepare, self.finish_row, self.rows.put, self.rules.on_create
        all_rows, logical, pk, child_column = self.rows.rows, child.logical, child.pk, coll.child_column
        stateful = bool(child.state_defaults)  # apply_state does nothing without them
        priced, fresh_id = costs.priced_meter() is not None, self.fresh_id
        for item in items:
            if parties:
                check_party(parent, item)
            values, deep_single, deep_coll, binds = prepare(child, item, ctx, creating=True)
            if deep_single or deep_coll or binds:
                raise errors.payload_error(child.entity_set, "Nested deep insert is not supported here.")
            cid = values.get(pk) or fresh_id()
            if cid in existing:
                raise errors.duplicate_record()
            values[pk] = cid
            values[child_column] = parent_id
            on_create(child, values, all_rows)
            if tcol:
                values[tcol] = parent.logical
            if stateful:
                apply_state(child, values, values, creating=True)  # on create it reads only the values
            row = values  # prepare's own dict, as in create()
            finish_row(child, row, creating=True)
            if parties:
                row["ispartydeleted"] = False
            put(logical, row)
            if priced:  # else _charge does nothing
                _charge("create", child, row)

    def bind_children(self, parent: Table, parent_id: str, coll_name: str, refs: list) -> None:
        coll = parent.collections[coll_name]
        for child_table, cid in refs:
            row = dict(self.rows.rows[child_table.logical][cid])
            row[coll.child_column] = parent_id
            tcol = child_table.columns[coll.child_column].type_column
            if tcol:
                row[tcol] = parent.logical
            self.finish_row(child_table, row, creating=False)
            self.rows.put(child_table.logical, row)

    def update(self, table: Table, rid: str, body: Any, ctx: WriteContext) -> None:
        """Update an existing row; closed activities are read-only; atomic."""
        with self.tx.atomic():
            existing = self.rows.rows[table.logical].get(rid)
            if existing is None:
                raise errors.not_found(table.logical, rid)
            values, _single, deep_coll, coll_binds = self.reader.prepare(table, body, ctx, creating=False)
            if table.pk in values and values[table.pk] != rid:
                raise errors.bad_request(
                    f"The value of the primary key '{table.pk}' in the payload does not match the key in the URI.")
            values.pop(table.pk, None)
            check_editable(table, existing, set(values))
            row = dict(existing)
            apply_state(table, values, row, creating=False)
            changes_state = "statecode" in values and values["statecode"] != existing.get("statecode")
            row.update(values)
            self.finish_row(table, row, creating=False)
            self.rows.put(table.logical, row)
            if changes_state:
                costs.charge("state", table.logical)
            if not changes_state or set(values) - _STATE_COLUMNS or deep_coll or coll_binds:
                _charge("update", table, values)
            for coll_name, items in deep_coll:
                coll = table.collections[coll_name]
                child_pk = self.rows.tables[coll.child].pk
                for crow in self.rows.rows_where(coll.child, coll.child_column, rid):
                    self.rows.remove(coll.child, crow[child_pk])
                self._create_children(table, rid, coll_name, items, ctx)
            for coll_name, refs in coll_binds:
                self.bind_children(table, rid, coll_name, refs)

    def upsert(self, table: Table, key: str | dict, body: Any, ctx: WriteContext, *, if_match: str | None = None,
               if_none_match: str | None = None) -> tuple[str, bool]:
        """PATCH semantics: update if the key matches, else create (honouring If-Match/If-None-Match).

        Returns ``(id, created)``.
        """
        with self.tx.atomic():
            rid = self.rows.find(table, key)
            if rid is not None:
                if if_none_match == "*":
                    raise errors.duplicate_record()
                if if_match and if_match != "*":
                    current = f'W/"{self.rows.rows[table.logical][rid]["versionnumber"]}"'
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
        with self.tx.atomic():
            if rid not in self.rows.rows[table.logical]:
                raise errors.not_found(table.logical, rid)
            self.rows.remove(table.logical, rid)
            costs.charge("delete", table.logical)
            # An activity's parties and attachments go with it (their relationships cascade delete).
            for coll in table.collections.values():
                if coll.child in ("activityparty", "activitymimeattachment"):
                    child_pk = self.rows.tables[coll.child].pk
                    for crow in self.rows.rows_where(coll.child, coll.child_column, rid):
                        self.rows.remove(coll.child, crow[child_pk])

    def set_lookup(self, table: Table, rid: str, nav_name: str, target: tuple[Table, str] | None) -> None:
        """``PUT .../nav/$ref`` (associate) or ``DELETE .../nav/$ref`` (disassociate)."""
        with self.tx.atomic():
            nav = table.navs[nav_name]
            row = dict(self.rows.rows[table.logical][rid])
            check_editable(table, row)  # a $ref is an update too: closed activities refuse it
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
            self.finish_row(table, row, creating=False)
            self.rows.put(table.logical, row)
            costs.charge("associate", table.logical)

    def seed(self, logical: str, row: dict) -> str:
        """Insert a row as an admin would (state, read-only columns and lookups by id allowed)."""
        table = self.rows.tables[logical]
        with self.tx.lock:
            self.tx.seeding = True  # pre-existing data, not writes made by a client
            try:
                return self._seed(table, logical, row)
            finally:
                self.tx.seeding = False

    def _seed(self, table: Table, logical: str, row: dict) -> str:
        with self.tx.atomic():
            values: dict[str, Any] = {}
            for k, v in row.items():
                if k.endswith("@odata.bind"):
                    ctx = WriteContext(service_root="")
                    nav = table.navs.get(k[:-11])
                    if nav is None:
                        raise errors.undeclared_annotation_property(table.entity_set, k[:-11])
                    target, tid = self.resolve(v, ctx, table.entity_set)
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
                values[k] = coerce(table, col, v) if col.type != "entityname" else v
            rid = values.get(table.pk) or self.fresh_id()
            if rid in self.rows.rows[logical]:
                raise errors.duplicate_record()
            values[table.pk] = rid
            full = dict(values)
            if table.state_defaults:
                st = full.get("statecode") or 0
                full["statecode"] = st
                if full.get("statuscode") is None:
                    full["statuscode"] = table.state_defaults[st]
            self.finish_row(table, full, creating=True)
            self.rows.put(logical, full)
            return rid
