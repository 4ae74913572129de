"""The HTTP surface the Web API handlers share: request/response shapes and how bodies,
headers and resource paths are read and written on the wire.
"""

from __future__ import annotations

import json
import re
import urllib.parse
import uuid
from dataclasses import dataclass, field
from typing import Any

from . import errors
from .schema import Table

JSON_CT = "application/json; odata.metadata=minimal"
JSON_STREAM_CT = "application/json; odata.metadata=minimal; odata.streaming=true"
MAX_URL = 32768

@dataclass(slots=True)
class Request:
    """An HTTP request as the service sees it (header names lower-case)."""

    method: str
    target: str
    headers: dict[str, str]
    body: bytes = b""


@dataclass(slots=True)
class Response:
    """An HTTP response: status, ordered headers, body."""

    status: int
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""
    reason: str | None = None

    def header(self, name: str) -> str | None:
        """First header called ``name`` (case-insensitive)."""
        for k, v in self.headers:
            if k.lower() == name.lower():
                return v
        return None


def error_response(err: errors.ODataError, in_batch: bool = False) -> Response:
    """The JSON error response; batch parts also carry ``REQ_ID`` like the documented examples."""
    headers = []
    if in_batch:
        headers.append(("REQ_ID", str(uuid.uuid4())))
    headers += [("Content-Type", JSON_CT), ("OData-Version", "4.0")]
    headers += list(err.headers.items())
    return Response(err.status, headers, err.body())


def json_response(status: int, payload: Any, extra: list[tuple[str, str]] | None = None, streaming: bool = True) -> Response:
    """A JSON response with the service's content type (``odata.streaming=true`` unless told)."""
    body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    headers = [("Content-Type", JSON_STREAM_CT if streaming else JSON_CT), ("OData-Version", "4.0")]
    return Response(status, headers + list(extra or []), body)


class _DuplicateProperty(Exception):
    def __init__(self, name: str):
        super().__init__(name)
        self.name = name


def _unique_properties(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """``json.loads`` hook: the OData reader refuses a property named twice, where ``json``
    would silently keep the last value and hide a client bug that the service reports."""
    out = dict(pairs)
    if len(out) != len(pairs):  # a name came twice: report the first repeated one
        seen: set[str] = set()
        for name, _value in pairs:
            if name in seen:
                raise _DuplicateProperty(name)
            seen.add(name)
    return out


# One decoder for every body (json.loads would build one per call).
_BODY_DECODER = json.JSONDecoder(object_pairs_hook=_unique_properties)


def _decode(text: str) -> Any:
    """``_BODY_DECODER.decode(text)``; a body with no whitespace around it (what clients send)
    skips decode's two whitespace scans, and anything else takes decode itself."""
    if text[0] not in " \t\n\r":
        obj, end = _BODY_DECODER.raw_decode(text)
        if end == len(text):
            return obj
    return _BODY_DECODER.decode(text)


def parse_prefer(value: str | None) -> dict[str, str]:
    """``Prefer`` header → {preference: value} (``return=representation`` → {'return': 'representation'})."""
    out: dict[str, str] = {}
    if not value:
        return out
    # Split on commas outside double quotes: odata.include-annotations="a,b" is one preference.
    for item in re.findall(r'(?:[^,"]|"[^"]*")+', value or ""):
        item = item.strip()
        if not item:
            continue
        name, _, val = item.partition("=")
        out[name.strip().lower()] = val.strip().strip('"')
    return out


def split_segments(path: str) -> list[str]:
    """Split a decoded resource path on ``/`` outside quotes and parentheses."""
    if "/" not in path:
        return [path]
    if "'" not in path and "(" not in path and ")" not in path:
        return path.split("/")  # nothing can hide a '/' (every part URL of a $batch walks here)
    segs, cur, depth, quote = [], [], 0, False
    i = 0
    while i < len(path):
        ch = path[i]
        if quote:
            cur.append(ch)
            if ch == "'":
                if i + 1 < len(path) and path[i + 1] == "'":
                    cur.append("'")
                    i += 1
                else:
                    quote = False
        elif ch == "'":
            quote = True
            cur.append(ch)
        elif ch == "(":
            depth += 1
            cur.append(ch)
        elif ch == ")":
            depth -= 1
            cur.append(ch)
        elif ch == "/" and depth == 0:
            segs.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
        i += 1
    segs.append("".join(cur))
    return segs


def split_name_key(seg: str) -> tuple[str, str | None]:
    """``contacts(<key>)`` -> ``("contacts", "<key>")``; a segment without a key -> ``(seg, None)``."""
    if "(" in seg and seg.endswith(")"):
        name, _, rest = seg.partition("(")
        return name, rest[:-1]
    return seg, None


def read_body(req: Request, table: Table) -> Any:
    ct = req.headers.get("content-type")
    if not ct or "application/json" not in ct.lower():
        raise errors.ODataError(415, "", f"The request entity's media type '{ct or ''}' is not supported "
                                         "for this resource.")
    try:
        text = req.body.decode("utf-8") or "null"
        if text.startswith("\ufeff"):  # what json.loads says of a BOM
            raise json.JSONDecodeError("Unexpected UTF-8 BOM (decode using utf-8-sig)", text, 0)
        return _decode(text)
    except _DuplicateProperty as dup:
        raise errors.payload_error(
            table.entity_set, f"Multiple properties with the name '{dup.name}' were detected in an entry or a "
                              "complex value. In OData, duplicate property names are not allowed.")
    except (UnicodeDecodeError, ValueError) as exc:
        raise errors.payload_error(table.entity_set, f"Invalid JSON. {exc}")


def created_headers(url: str, in_batch: bool) -> list[tuple[str, str]]:
    """Headers of a 204 create/upsert: ``OData-EntityId`` (and ``Location`` inside a batch)."""
    # A key echoed from the URL may hold any character; header values are ASCII on the wire
    # (http.server refuses anything outside latin-1 and drops the connection), so
    # percent-encode what is not printable ASCII, as the URL itself was sent.
    if not (url.isascii() and url.isprintable()) or " " in url:
        url = "".join(c if " " < c < "\x7f" else urllib.parse.quote(c, safe="") for c in url)
    headers = [("OData-Version", "4.0")]
    if in_batch:
        headers.append(("Location", url))
    headers.append(("OData-EntityId", url))
    return headers
