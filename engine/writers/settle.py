"""Which items of a request with an unknown outcome landed: looked up by the rows they create.

A request that timed out, or whose connection was cut while the answer was on its way, may have
landed in whole, in part or not at all (a ``$batch`` keeps what finished before the service's
cut). The planner gives every create a client-generated id (or another unique column) and names
it in :class:`~mail2dataverse.operations.Rows`, so the question "did it land?" has an exact
answer: does a row with that value exist? One ``In(...)`` query per table and
:data:`CHUNK` values answers it for a whole batch.

An item landed when every row its creates name exists: a change set is atomic, and a bulk
message is one transaction. An item without created rows (an update, an upsert, a read) is never
counted as landed: it is safe to send again.
"""

from __future__ import annotations

from collections.abc import Sequence

from mail2dataverse.odata import in_filter, query
from mail2dataverse.operations import ChangeSet, Operation
from mail2dataverse.writers import paging
from mail2dataverse.writers.transport import Transport

#: Values per lookup query (keeps the URL well under the service's limit).
CHUNK = 100


def created_rows(item: Operation | ChangeSet) -> list[tuple[str, str, str]]:
    """``(entity set, column, value)`` of every row the item's creates name."""
    ops = item.operations if isinstance(item, ChangeSet) else [item]
    return [(op.rows.entity_set, op.rows.column, str(v)) for op in ops if op.rows is not None and op.rows.created
            for v in op.rows.values]


def landed_items(transport: Transport, items: Sequence[Operation | ChangeSet]) -> list[bool]:
    """For each item, whether all the rows its creates name exist in the org.

    :raises WebApiError: a lookup failed (the caller then sends everything again).
    """
    wanted: dict[tuple[str, str], set[str]] = {}
    per_item = [created_rows(item) for item in items]
    for rows in per_item:
        for entity_set, column, value in rows:
            wanted.setdefault((entity_set, column), set()).add(value.lower())
    found: set[tuple[str, str, str]] = set()
    for (entity_set, column), values in sorted(wanted.items()):
        ordered = sorted(values)
        for start in range(0, len(ordered), CHUNK):
            path = query(entity_set, select=[column], filter=in_filter(column, ordered[start : start + CHUNK]))
            for row in paging.query_all(transport, path):
                value = row.get(column)
                if value is not None:
                    found.add((entity_set, column, str(value).lower()))
    return [bool(rows) and all((s, c, v.lower()) in found for s, c, v in rows) for rows in per_item]
