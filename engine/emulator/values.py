"""Wire-form values the whole emulator shares: GUID recognition and UTC datetimes.

Both the query parser (key segments, ``$filter`` literals) and the store (payload validation,
row stamps) need these, so they live below both; nothing here imports another emulator module.
"""

from __future__ import annotations

import os
import random
import re
import time
from datetime import datetime, timezone

DATE_RE = re.compile(r"^\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])$")
GUID_RE = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")

_ISO_RE = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,7}))?)?(Z|[+-]\d{2}:\d{2})?)?$"
)


_GUID_BODY = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


def is_guid(value: str) -> bool:
    """Whether ``value`` is a GUID in its canonical 8-4-4-4-12 hex form (any case).

    Exactly what ``GUID_RE.match`` accepts (a trailing newline included, as ``$`` allows),
    tried the faster unanchored way first: every key, bind and id column walks here.
    """
    return _GUID_BODY.fullmatch(value) is not None or GUID_RE.match(value) is not None


def utf16_length(text: str) -> int:
    """Length in UTF-16 code units, as the service counts MaxLength (an emoji is 2)."""
    return len(text) + sum(1 for ch in text if ord(ch) > 0xFFFF)


_RECENT: dict[tuple[str, bool], str] = {}


def normalize_datetime(value: str, require_zone: bool = False) -> str:
    """Parse an ISO 8601 date/datetime and return it in UTC as ``YYYY-MM-DDTHH:MM:SSZ``.

    A pure function of its input: recent answers are remembered (an email carries one date in
    up to four columns), refusals are not.
    """
    key = (value, require_zone)
    found = _RECENT.get(key)
    if found is None:
        found = _normalize_datetime(value, require_zone)
        if len(_RECENT) >= 1024:
            _RECENT.clear()
        _RECENT[key] = found
    return found


def _normalize_datetime(value: str, require_zone: bool) -> str:
    """:func:`normalize_datetime` itself.

    With ``require_zone`` a date and time without ``Z`` or an offset is refused, as the OData
    reader refuses it for ``Edm.DateTimeOffset`` (a bare date passes its check and means
    midnight UTC here). Query literals keep the lenient form.
    """
    m = _ISO_RE.match(value)
    if not m:
        raise ValueError(value)
    if len(value) == 20 and value[10] == "T" and value[19] == "Z" and value[0] != "0":
        # Already the stored form (what clients send): only the calendar needs checking.
        datetime.fromisoformat(value[:19])
        return value
    text = value.replace(" ", "T")
    if m.group(4) is None:
        text += "T00:00:00Z"
    elif m.group(8) is None:
        if require_zone:
            raise ValueError(value)
        text += "Z"
    frac = m.group(7)
    if frac and len(frac) > 6:
        text = text.replace("." + frac, "." + frac[:6])
    dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return dt.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


_NOW: tuple[int, str] = (-1, "")


def now_utc() -> str:
    """Current time in the service's wire form (whole seconds: formatted once per second)."""
    global _NOW
    second = int(time.time())
    cached = _NOW
    if cached[0] == second:
        return cached[1]
    text = datetime.fromtimestamp(second, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    _NOW = (second, text)
    return text


def uuid4_text(bits: int | None = None) -> str:
    """``str(uuid.UUID(int=bits, version=4))`` without building the object (one per row written
    and per ``$batch`` boundary); without ``bits``, 128 random bits. Those name the response's
    boundaries (one per change set, 10,000 at W10k), which need to be unique, not secret: drawn
    from a generator seeded once, not a system call each (``os.urandom`` holds the GIL through
    it: 4 % of the emulator's time at W10k)."""
    if bits is None:
        bits = _BOUNDARY_BITS(128)
    h = (bits & _UUID_CLEAR | _UUID_SET).to_bytes(16, "big").hex()
    return "-".join((h[:8], h[8:12], h[12:16], h[16:20], h[20:]))


_BOUNDARY_BITS = random.Random(os.urandom(16)).getrandbits

# The RFC 4122 variant and version 4 bits, as uuid.UUID(version=4) sets them.
_UUID_CLEAR = ~((0xc000 << 48) | (0xf000 << 64))
_UUID_SET = (0x8000 << 48) | (4 << 76)
