"""The emulated org's table rows, their alternate-key indexes and the undo journal of writes.

Rows are plain dicts keyed by attribute logical names (lookups hold the target id under the
lookup column, polymorphic lookups also the target table in their type column), one row map per
table. Every alternate key has a case-insensitive index beside the rows, so a duplicate key
fails on write exactly as the service's unique index does. The columns lookups search —
every lookup column, the address, message-id, website and ticket-number columns, and alternate
key columns — can have a case-insensitive value index too, so an ``eq``/``In(...)`` query, an
``$expand`` of a collection or a party clean-up costs the rows it touches, not the table's
size. Such an index is built the first time a search needs it (from the rows there, one scan)
and kept from then on; a column nothing searches costs its rows' writes nothing (a sync never
searches its activity parties, three to five rows per email). Declared keys' columns are
indexed at once. Each row also has an insertion sequence number, so rows found through an
index come back in the order a scan would give. While a transaction runs, every
:meth:`TableRows.put` and :meth:`TableRows.remove` first records the row's prior state, so
:meth:`TableRows.rollback` can restore rows and indexes together.

A stored row is never changed in place: a write builds a new dict and :meth:`TableRows.put`
swaps it in. So the journal keeps the prior row itself (no copy), a writer copies a row with a
shallow ``dict(row)`` (column values are immutable: strings, numbers, booleans, None), and a
replaced row's indexes change only for the columns whose value changed.

Nothing here locks: :class:`~.transactions.Transactions` owns the store's lock.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from . import errors
from .schema import Table

# Column types that may be part of an alternate key (the maker portal offers only these).
_KEYABLE_TYPES = ("string", "int", "bigint", "decimal", "lookup", "datetime", "picklist", "uniqueidentifier")
# String columns whose lookups are indexed besides lookups and alternate keys (what the planner,
# pre-flight and plugins search by).
INDEXED_COLUMNS = ("emailaddress1", "emailaddress2", "emailaddress3", "internalemailaddress", "messageid",
                   "websiteurl", "ticketnumber")


def _index_key(value: Any) -> Any:
    return value.casefold() if isinstance(value, str) else value


def _index_value(idx: dict[Any, dict[str, None]], value: Any, rid: str) -> None:
    """Add ``rid`` under ``value`` in a column's value index."""
    k = value.casefold() if isinstance(value, str) else value
    ids = idx.get(k)
    if ids is None:
        idx[k] = {rid: None}
    else:
        ids[rid] = None


def _key_values(key: AltKey, row: dict) -> tuple | None:
    """``row``'s casefolded values under ``key``, or None when one is null."""
    vals = []
    for c in key.columns:
        v = row.get(c)
        if v is None:
            return None  # rows with a null key column are not indexed (SQL filtered index)
        vals.append(v.casefold() if isinstance(v, str) else v)
    return tuple(vals)


def _unindex_value(idx: dict[Any, dict[str, None]], value: Any, rid: str) -> None:
    """Take ``rid`` out from under ``value`` in a column's value index."""
    k = _index_key(value)
    ids = idx.get(k)
    if ids is not None:
        ids.pop(rid, None)
        if not ids:
            del idx[k]


class _Places:
    """Where the rows a transaction removed stood (their insertion sequence numbers), so its
    rollback puts them back there: the row map is kept in sequence order, and a plain listing
    reads it, so a listing after a rollback is the listing before it.

    Tied to the running journal by identity, so numbers a committed transaction left behind
    are never read.
    """

    __slots__ = ("journal", "numbers")

    def __init__(self) -> None:
        self.journal: dict | None = None
        self.numbers: dict[tuple[str, str], int] = {}

    def note(self, journal: dict | None, table: str, rid: str, number: int) -> None:
        """``rid`` of ``table``, numbered ``number``, is being removed (outside a transaction:
        nothing can restore it, so nothing is noted)."""
        if journal is None:
            return
        if self.journal is not journal:
            self.journal, self.numbers = journal, {}
        self.numbers.setdefault((table, rid), number)  # the first removal's: the original

    def put_back(self, journal: dict, rows: dict[str, dict[str, dict]], seqs: dict[str, dict[str, int]],
                 ids: dict[str, int]) -> None:
        """Give every row the rollback of ``journal`` restored after removing it its number and
        its place in ``rows`` back (it was put back at the end); ``ids`` counts the numbers."""
        numbers = self.numbers if self.journal is journal else {}
        self.journal, self.numbers = None, {}
        restored: dict[str, set[str]] = {}
        for (table, rid), number in numbers.items():
            if journal.get((table, rid)) is None:
                continue  # created by the transaction itself: gone again
            seq = seqs[table]
            if seq.pop(rid, None) is None:  # else a row created again under its id: that number goes
                ids[rid] = ids.get(rid, 0) + 1
            seq[rid] = number
            restored.setdefault(table, set()).add(rid)
        for table, rids in restored.items():
            _reorder_tail(rows[table], seqs[table], rids)


