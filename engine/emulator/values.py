"""Wire-form values the whole emulator shares: GUID recognition and UTC datetimes.

Both the query parser (key segments, ``$filter`` literals) and the store (payload validation,
row stamps) need these, so they live below both; nothing here imports another emulator module.
"""

from __future__ import annotations

import re
from datetime import datetime, timezone

GUID_RE = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")

_ISO_RE = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,7}))?)?(Z|[+-]\d{2}:\d{2})?)?$"
)


def is_guid(value: str) -> bool:
    """Whether ``value`` is a GUID in its canonical 8-4-4-4-12 hex form (any case)."""
    return bool(GUID_RE.match(value))


def normalize_datetime(value: str) -> str:
    """Parse an ISO 8601 date/datetime and return it in UTC as ``YYYY-MM-DDTHH:MM:SSZ``."""
    m = _ISO_RE.match(value)
    if not m:
        raise ValueError(value)
    text = value.replace(" ", "T")
    if m.group(4) is None:
        text += "T00:00:00Z"
    elif m.group(8) is None:
        text += "Z"
    frac = m.group(7)
    if frac and len(frac) > 6:
        text = text.replace("." + frac, "." + frac[:6])
    dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return dt.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def now_utc() -> str:
    """Current time in the service's wire form."""
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
