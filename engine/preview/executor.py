"""The read-only executor: the real planner against a real org, lookups sent, writes never.

:class:`ReadOnlyExecutor` stands where the sync's Web API executor stands. Lookups (GETs,
packed into ``$batch`` requests exactly as a sync packs them) and metadata reads go to the org;
every write the planner hands it is answered as the service answers a success and counted,
never sent. So the planner takes the same decisions a sync would take against that org (what
exists, what differs, which record an address binds to) and the preview shows them.

Nothing but ``GET`` can leave through it: :meth:`ReadOnlyExecutor.run` splits GETs from
writes before anything is sent, and the client it wraps is only ever given GETs
(tests/preview/test_read_only.py proves it on the wire).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any

from ..operations import ChangeSet, Operation, Result
from ..planner.context import TABLES

_TABLE_OF_SET = {entity_set: table for table, (entity_set, _pk) in TABLES.items()}


def _lookup_of(column: str) -> str | None:
    """``_parentcustomerid_value`` (how a read returns a lookup) → ``parentcustomerid``."""
    return column[1:-len("_value")] if column.startswith("_") and column.endswith("_value") else None


class WriteRefused(AssertionError):
    """A write reached the read-only executor's client: a bug, never an org change."""


class GetOnlyClient:
    """A :class:`~mail2dataverse.writers.webapi.WebApiClient` that can only send GETs."""

    def __init__(self, client: Any):
        self._client = client

    def send(self, op: Operation) -> Result:
        """Send one GET."""
        self._check(op)
        return self._client.send(op)

    def execute(self, items: list[Any], *, continue_on_error: bool = True) -> list[Result]:
        """Send GETs, packed into ``$batch`` requests as a sync packs its lookups."""
        for item in items:
            self._check(item)
        return self._client.execute(items, continue_on_error=continue_on_error)

    def query_all(self, path: str, **kwargs: Any) -> Iterator[dict[str, Any]]:
        """The rows of a query and of its following pages."""
        return self._client.query_all(path, **kwargs)

    @staticmethod
    def _check(item: Any) -> None:
        if not isinstance(item, Operation) or item.method != "GET":
            what = item.describe() if isinstance(item, Operation) else "a change set"
            raise WriteRefused(f"read-only preview: refusing to send {what}")


class ReadOnlyExecutor:
    """Planner executor that reads from the org and records (never sends) writes."""

    #: lookups go to the org: the planner must not take the empty-org shortcuts
    dry_run = False

    def __init__(self, client: Any):
        from ..writers.live import WebApiExecutor

        self.client = GetOnlyClient(client)
        # The sync's executor answers the metadata questions (alternate keys) the same way;
        # it only ever sees the GET-only client.
        self._reads = WebApiExecutor(self.client)
        #: writes not sent, by kind (``POST contacts/...CreateMultiple``, ``POST emails``...)
        self.writes_not_sent: Counter = Counter()
        self._columns: dict[str, Any] = {}

    def run(self, items: list[Operation | ChangeSet], *, phase: int) -> list[Result]:
        """Send the GETs among ``items`` (in ``$batch`` requests); answer the writes unsent."""
        gets = [i for i in items if isinstance(i, Operation) and i.method == "GET"]
        answered: dict[int, Result] = {}
        if gets:
            sent = {id(op): op for op in gets}
            adapted = [self._selectable(op) for op in gets]
            for res, original in zip(self.client.execute(adapted, continue_on_error=True), gets):
                res.operation = sent[id(original)]
                answered[id(original)] = res
        out: list[Result] = []
        for item in items:
            if isinstance(item, ChangeSet):
                out.extend(self._unsent(op) for op in item.operations)
            elif item.method == "GET":
                out.append(answered[id(item)])
            else:
                out.append(self._unsent(item))
        return out

    def _selectable(self, op: Operation) -> Operation:
        """``op`` without the ``$select`` columns the org's table does not have.

        The planner reads back the columns the mappings write; a sync stops at the pre-flight
        when one does not exist, but the preview carries on to show every record that would
        fail because of it, so its reads must not ask for what the org would refuse.
        """
        path, sep, query = op.path.partition("?")
        table = _TABLE_OF_SET.get(path)
        known = self._columns.get(table) if table else None
        if not known or "$select=" not in query:
            return op
        params = query.split("&")
        for i, param in enumerate(params):
            if param.startswith("$select="):
                keep = [c for c in param[len("$select="):].split(",") if c in known or _lookup_of(c) in known]
                params[i] = "$select=" + ",".join(keep)
        return Operation(op.method, path + sep + "&".join(params), op.body, op.headers, op.content_id, op.tag)

    def _unsent(self, op: Operation) -> Result:
        # What the service answers on success, so the planner carries on as after a real write.
        path = op.path.split("?", 1)[0]
        kind = path if "/Microsoft.Dynamics.CRM." in path else path.split("(", 1)[0]
        self.writes_not_sent[f"{op.method} {kind if not kind.startswith('$') else '$n'}"] += 1
        if path.endswith("CreateMultiple"):
            return Result(op, 200, body={"Ids": []})
        return Result(op, 204)

    def alternate_keys(self, table: str) -> set[tuple[str, ...]]:
        """Active alternate keys of ``table``, read from the org's metadata once."""
        return self._reads.alternate_keys(table)

    def columns(self, table: str) -> dict[str, Any] | None:
        """``table``'s columns (name → :class:`~mail2dataverse.preflight.ColumnInfo`: type and
        length) from the org's metadata, as the sync's pre-flight reads them; None when
        unreadable. Read once per table; later reads of that table only select what exists."""
        if table not in self._columns:
            self._columns[table] = self._reads.attributes(table)
        return self._columns[table]

    def navigations(self, table: str) -> set[str] | None:
        """The navigation properties ``table`` binds lookups through (``parentcustomerid_account``,
        ``regardingobjectid_opportunity_email``...), or None when the metadata cannot be read."""
        res = self.client.send(Operation(
            "GET", f"EntityDefinitions(LogicalName='{table}')/ManyToOneRelationships"
                   "?$select=ReferencingEntityNavigationPropertyName"))
        if not res.ok:
            return None
        return {r["ReferencingEntityNavigationPropertyName"] for r in (res.body or {}).get("value", [])
                if r.get("ReferencingEntityNavigationPropertyName")}

    def follow(self, next_link: str) -> Iterator[dict[str, Any]]:
        """Rows of the pages behind ``next_link`` (GETs)."""
        return self.client.query_all(next_link)