def _reorder_tail(rows: dict[str, dict], seq: dict[str, int], restored: set[str]) -> None:
    """Move the ``restored`` rows, put back at the end of ``rows``, to their places by ``seq``.

    The other rows are still in order, so only those from the first restored one's place on
    are taken out and put in again (a rollback costs the rows after it, not the table).
    """
    first = min(map(seq.__getitem__, restored))
    tail = []
    for rid in reversed(rows):
        if rid not in restored and seq[rid] < first:
            break
        tail.append(rid)
    tail.sort(key=seq.__getitem__)
    for rid in tail:
        rows[rid] = rows.pop(rid)


@dataclass(frozen=True)
class AltKey:
    """A declared alternate key: a name and its columns (values unique per table)."""

    table: str
    name: str
    columns: tuple[str, ...]


class TableRows:
    """Per-table row maps, alternate-key indexes and the journal of the running transaction."""

    def __init__(self, tables: dict[str, Table], undeclared_key_code: str):
        self.tables = tables
        self.by_set = {t.entity_set: t for t in tables.values()}
        self.undeclared_key_code = undeclared_key_code
        self.rows: dict[str, dict[str, dict]] = {name: {} for name in tables}
        self.keys: dict[str, list[AltKey]] = {name: [] for name in tables}
        self._key_index: dict[tuple[str, str], dict[tuple, str]] = {}
        # table -> the columns searches may index (built on a first search: see ids_where)
        self._indexable: dict[str, frozenset[str]] = {
            name: frozenset(c.name for c in t.columns.values()
                            if c.type == "lookup" or (c.name in INDEXED_COLUMNS and c.type in ("string", "memo")))
            for name, t in tables.items()}
        # table -> column -> casefolded value -> ids holding it (a dict as an ordered set): the
        # indexes built so far, kept by every write from then on
        self._value_index: dict[str, dict[str, dict[Any, dict[str, None]]]] = {name: {} for name in tables}
        # table -> its indexed columns, for walking them at C speed (kept with _value_index)
        self._indexed: dict[str, tuple[str, ...]] = {name: () for name in tables}
        self._pk: dict[str, str] = {name: t.pk for name, t in tables.items()}
        self._seq: dict[str, dict[str, int]] = {name: {} for name in tables}
        self._next_seq = 0
        # id -> how many tables hold a row with it (kept beside the sequence numbers, which
        # every stored row has), so a generated id is checked against the org in one lookup.
        self._ids: dict[str, int] = {}
        # (table, id) -> the row before the transaction first touched it (None: it did not exist).
        self.journal: dict[tuple[str, str], dict | None] | None = None
        self._places = _Places()  # where removed rows stood, for a rollback
        self.write_count = 0

    # ---------------------------------------------------------------- alternate keys

    def declare_key(self, table: str, columns, name: str | None = None) -> AltKey:
        """Declare an alternate key (like creating one in the maker portal); existing dupes fail."""
        if table not in self.tables:
            raise ValueError(f"unknown table {table!r}")
        cols = (columns,) if isinstance(columns, str) else tuple(columns)
        t = self.tables[table]
        for c in cols:
            if c not in t.columns or t.columns[c].type not in _KEYABLE_TYPES:
                raise ValueError(f"column {c!r} of {table!r} cannot be part of an alternate key")
        key = AltKey(table, name or f"{table}_{'_'.join(cols)}", cols)
        index: dict[tuple, str] = {}
        for rid, row in self.rows[table].items():
            kv = _key_values(key, row)
            if kv is not None:
                if kv in index:
                    raise ValueError(f"duplicate values for key {key.name}: {kv}")
                index[kv] = rid
        self.keys[table].append(key)
        self._key_index[(table, key.name)] = index
        for c in cols:
            self._index_column(table, c)
        return key

    def _index_column(self, table: str, column: str) -> None:
        """Start a value index on ``column`` (built from the rows already there)."""
        columns = self._value_index[table]
        if column in columns:
            return
        idx: dict[Any, dict[str, None]] = {}
        pk = self.tables[table].pk
        for row in self.rows[table].values():
            v = row.get(column)
            if v is not None:
                idx.setdefault(_index_key(v), {})[row[pk]] = None
        columns[column] = idx
        self._indexed[table] = tuple(columns)

    def index_remove(self, table: str, row: dict) -> None:
        """Drop ``row``'s entries from its table's indexes (only entries that point at it)."""
        rid = row[self.tables[table].pk]
        for key in self.keys[table]:
            kv = _key_values(key, row)
            if kv is not None:
                idx = self._key_index[(table, key.name)]
                if idx.get(kv) == rid:
                    del idx[kv]
        columns = self._value_index[table]
        for column in columns.keys() & row.keys():  # rows are sparse: only the columns they hold
            v = row[column]
            if v is not None:
                _unindex_value(columns[column], v, rid)

    def _check_keys(self, table: str, row: dict, rid: str) -> list[tuple[dict, tuple | None]]:
        """``(index, values)`` of ``row`` under each alternate key; another row holding the
        values is the real 412, raised before any index changes."""
        found = []
        for key in self.keys[table]:
            kv = _key_values(key, row)
            idx = self._key_index[(table, key.name)]
            if kv is not None:
                other = idx.get(kv)
                if other is not None and other != rid:
                    raise errors.duplicate_entity_key(key.name, list(key.columns))
            found.append((idx, kv))
        return found

    def index_add(self, table: str, row: dict, rid: str | None = None) -> None:
        """Index ``row`` (whose id is ``rid``, read from it when not given) under each alternate
        key; another row holding the values is the real 412 (and then no index has changed)."""
        if rid is None:
            rid = row[self._pk[table]]
        if self.keys[table]:
            for idx, kv in self._check_keys(table, row, rid):
                if kv is not None:
                    idx[kv] = rid
        indexed = self._indexed[table]
        if indexed:  # most tables' rows have no index to join (see the module docstring)
            columns = self._value_index[table]
            # The indexed columns the row holds (rows are sparse), picked out at C speed.
            for column in filter(row.__contains__, indexed):
                v = row[column]
                if v is not None:  # _index_value, inlined: a new row walks here for each indexed column
                    k = v.casefold() if isinstance(v, str) else v
                    idx = columns[column]
                    ids = idx.get(k)
                    if ids is None:
                        idx[k] = {rid: None}
                    else:
                        ids[rid] = None
        seq = self._seq[table]
        if rid not in seq:
            self._next_seq += 1
            seq[rid] = self._next_seq
            self._ids[rid] = self._ids.get(rid, 0) + 1

    def _index_replace(self, table: str, old: dict, row: dict, rid: str) -> None:
        """Move the index entries of ``rid`` from ``old`` to ``row``: only what changed moves."""
        keys = self.keys[table]
        if keys:
            checked = self._check_keys(table, row, rid)
            for key, (idx, kv) in zip(keys, checked):
                was = _key_values(key, old)
                if was != kv:
                    if was is not None and idx.get(was) == rid:
                        del idx[was]
                    if kv is not None:
                        idx[kv] = rid
        cols = self._indexed[table]
        if not cols:
            return
        was_values = tuple(map(old.get, cols))
        now_values = tuple(map(row.get, cols))
        # Usually no indexed column changed (a PATCH of state, dates, text): seen at C speed.
        # Tuples compare items by identity, then ==, as the walk below does; it also compares
        # types, which equal tuples can still differ in (1 == True).
        if was_values == now_values and tuple(map(type, was_values)) == tuple(map(type, now_values)):
            return
        columns = self._value_index[table]
        for column, was, now in zip(cols, was_values, now_values):
            if was is now or (type(was) is type(now) and was == now):
                continue
            idx = columns[column]
            if was is not None:
                _unindex_value(idx, was, rid)
            if now is not None:
                _index_value(idx, now, rid)

    def indexed(self, table: str, column: str) -> bool:
        """Whether ``column`` (or the primary key) of ``table`` is searched through an index
        (after the first search of an indexable column, which builds it)."""
        return column == self.tables[table].pk or column in self._indexable[table] or column in self._value_index[table]

    def ids_where(self, table: str, column: str, keys) -> list[str]:
        """Ids of the rows whose ``column`` casefolds to one of ``keys``, in insertion order.

        ``column`` must be :meth:`indexed`; ``keys`` are casefolded values.
        """
        if column == self.tables[table].pk:
            found = {k for k in keys if k in self.rows[table]}
        else:
            idx = self._value_index[table].get(column)
            if idx is None:  # an indexable column's first search: index the rows there now
                self._index_column(table, column)
                idx = self._value_index[table][column]
            found = set()
            for k in keys:
                ids = idx.get(k)
                if ids:
                    found.update(ids)
        seq = self._seq[table]
        return sorted(found, key=seq.__getitem__)

    def rows_where(self, table: str, column: str, value: Any) -> list[dict]:
        """The rows whose ``column`` equals ``value`` (case-insensitively), in insertion order.

        From the index when ``column`` has one, else by a scan.
        """
        rows = self.rows[table]
        key = _index_key(value)
        if not self.indexed(table, column):
            return [r for r in rows.values() if _index_key(r.get(column)) == key]
        return [rows[rid] for rid in self.ids_where(table, column, (key,))]

    def match_key(self, table: Table, key: dict[str, Any]) -> AltKey:
        """The declared key whose columns are exactly ``key``'s names, else the real 400."""
        names = set(key)
        if names == {table.pk}:
            return AltKey(table.logical, table.pk, (table.pk,))
        for k in self.keys[table.logical]:
            if set(k.columns) == names:
                return k
        raise errors.invalid_key(table.logical, self.undeclared_key_code)

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

    def holds(self, rid: str) -> bool:
        """Whether any table has a row with this id (server-generated ids must not collide)."""
        return rid in self._ids

    def _forget_seq(self, table: str, rid: str) -> None:
        if self._seq[table].pop(rid, None) is not None:
            left = self._ids[rid] - 1
            if left:
                self._ids[rid] = left
            else:
                del self._ids[rid]

    # ---------------------------------------------------------------- journaled writes

    def _touch(self, table: str, rid: str, old: dict | None) -> None:
        if self.journal is not None and (table, rid) not in self.journal:
            self.journal[(table, rid)] = old  # never changed in place (module docstring): no copy

    def put(self, table: str, row: dict) -> None:
        """Store ``row`` (insert or replace), keeping the indexes; a key clash leaves all as it was.

        ``row`` must be a new dict, not the stored one changed in place (see the module docstring).
        """
        rid = row[self._pk[table]]
        rows = self.rows[table]
        old = rows.get(rid)
        if old is None:
            self.index_add(table, row, rid)
        else:
            self._index_replace(table, old, row, rid)
        journal = self.journal  # _touch, inlined: every write walks here
        if journal is not None and (table, rid) not in journal:
            journal[(table, rid)] = old
        rows[rid] = row
        self.write_count += 1

    def remove(self, table: str, rid: str) -> None:
        """Delete a row and its index entries."""
        row = self.rows[table].pop(rid)
        self._touch(table, rid, row)
        self.index_remove(table, row)
        self._places.note(self.journal, table, rid, self._seq[table][rid])
        self._forget_seq(table, rid)

    def rollback(self) -> None:
        """Restore every row the running transaction touched, then re-index the restored rows.

        Indexes are cleared for all touched rows first and re-added afterwards, so two rows that
        swapped a key value inside the transaction do not clash while being restored. Removed
        rows get their places back (:class:`_Places`).
        """
        journal = self.journal or {}
        for (table, rid), old in reversed(list(journal.items())):
            current = self.rows[table].get(rid)
            if current is not None:
                self.index_remove(table, current)
            if old is None:
                self.rows[table].pop(rid, None)
                self._forget_seq(table, rid)
            else:
                self.rows[table][rid] = old
        self._places.put_back(journal, self.rows, self._seq, self._ids)
        for (table, rid), old in journal.items():
            if old is not None:
                self.index_add(table, old)
        self.journal = {}

    def clear(self) -> None:
        """Empty every table and index (declared keys stay declared)."""
        for name in self.rows:
            self.rows[name] = {}
            self._seq[name] = {}
            for idx in self._value_index[name].values():
                idx.clear()
        self._ids.clear()
        for idx in self._key_index.values():
            idx.clear()
