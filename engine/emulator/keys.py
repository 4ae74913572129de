"""OData key segments and their literals: ``(guid)`` or ``(name='value',name2=1)``.

Strict where the service is: parameter aliases, malformed literals and the characters the
service's request filtering refuses in a key value all raise the service's 400 messages. The
single-quoted literal reader is shared with the ``$filter`` parser (:mod:`.filters`).
"""

from __future__ import annotations

import re
from typing import Any

from . import errors
from .values import GUID_RE, is_guid

__all__ = ["GUID_RE", "FORBIDDEN_KEY_CHARS", "IDENT", "parse_key", "read_string"]

IDENT = re.compile(r"[A-Za-z_@$][A-Za-z0-9_.]*")

# Characters a key value in a URL segment cannot contain (IIS/ASP.NET request filtering).
FORBIDDEN_KEY_CHARS = set("/<>*%&:\\?+")


def parse_key(text: str) -> str | dict[str, Any]:
    """Parse the inside of ``set(...)``: a bare GUID or ``name='value'`` pairs (quotes undoubled).

    Raises 400 for parameter aliases, malformed literals and characters the service's request
    filtering refuses in a key value (``/ < > * % & : \\ ? +``).
    """
    text = text.strip()
    if is_guid(text):
        return text.lower()
    pairs: dict[str, Any] = {}
    pos = 0
    n = len(text)
    while pos < n:
        m = IDENT.match(text, pos)
        if not m or "=" not in text[m.end():m.end() + 1]:
            raise errors.bad_request("Bad Request - Error in query syntax.")
        name = m.group(0)
        pos = m.end() + 1
        if pos < n and text[pos] == "@":
            raise errors.bad_request(
                f"Parameter alias '{text[pos:].split(',')[0]}' is not supported in a key segment."
            )
        if pos < n and text[pos] == "'":
            value, pos = read_string(text, pos)
            bad = sorted({ch for ch in value if ch in FORBIDDEN_KEY_CHARS})
            if bad:
                raise errors.bad_request(
                    f"A potentially dangerous Request.Path value was detected from the client ({bad[0]})."
                )
        else:
            m2 = re.compile(r"[^,]+").match(text, pos)
            raw = m2.group(0).strip() if m2 else ""
            pos = m2.end() if m2 else pos
            value = _parse_bare_literal(raw, text)
        pairs[name] = value
        if pos < n:
            if text[pos] != ",":
                raise errors.bad_request(f"Syntax error at position {pos} in '{text}'.")
            pos += 1
    if not pairs:
        raise errors.bad_request("Bad Request - Error in query syntax.")
    return pairs


def read_string(text: str, pos: int) -> tuple[str, int]:
    """Read an OData single-quoted literal at ``pos`` (``''`` is an escaped quote)."""
    assert text[pos] == "'"
    out = []
    i = pos + 1
    n = len(text)
    while True:
        j = text.find("'", i)
        if j < 0:
            break
        out.append(text[i:j])
        if j + 1 < n and text[j + 1] == "'":
            out.append("'")
            i = j + 2
            continue
        return "".join(out), j + 1
    raise errors.bad_request(f"There is an unterminated literal at position {n} in '{text}'.")


def _parse_bare_literal(raw: str, text: str) -> Any:
    if raw in ("true", "false"):
        return raw == "true"
    if raw == "null":
        return None
    if is_guid(raw):
        return raw.lower()
    if re.fullmatch(r"-?\d+", raw):
        return int(raw)
    if re.fullmatch(r"-?\d+\.\d+[mMdD]?", raw):
        return float(raw.rstrip("mMdD"))
    raise errors.bad_request(f"Syntax error at position 0 in '{text}'.")
