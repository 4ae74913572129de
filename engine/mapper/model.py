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
