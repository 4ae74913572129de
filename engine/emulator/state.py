"""The store as data: the ``--state`` file format (declared keys and every table's rows).

Loading replaces the rows but keeps the tables' declared keys, adding those the file names; the
row version sequence continues after the highest version loaded, so an etag never repeats.
The caller holds the store's lock.
"""

from __future__ import annotations

import copy
import json
from typing import Any

from .rows import TableRows
from .writes import Writer


def dump(table_rows: TableRows) -> dict:
    """The rows and declared keys as JSON-serialisable data."""
    return {
        "version": 1,
        "keys": [{"table": k.table, "name": k.name, "columns": list(k.columns)}
                 for ks in table_rows.keys.values() for k in ks],
        "rows": copy.deepcopy(table_rows.rows),
    }


def load(table_rows: TableRows, writer: Writer, data: dict) -> None:
    """Replace the rows with a :func:`dump` (keys declared in the file are added)."""
    table_rows.clear()
    for table, rows in data.get("rows", {}).items():
        if table not in table_rows.tables:
            continue
        for rid, row in rows.items():
            table_rows.rows[table][rid] = row
            table_rows.index_add(table, row)
            writer.versions_after(int(row.get("versionnumber") or 0))
    declared = {(k.table, k.name) for ks in table_rows.keys.values() for k in ks}
    for k in data.get("keys", []):
        if (k["table"], k["name"]) not in declared:
            table_rows.declare_key(k["table"], tuple(k["columns"]), k["name"])


def dumps_state(store: Any) -> str:
    """Serialise a store (anything with ``dump()``, i.e. :class:`~.store.Store`) for ``--state`` files."""
    return json.dumps(store.dump(), indent=1, sort_keys=True)
