"""The executor that sends the planner's operations to a Dataverse org through the Web API."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from ..operations import ChangeSet, Operation, Result


class WebApiExecutor:
    """Adapts :class:`~mail2dataverse.writers.webapi.WebApiClient` to the planner's executor protocol."""

    dry_run = False

    def __init__(self, client: Any):
        self.client = client
        self._keys: dict[str, set[tuple[str, ...]]] = {}

    def run(self, items: list[Operation | ChangeSet], *, phase: int) -> list[Result]:
        """Send ``items`` in ``$batch`` requests, continuing past failed records. Lookups
        (``phase`` 0), which the planner waits for, go ahead of the writes queued."""
        return self.client.execute(items, continue_on_error=True, first=phase == 0)

    def submit(self, items: list[Operation | ChangeSet], *, phase: int) -> Any:
        """Queue ``items`` and return at once; ``.result()`` waits for what :meth:`run` returns."""
        return self.client.submit(items, continue_on_error=True, first=phase == 0)

    def alternate_keys(self, table: str) -> set[tuple[str, ...]]:
        """Active alternate keys of ``table``, read once per run from the org's metadata."""
        if table not in self._keys:
            res = self.client.send(
                Operation("GET", f"EntityDefinitions(LogicalName='{table}')/Keys?$select=KeyAttributes,EntityKeyIndexStatus")
            )
            keys: set[tuple[str, ...]] = set()
            if res.ok:
                for key in (res.body or {}).get("value", []):
                    # A key still being indexed cannot be used for upserts yet.
                    if key.get("EntityKeyIndexStatus", "Active") == "Active":
                        keys.add(tuple(key.get("KeyAttributes", [])))
            self._keys[table] = keys
        return self._keys[table]

    def attributes(self, table: str) -> dict[str, Any] | None:
        """``table``'s columns (name → :class:`~mail2dataverse.preflight.ColumnInfo`: type and
        length) from the org's metadata; None when unreadable."""
        from ..preflight import read_columns

        return read_columns(lambda path: self.client.send(Operation("GET", path)), table)

    def follow(self, next_link: str) -> Iterator[dict[str, Any]]:
        """Rows of the pages behind ``next_link`` (an absolute, already-encoded URL of the org)."""
        # Passed unchanged: cutting it into path + query would percent-encode the opaque
        # $skiptoken a second time.
        return self.client.query_all(next_link)
