"""The emulated org's data: one :class:`Store` that the Web API layer talks to.

The store is composed of rooms a reader can find by name:

- :mod:`.rows` — per-table row maps, alternate-key indexes and the undo journal;
- :mod:`.transactions` — the one lock, atomic writes and ``$batch`` change sets;
- :mod:`.writes` with :mod:`.validation` and :mod:`.references` — Dataverse write semantics
  (payload checks, state rules, deep inserts, binds) and the seeded id/version sequences;
- :mod:`.state` — the ``--state`` file format.

Reads (``$filter``, ``$select``...) are the Web API layer's (:mod:`.reads`); they look at
:attr:`Store.rows` under :attr:`Store.lock`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from . import state
from .references import WriteContext
from .rows import AltKey, TableRows
from .rules_attachments import AttachmentRules
from .schema import Table
from .transactions import Transactions
from .writes import Writer


@dataclass
class Options:
    """Behaviour switches for points the reference marks UNCONFIRMED (see docs/emulator.md)."""

    statecode_on_create: str = "reject"  # or "ignore"
    undeclared_key_code: str = "0x0"


class Store:
    """Thread-safe in-memory tables with Dataverse write semantics."""

    def __init__(self, tables: dict[str, Table], alternate_keys=(), options: Options | None = None, seed: int = 0,
                 rules: AttachmentRules | None = None):
        self.tables = tables
        self.options = options or Options()
        self.table_rows = TableRows(tables, self.options.undeclared_key_code)
        self.by_set = self.table_rows.by_set
        self.rows = self.table_rows.rows  # one dict for the life of the store (load refills it)
        self.keys = self.table_rows.keys
        self.transactions = Transactions(self.table_rows)
        self.lock = self.transactions.lock
        self.writer = Writer(self.table_rows, self.transactions, self.options.statecode_on_create, seed, rules)
        for spec in alternate_keys:
            self.declare_key(*spec)

    @property
    def on_commit(self) -> Callable[[int], None] | None:
        """Called with the number of rows a committed transaction touched (the "writes" stat)."""
        return self.transactions.on_commit

    @on_commit.setter
    def on_commit(self, callback: Callable[[int], None] | None) -> None:
        self.transactions.on_commit = callback

    @property
    def write_count(self) -> int:
        """Row writes made so far (seeding and rolled-back writes included)."""
        return self.table_rows.write_count

    # ---------------------------------------------------------------- keys and lookups

    def declare_key(self, table: str, columns, name: str | None = None) -> AltKey:
        """Declare an alternate key (like creating one in the maker portal); existing dupes fail."""
        with self.lock:
            return self.table_rows.declare_key(table, columns, name)

    def match_key(self, table: Table, key: dict[str, Any]) -> AltKey:
        """The declared key whose columns are exactly ``key``'s names, else the real 400."""
        return self.table_rows.match_key(table, key)

    def find(self, table: Table, key: str | dict[str, Any]) -> str | None:
        """Return the id of the row a GUID or alternate-key dict names, or None."""
        return self.table_rows.find(table, key)

    def where(self, table: Table, alternatives: list[tuple[str, Any]]) -> list[dict] | None:
        """Rows whose column holds one of the keys, for any ``(column, casefolded keys)`` alternative.

        In insertion order, like a scan. None when a column has no index (the caller scans).
        """
        rows = self.table_rows
        if not all(rows.indexed(table.logical, column) for column, _ in alternatives):
            return None
        if len(alternatives) == 1:
            column, keys = alternatives[0]
            ids = rows.ids_where(table.logical, column, keys)
        else:
            found = {rid for column, keys in alternatives for rid in rows.ids_where(table.logical, column, keys)}
            ids = rows.ids_where(table.logical, table.pk, found)
        table_rows = self.rows[table.logical]
        return [table_rows[rid] for rid in ids]

    def rows_where(self, table: str, column: str, value: Any) -> list[dict]:
        """The rows of ``table`` whose indexed ``column`` equals ``value`` (a lookup's children)."""
        return self.table_rows.rows_where(table, column, value)

    def resolve_reference(self, ref: str, ctx: WriteContext, entity_set_for_errors: str) -> tuple[Table, str]:
        """Resolve a bind/``@odata.id`` URL (``/contacts(id)``, absolute, alt-key or ``$n``) to ``(table, id)``."""
        return self.writer.resolve(ref, ctx, entity_set_for_errors)

    def new_id(self) -> str:
        """A server-generated GUID, deterministic for a given seed and request order."""
        with self.lock:
            return self.writer.fresh_id()

    # ---------------------------------------------------------------- transactions

    def atomic(self):
        """Context manager: run a write atomically (nested calls join the outer transaction)."""
        return self.transactions.atomic()

    def changeset(self):
        """Context manager holding the lock for a whole change set; yields a ``ChangeSetTx``."""
        return self.transactions.changeset()

    # ---------------------------------------------------------------- writes

    def create(self, table: Table, body: Any, ctx: WriteContext, *, key_values: dict | None = None,
               direct: bool = True) -> str:
        """Create a row (with deep inserts) and return its id; atomic."""
        return self.writer.create(table, body, ctx, key_values=key_values, direct=direct)

    def update(self, table: Table, rid: str, body: Any, ctx: WriteContext) -> None:
        """Update an existing row; closed activities are read-only; atomic."""
        self.writer.update(table, rid, body, ctx)

    def upsert(self, table: Table, key: str | dict, body: Any, ctx: WriteContext, *, if_match: str | None = None,
               if_none_match: str | None = None) -> tuple[str, bool]:
        """PATCH semantics: update if the key matches, else create; returns ``(id, created)``."""
        return self.writer.upsert(table, key, body, ctx, if_match=if_match, if_none_match=if_none_match)

    def delete(self, table: Table, rid: str) -> None:
        """Delete a row and the activity parties that belong to it."""
        self.writer.delete(table, rid)

    def set_lookup(self, table: Table, rid: str, nav_name: str, target: tuple[Table, str] | None) -> None:
        """``PUT .../nav/$ref`` (associate) or ``DELETE .../nav/$ref`` (disassociate)."""
        self.writer.set_lookup(table, rid, nav_name, target)

    def bind_children(self, parent: Table, parent_id: str, coll_name: str, refs: list[tuple[Table, str]]) -> None:
        """``POST .../collection/$ref``: point existing child rows at the parent; atomic."""
        with self.atomic():
            self.writer.bind_children(parent, parent_id, coll_name, refs)

    # ---------------------------------------------------------------- seeding / state

    def seed(self, logical: str, row: dict) -> str:
        """Insert a row as an admin would (state, read-only columns and lookups by id allowed)."""
        return self.writer.seed(logical, row)

    def dump(self) -> dict:
        """The store as JSON-serialisable data (rows and declared keys)."""
        with self.lock:
            return state.dump(self.table_rows)

    def load(self, data: dict) -> None:
        """Replace the rows with a :meth:`dump` (keys declared in the file are added)."""
        with self.lock:
            state.load(self.table_rows, self.writer, data)
