"""Small, exact helpers for OData text: literals, key segments, ``In(...)`` filters.

These are where apostrophes and plus-addressing break naive integrations, so they are pure
functions with property-based tests (tests/unit/test_odata.py).
"""

from __future__ import annotations

import json
from collections.abc import Iterable

#: Characters the service refuses in an alternate-key value inside a URL key segment
#: (https://learn.microsoft.com/power-apps/maker/data-platform/define-alternate-keys-portal).
KEY_FORBIDDEN = frozenset('/<>*%&:\\?+#')


def literal(value: str) -> str:
    """An OData string literal: single quotes around, embedded single quotes doubled."""
    return "'" + value.replace("'", "''") + "'"


def key_segment_ok(value: str) -> bool:
    """True when ``value`` may appear in a ``table(column='value')`` key segment."""
    return not any(ch in KEY_FORBIDDEN for ch in value)


def key_path(entity_set: str, column: str, value: str) -> str:
    """``contacts(emailaddress1='o''brien@x.com')``; callers check :func:`key_segment_ok` first."""
    return f"{entity_set}({column}={literal(value)})"


def in_filter(column: str, values: Iterable[str]) -> str:
    """``Microsoft.Dynamics.CRM.In`` with JSON-quoted values, so an apostrophe needs no escaping."""
    # One dump of the list (without its brackets) is the values JSON-quoted and joined by
    # commas, in one C call where a call per value cost 15 us each (a lookup has hundreds).
    body = json.dumps(list(values), ensure_ascii=False, separators=(",", ":"))[1:-1]
    return f"Microsoft.Dynamics.CRM.In(PropertyName={literal(column)},PropertyValues=[{body}])"


def query(entity_set: str, *, select: Iterable[str], filter: str, orderby: str | None = None) -> str:
    """A query path relative to the service root; the Web API writer percent-encodes it."""
    path = f"{entity_set}?$select={','.join(select)}&$filter={filter}"
    if orderby:
        path += f"&$orderby={orderby}"
    return path
