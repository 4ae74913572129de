"""Web API operations: what the planner emits, the dry-run prints and the Web API writer sends."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, NamedTuple


@dataclass(frozen=True, slots=True)
class Rows:
    """The rows one operation writes, named by a column and its values.

    The writer uses them twice: no two requests in flight write the same row (the service
    answers concurrent writes of one row with SQL deadlocks), and when a request times out or
    is cut off, ``created`` rows are looked up (``column In values``) to learn which landed,
    instead of resending blind. ``created`` is only true for creates with client-generated ids
    (or unique columns), where "a row with this value exists" means "this operation landed".
    For a bulk message, ``values[i]`` belongs to ``Targets[i]``.
    """

    entity_set: str
    column: str
    values: tuple[str, ...]
    created: bool = False

    def keys(self) -> list[tuple[str, str]]:
        """``(entity set, value)`` per row, lower-cased: what two requests must not share."""
        return [(self.entity_set, str(v).lower()) for v in self.values]

#: bytes read per step when a file is streamed as Base64 (a multiple of 3: no padding mid-stream)
STREAM_BLOCK = 3 * 256 * 1024


@dataclass(frozen=True, slots=True)
class Base64File:
    """A column value that is a file's content as Base64 (an attachment's ``body``).

    The file is never read into memory: the ``$batch`` encoder streams it block by block
    (:meth:`chunks`), so a 100 MB attachment costs a buffer, not 133 MB of text and its copies.
    The preview shows :meth:`describe` instead of the text.
    """

    path: str
    size: int

    @property
    def length(self) -> int:
        """Bytes of the Base64 text (4 for every 3 bytes, padded)."""
        return 4 * ((self.size + 2) // 3)

    def chunks(self) -> Iterator[bytes]:
        """The Base64 text in blocks, read from the file now (so a resend reads it again)."""
        with open(self.path, "rb") as f:
            for block in iter(lambda: f.read(STREAM_BLOCK), b""):
                yield base64.b64encode(block)

    def describe(self) -> str:
        """What the preview shows for the value: its size, never its content."""
        return f"<Base64 of {self.size} bytes from the source's attachment, {self.length} characters>"


_PLAIN_TYPES = frozenset({str, int, float, bool, type(None), list, dict})


def payload_bytes(body: Any) -> int:
    """Bytes of streamed file content (:class:`Base64File` values) in an operation's body."""
    if isinstance(body, dict):
        # Asked for every operation (sizing, the dry run) and almost never true: when the value
        # types (collected in C) are all plain JSON ones, no value is a file.
        if _PLAIN_TYPES.issuperset(map(type, body.values())):
            return 0
        return sum(v.length if isinstance(v, Base64File) else 0 for v in body.values())
    return 0


@dataclass(slots=True)
class Operation:
    """One Web API request, independent of how it is sent (alone or inside ``$batch``).

    ``path`` is relative to the service root ``/api/data/v9.2/`` (``contacts``,
    ``emails(<guid>)``, ``$1`` for a change-set reference, ``contacts/Microsoft.Dynamics.CRM.
    CreateMultiple``, or a query such as ``contacts?$select=...``). ``headers`` are the
    operation's own headers (``If-Match``, ``Prefer``...), never auth. ``tag`` is opaque to the
    writer and comes back on the result, so the planner can map each outcome to its records.
    ``rows`` names the rows it writes (:class:`Rows`), when the planner knows them.
    """

    method: str
    path: str
    body: dict[str, Any] | None = None
    headers: dict[str, str] = field(default_factory=dict)
    content_id: str | None = None
    tag: Any = None
    rows: Rows | None = None

    def describe(self) -> str:
        """``METHOD path``: safe to log (no headers, no body)."""
        return f"{self.method} {self.path}"

    @property
    def payload_bytes(self) -> int:
        """Bytes of file content this operation carries (attachments), for sizing batches."""
        return payload_bytes(self.body)


class BulkTag(NamedTuple):
    """The tag of a bulk message (``CreateMultiple``, ``UpdateMultiple``, ``UpsertMultiple``) whose
    ``items`` match its ``Targets`` one for one.

    With it the writer may split a message that would take too long into smaller ones, each
    tagged with its slice of ``items``; the caller then gets one result per message sent.
    """

    kind: str
    table: str
    items: list


@dataclass(slots=True)
class ChangeSet:
    """Operations that succeed or fail together (an OData change set, ``ExecuteTransaction``)."""

    operations: list[Operation]
    tag: Any = None
    #: ``(entity set, id)`` keys (lower-cased, as :meth:`Rows.keys`) of rows this change set
    #: binds to that another queued item creates: the writer sends it only once those items
    #: have their results (a reply and the email it answers, both created by this run).
    after: frozenset = frozenset()

    @property
    def payload_bytes(self) -> int:
        """Bytes of file content (attachments) the change set carries: a batch is sized by
        them as well as by its operations and server time."""
        return sum(op.payload_bytes for op in self.operations)


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
