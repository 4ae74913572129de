"""References between rows in a write: ``@odata.bind`` / ``@odata.id`` URLs and ``$n`` ids.

A reference may be relative (``/contacts(id)``), absolute (the service root or any
``https://<org>/api/data/v9.x/``), by alternate key (``contacts(emailaddress1='a@b')``) or a
``$n`` Content-ID of an earlier request in the same ``$batch`` change set.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from . import errors
from .keys import parse_key
from .rows import TableRows
from .schema import Table

_CONTENT_ID = re.compile(r"^\$([A-Za-z0-9_.-]+)$")
_ABSOLUTE = re.compile(r"^https?://[^/]+/api/data/v9\.\d/(.*)$")
_RELATIVE_PREFIX = re.compile(r"^/?(api/data/v9\.\d/)?")
_SET_AND_KEY = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)\((.*)\)$")


@dataclass
class WriteContext:
    """What a write needs from its request: how to resolve ``$n`` and absolute URLs."""

    service_root: str
    content_ids: dict[str, str] = field(default_factory=dict)  # "1" -> "contacts(<guid>)"


def resolve_reference(rows: TableRows, ref: str, ctx: WriteContext, entity_set_for_errors: str) -> tuple[Table, str]:
    """Resolve a bind/``@odata.id`` URL (``/contacts(id)``, absolute, alt-key or ``$n``).

    Returns the target table and id; raises 404 when the target row does not exist.
    """
    table, key = reference_target(rows, ref, ctx, entity_set_for_errors)
    return table, find_target(rows, table, key)


def find_target(rows: TableRows, table: Table, key) -> str:
    """The id of the row ``key`` names in ``table``, else the service's 404."""
    rid = rows.find(table, key)
    if rid is None:
        if isinstance(key, str):
            raise errors.not_found(table.logical, key)
        raise errors.key_not_found(table.logical)
    return rid


def plain_reference(ref: str) -> bool:
    """Whether :func:`reference_target` reads ``ref`` from its text alone: neither a ``$n``
    Content-ID (the batch's) nor an absolute URL (compared with the service root)."""
    return "://" not in ref and not ref.strip().startswith("$")


def reference_target(rows: TableRows, ref: str, ctx: WriteContext, entity_set_for_errors: str) -> tuple[Table, str | dict]:
    """The table and parsed key (GUID or alternate-key values) a reference names, unchecked
    against the rows."""
    text = ref.strip()
    if text.startswith("$"):
        m = _CONTENT_ID.match(text)
        if not m or m.group(1) not in ctx.content_ids:
            raise errors.bad_request(f"Content-ID Reference: '{text}' does not exist in the batch context.")
        text = ctx.content_ids[m.group(1)]
    root = ctx.service_root
    if root and text.startswith(root):
        text = text[len(root):]
    elif "://" in text:
        m = _ABSOLUTE.match(text)
        if not m:
            raise errors.payload_error(entity_set_for_errors, f"The URI '{ref}' is not valid for a bind.")
        text = m.group(1)
    else:
        if text.startswith("/"):  # "^/?(api/data/v9.N/)?" without the pattern (every bind walks here)
            text = text[1:]
        if text.startswith("api/"):
            text = _RELATIVE_PREFIX.sub("", text)
    name, paren, rest = text.partition("(")
    table = rows.by_set.get(name) if paren and rest.endswith(")") and "\n" not in rest else None
    if table is not None:  # "set(key)" with a known set: what the pattern below would find
        inner = rest[:-1]
    else:
        m = _SET_AND_KEY.match(text)
        if not m:
            raise errors.payload_error(entity_set_for_errors, f"The URI '{ref}' is not valid for a bind.")
        table = rows.by_set.get(m.group(1))
        if table is None:
            raise errors.resource_not_found(m.group(1))
        inner = m.group(2)
    return table, parse_key(inner)
