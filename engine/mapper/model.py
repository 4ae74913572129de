"""Compiled mapping objects: frozen, slotted, holding only ready-to-call functions.

The compiler builds these once; :class:`~.mapping_set.MappingSet` only reads them. Nothing
here refers to YAML, JSON Schema or expression text except for error messages.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..errors import SourceLocation

Evaluator = Callable[[Any], Any]
Fn = Callable[[Any], Any]

#: Participation type masks of email activity parties (Dataverse ``participationtypemask``).
PARTY_MASKS = {"from": 1, "to": 2, "cc": 3, "bcc": 4}

#: ``let`` names the engine reads, per entity: name → (required, meaning).
ENGINE_LETS: dict[str, dict[str, tuple[bool, str]]] = {
    "contact": {
        "emails": (True, "the contact's addresses (array of strings); the first is its identity"),
    },
    "account": {},
    "email": {
        "identity": (True, "the email's identity (Message-ID), written to messageid and looked up before creating"),
        "outgoing": (False, "true when the mailbox owner sent the email (status Sent), else Received"),
        "date": (False, "the email's date as a UTC date-time (use the utc_datetime transform)"),
        "mailbox": (False, "the mailbox the email came from (grant id), for incremental sync"),
        "in_reply_to": (False, "the In-Reply-To header: the Message-ID this email answers (threads)"),
        "references": (False, "the References header: the Message-IDs of the thread, oldest first (threads)"),
        "thread": (False, "the provider's conversation id (Nylas thread_id), for threads without headers"),
        "attachments": (False, "the attachment list (Nylas shape: id, filename, content_type, size, "
                               "content_id, is_inline), written as activitymimeattachment rows"),
    },
}

#: Top-level keys that only make sense for one entity.
ENTITY_ONLY_KEYS = {"parties": "email", "regarding": "email"}


@dataclass(frozen=True, slots=True)
class CompiledValue:
    """One ``let`` entry or column: where its value comes from and what happens to it.

    Exactly one source is set: ``expr`` (a compiled JMESPath expression of the record),
    ``let_index`` >= 0 (an earlier ``let`` value) or ``constant`` (``has_constant``).
    """

    name: str
    source: SourceLocation
    expr: Evaluator | None = None
    let_index: int = -1
    constant: Any = None
    has_constant: bool = False
    transforms: tuple[Fn, ...] = ()
    when: Evaluator | None = None
    skip_reason: str | None = None
    bind: str | None = None
    text: str = ""
    #: ``compute(record, lets) -> value``: when + source + transforms fused into one closure
    #: (built by :func:`fuse`), so the per-record loop makes one call per entry.
    compute: Callable[[Any, list[Any]], Any] | None = None


def fuse(entry: CompiledValue) -> Callable[[Any, list[Any]], Any]:
    """Build the single ``compute(record, lets)`` closure of an entry.

    Specialised for the common shapes (an expression or a let value followed by zero, one or
    two transforms) because this runs for every column of every record.
    """
    transforms = entry.transforms
    if entry.expr is not None:
        expr = entry.expr
        if not transforms:
            source = lambda record, lets: expr(record)  # noqa: E731
        elif len(transforms) == 1:
            (t0,) = transforms
            source = lambda record, lets: t0(expr(record))  # noqa: E731
        elif len(transforms) == 2:
            t0, t1 = transforms
            source = lambda record, lets: t1(t0(expr(record)))  # noqa: E731
        else:
            source = _chain(lambda record, lets: expr(record), transforms)
    elif entry.let_index >= 0:
        index = entry.let_index
        if not transforms:
            source = lambda record, lets: lets[index]  # noqa: E731
        elif len(transforms) == 1:
            (t0,) = transforms
            source = lambda record, lets: t0(lets[index])  # noqa: E731
        else:
            source = _chain(lambda record, lets: lets[index], transforms)
    else:
        constant = entry.constant
        source = _chain(lambda record, lets: constant, transforms)
    when = entry.when
    if when is None:
        return source

    def guarded(record: Any, lets: list[Any]) -> Any:
        result = when(record)
        # JMESPath falsiness: null, false, "", [] and {} leave the entry out; 0 does not.
        if result is None or result is False or result == "" or result == [] or result == {}:
            return None
        return source(record, lets)

    return guarded


def _chain(source: Callable[[Any, list[Any]], Any], transforms: tuple[Fn, ...]) -> Callable[[Any, list[Any]], Any]:
    def chained(record: Any, lets: list[Any]) -> Any:
        value = source(record, lets)
        for transform in transforms:
            value = transform(value)
        return value

    return chained


@dataclass(frozen=True, slots=True)
class CompiledSkipRule:
    """``skip_record_when`` entry: when ``when`` is truthy for a record, skip it with ``reason``."""

    when: Evaluator
    reason: str
    source: SourceLocation


@dataclass(frozen=True, slots=True)
class CompiledParty:
    """``parties`` entry: ``expr`` gives an array of ``{name, email}`` participants of ``mask``."""

    expr: Evaluator
    mask: int
    source: SourceLocation


@dataclass(frozen=True, slots=True)
class CompiledMapping:
    """A whole mapping (defaults merged with user files), ready to map records.

    ``lets`` are evaluated in order into a list; ``special`` maps the engine's ``let`` names
    (``emails``, ``identity``, ``outgoing``, ``date``, ``mailbox``) to their index in it.
    """

    entity: str
    source: SourceLocation
    files: tuple[str, ...]
    lets: tuple[CompiledValue, ...]
    skip_rules: tuple[CompiledSkipRule, ...]
    columns: tuple[CompiledValue, ...]
    bind: CompiledValue | None
    parties: tuple[CompiledParty, ...]
    regarding: bool
    special: dict[str, int]

    def let_index(self, name: str) -> int:
        """Index of the engine ``let`` value ``name`` in an evaluated let list, or -1."""
        return self.special.get(name, -1)
