"""Web API operations: what the planner emits, the dry-run prints and the Web API writer sends."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(slots=True)
class Operation:
    """One Web API request, independent of how it is sent (alone or inside ``$batch``).

    ``path`` is relative to the service root ``/api/data/v9.2/`` (``contacts``,
    ``emails(<guid>)``, ``$1`` for a change-set reference, ``contacts/Microsoft.Dynamics.CRM.
    CreateMultiple``, or a query such as ``contacts?$select=...``). ``headers`` are the
    operation's own headers (``If-Match``, ``Prefer``...), never auth. ``tag`` is opaque to the
    writer and comes back on the result, so the planner can map each outcome to its records.
    """

    method: str
    path: str
    body: dict[str, Any] | None = None
    headers: dict[str, str] = field(default_factory=dict)
    content_id: str | None = None
    tag: Any = None

    def describe(self) -> str:
        """``METHOD path``: safe to log (no headers, no body)."""
        return f"{self.method} {self.path}"


@dataclass(slots=True)
class ChangeSet:
    """Operations that succeed or fail together (an OData change set, ``ExecuteTransaction``)."""

    operations: list[Operation]
    tag: Any = None


@dataclass(slots=True)
class Result:
    """The outcome of one operation.

    ``status`` is the HTTP status (0 when the operation never ran, e.g. rolled back with its
    change set or not reached). ``entity_id`` is the GUID from ``OData-EntityId``/``Location``
    when the service returned one. ``error_code``/``error_message`` come from the service's
    ``{"error": {...}}`` body; ``rolled_back`` marks a change-set member undone by a sibling's
    failure.
    """

    operation: Operation
    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    entity_id: str | None = None
    error_code: str | None = None
    error_message: str | None = None
    rolled_back: bool = False

    @property
    def ok(self) -> bool:
        """True for a 2xx answer."""
        return 200 <= self.status < 300
