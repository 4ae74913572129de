"""Decoding OData ``$batch`` responses: the general parser and the fast path beside it.

:func:`decode_general` reads anything a multipart response may be: LF or CRLF line breaks, a
preamble, transport padding after a delimiter, a boundary string inside a body, a cut-off
response, quoted boundaries, headers in any case. It is the definition of what a response means.

:func:`fast_entries` reads the layout the service (and the emulator) actually writes, with a
handful of byte operations per part instead of a Python loop per byte range: CRLF only, every
delimiter line exactly ``--boundary`` + CRLF, no preamble, the close delimiter last, change-set
heads written as ``Content-Type: multipart/mixed; boundary=<token>``. It refuses (returns None)
as soon as anything differs, and the caller falls back to :func:`decode_general`; on what it
accepts it gives exactly what :func:`decode_general` gives (tests/writers/test_batch_fast.py holds
the two side by side on every edge it takes or refuses). At W10k it is every response.

Pure functions, no I/O; :mod:`.batch` re-exports the public names.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from requests.structures import CaseInsensitiveDict


@dataclass(slots=True)
class RawPart:
    """One sub-response of a ``$batch`` response.

    ``body`` is the parsed JSON, the raw text when it is not JSON, or None when empty.
    ``content_id`` is the part's ``Content-ID`` (change-set parts); ``changeset`` is the
    0-based index of the change-set response it came from (None outside change sets).
    """

    status: int
    reason: str = ""
    headers: CaseInsensitiveDict = field(default_factory=CaseInsensitiveDict)
    body: Any = None
    content_id: str | None = None
    changeset: int | None = None


_BOUNDARY_RE = re.compile(r'boundary\s*=\s*(?:"([^"]+)"|([^;\s]+))', re.IGNORECASE)
_BLANK_LINE_RE = re.compile(rb"\r?\n\r?\n")
_STATUS_RE = re.compile(rb"^HTTP/\d(?:\.\d)?\s+(\d{3})\s*(.*)$")


def boundary_of(content_type: str | None) -> str | None:
    """The ``boundary`` parameter of a multipart Content-Type (quoted or not), or None."""
    if not content_type:
        return None
    m = _BOUNDARY_RE.search(content_type)
    return (m.group(1) or m.group(2)) if m else None


def _split_multipart(body: bytes, boundary: str) -> list[bytes]:
    """The parts between ``--boundary`` delimiter lines, LF or CRLF; stops at the close one.

    A plain byte search, not a regular expression: every change set of a response has its own
    boundary, and compiling a pattern per change set cost a third of the client's CPU at W10k.
    """
    marker = b"--" + boundary.encode("latin-1")
    n, size = len(body), len(marker)
    parts: list[bytes] = []
    start: int | None = None
    at = body.find(marker)
    while at != -1:
        # A delimiter starts a line: at the very start of the body or after LF / CRLF; the line
        # break before it belongs to the delimiter, not to the part.
        if at == 0 or body[at - 1 : at] == b"\n":
            end = at + size
            close = body.startswith(b"--", end)
            if close:
                end += 2
            tail = end
            while tail < n and body[tail] in (32, 9):  # transport padding
                tail += 1
            if tail == n or body[tail] in (10, 13):
                cut = at
                if cut and body[cut - 1 : cut] == b"\n":
                    cut -= 2 if cut >= 2 and body[cut - 2 : cut - 1] == b"\r" else 1
                if start is not None:
                    parts.append(body[start : max(cut, start)])
                if close:
                    return parts
                start = tail
                # skip the line break that ends the delimiter line
                if body.startswith(b"\r\n", start):
                    start += 2
                elif body.startswith(b"\n", start):
                    start += 1
                at = body.find(marker, start)
                continue
        at = body.find(marker, at + 1)
    if start is not None and start < n:  # unterminated: keep what we have
        parts.append(body[start:])
    return parts


def _header_store(block: bytes) -> dict[str, tuple[str, str]]:
    """Header lines as CaseInsensitiveDict stores them: lower-case name → (name, value); a later
    line with the same name wins, lines without a colon are ignored."""
    store = {}
    for line in block.decode("utf-8", "replace").split("\n"):
        name, sep, value = line.partition(":")
        if not sep:
            continue
        name = name.strip()
        store[name.lower()] = (name, value.strip())
    return store


_MIME_CACHE: dict[bytes, dict[str, tuple[str, str]]] = {}


def _mime_store(block: bytes) -> dict[str, tuple[str, str]]:
    """:func:`_header_store` of a part's MIME headers, which repeat from part to part (only the
    Content-ID differs): parsed once per distinct block. The answer is shared: never modify it."""
    store = _MIME_CACHE.get(block)
    if store is None:
        if len(_MIME_CACHE) >= 4096:
            _MIME_CACHE.clear()
        store = _MIME_CACHE[block] = _header_store(block)
    return store


def _parse_headers(block: bytes) -> CaseInsensitiveDict:
    # CaseInsensitiveDict's own __init__ and __setitem__ per header were a tenth of the client's
    # CPU at W10k: its store (lower-case name -> (name, value)) is filled in one go.
    headers: CaseInsensitiveDict = CaseInsensitiveDict.__new__(CaseInsensitiveDict)
    headers._store = _header_store(block)
    return headers


def _split_head(content: bytes) -> tuple[bytes, bytes]:
    m = _BLANK_LINE_RE.search(content)
    if m is None:  # headers only: the delimiter swallowed the last CRLF
        return content, b""
    return content[: m.start()], content[m.end() :]


def _split_head_crlf(content: bytes) -> tuple[bytes, bytes]:
    """:func:`_split_head` of a text whose every LF is part of a CRLF: the first blank line is
    the first CRLF CRLF, found without a regular expression."""
    at = content.find(b"\r\n\r\n")
    if at < 0:
        return content, b""
    return content[:at], content[at + 4 :]


def parse_body(raw: bytes) -> Any:
    """A response body: parsed JSON, the text when it is not JSON, None when empty."""
    text = raw.decode("utf-8", "replace").strip()
    if not text:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return text


def _parse_http_response(content: bytes, *, content_id: str | None, changeset: int | None,
                         crlf: bool = False) -> RawPart:
    if crlf:
        head, body = _split_head_crlf(content)
        status_line, _, header_block = head.partition(b"\r\n")
    else:
        head, body = _split_head(content)
        lines = re.split(rb"\r?\n", head, maxsplit=1)
        status_line, header_block = lines[0], lines[1] if len(lines) > 1 else b""
    m = _STATUS_RE.match(status_line.strip())
    if m is None:
        raise ValueError(f"batch part does not start with an HTTP status line: {status_line[:80]!r}")
    headers = _parse_headers(header_block)
    if content_id is None:
        content_id = headers.get("Content-ID")
    return RawPart(
        status=int(m.group(1)),
        reason=m.group(2).decode("latin-1").strip(),
        headers=headers,
        body=parse_body(body) if body else None,
        content_id=content_id,
        changeset=changeset,
    )


def decode_general(content_type_header: str | None, body: bytes) -> list[RawPart]:
    """:func:`decode_batch_response` for any layout: the definition the fast path is held to.

    :raises ValueError: the body is not a multipart batch response.
    """
    boundary = boundary_of(content_type_header)
    if boundary is None:
        first = body.lstrip().split(b"\n", 1)[0].strip()
        if not first.startswith(b"--"):
            raise ValueError("batch response has no multipart boundary")
        boundary = first[2:].decode("latin-1")
    # The service writes CRLF only; then every blank line is a CRLF CRLF, which a byte search
    # finds (two regular expressions per part were a quarter of decoding). Two counts settle it.
    crlf = body.count(b"\n") == body.count(b"\r\n")
    split_head = _split_head_crlf if crlf else _split_head
    out: list[RawPart] = []
    cs_count = 0
    for part in _split_multipart(body, boundary):
        head, rest = split_head(part)
        mime = _header_store(head)  # names its change set's own boundary: parsed, not cached
        content_type = mime.get("content-type", ("", ""))[1]
        inner_boundary = boundary_of(content_type) if content_type[:10].lower() == "multipart/" else None
        if inner_boundary:
            index = cs_count
            cs_count += 1
            for sub in _split_multipart(rest, inner_boundary):
                sub_head, sub_rest = split_head(sub)
                content_id = _mime_store(sub_head).get("content-id")
                out.append(_parse_http_response(sub_rest, content_id=content_id[1] if content_id else None,
                                                changeset=index, crlf=crlf))
        else:
            content_id = mime.get("content-id")
            out.append(_parse_http_response(rest, content_id=content_id[1] if content_id else None,
                                            changeset=None, crlf=crlf))
    return out




# --------------------------------------------------------------------------------------------
# The fast path
# --------------------------------------------------------------------------------------------

#: One sub-response as :func:`fast_entries` gives it: status, reason, the header store
#: (lower-case name -> (name, value), as :class:`CaseInsensitiveDict` keeps it), the parsed body
#: and the Content-ID.
FastPart = tuple[int, str, dict[str, tuple[str, str]], Any, str | None]

_CHANGESET_HEAD = b"Content-Type: multipart/mixed; boundary="
# Bytes a bare boundary token never holds (boundary_of would read them differently: quotes,
# parameters, whitespace as str patterns see it, \x1c-\x1f included); such a head is left to
# the general parser.
_NOT_IN_TOKEN = re.compile(rb'["; \t\r\n\x0b\x0c\x1c-\x1f]')


def _fast_split(body: bytes, marker: bytes) -> list[bytes] | None:
    """The parts of ``body`` when every ``marker`` in it is a delimiter line of the exact form
    ``--boundary`` CRLF (or the close ``--boundary--`` last), else None.

    ``body.split(marker)`` finds every occurrence; each piece between two must start with the
    delimiter's CRLF and end with the CRLF that belongs to the next delimiter. An occurrence inside
    a body (not at a line start, or followed by anything but CRLF) breaks that rule and the
    general parser takes over, as it does for a preamble, padding or a missing close delimiter.
    """
    pieces = body.split(marker)
    last = pieces[-1]
    if len(pieces) < 3 or pieces[0] or not (last == b"--" or last.startswith(b"--\r\n")):
        return None
    out = []
    for piece in pieces[1:-1]:
        if len(piece) < 4 or not piece.startswith(b"\r\n") or not piece.endswith(b"\r\n"):
            return None
        out.append(piece[2:-2])
    return out


def _fast_response(content: bytes, content_id: str | None) -> FastPart | None:
    """:func:`_parse_http_response` (CRLF) of one part, without the RawPart around it."""
    at = content.find(b"\r\n\r\n")
    if at < 0:
        head, body = content, b""
    else:
        head, body = content[:at], content[at + 4 :]
    status_line, _, header_block = head.partition(b"\r\n")
    # "HTTP/1.1 204 No Content" read by slicing; what _STATUS_RE reads, it reads the same way
    # (no line break can be in the line, the reason is stripped either way).
    code = status_line[9:12]
    if status_line.startswith(b"HTTP/1.1 ") and code.isdigit() and status_line[12:13] in (b" ", b""):
        status, reason = int(code), status_line[13:].decode("latin-1").strip()
    else:
        m = _STATUS_RE.match(status_line.strip())
        if m is None:
            return None  # the general parser raises the error that names it
        status, reason = int(m.group(1)), m.group(2).decode("latin-1").strip()
    store = _header_store(header_block)
    if content_id is None:
        cid = store.get("content-id")
        content_id = cid[1] if cid else None
    return status, reason, store, parse_body(body) if body else None, content_id


def fast_entries(content_type_header: str | None, body: bytes) -> list[FastPart | list[FastPart]] | None:
    """The sub-responses of a ``$batch`` response in the service's own layout (module docstring):
    one entry per top-level part, a change-set response as the list of its parts; None when the
    response is laid out any other way (then :func:`decode_general` reads it)."""
    boundary = boundary_of(content_type_header)
    if boundary is None or not boundary.isascii() or body.count(b"\n") != body.count(b"\r\n"):
        return None
    parts = _fast_split(body, b"--" + boundary.encode("latin-1"))
    if parts is None:
        return None
    entries: list[FastPart | list[FastPart]] = []
    for part in parts:
        at = part.find(b"\r\n\r\n")
        if at < 0:
            return None
        head, rest = part[:at], part[at + 4 :]
        if head.startswith(_CHANGESET_HEAD):
            inner = head[len(_CHANGESET_HEAD) :]
            if not inner or not inner.isascii() or _NOT_IN_TOKEN.search(inner):
                return None
            subs = _fast_split(rest, b"--" + inner)
            if not subs:  # an empty change-set response yields no part at all: general
                return None
            members = []
            for sub in subs:
                sub_at = sub.find(b"\r\n\r\n")
                if sub_at < 0:
                    return None
                cid = _mime_store(sub[:sub_at]).get("content-id")
                answer = _fast_response(sub[sub_at + 4 :], cid[1] if cid else None)
                if answer is None:
                    return None
                members.append(answer)
            entries.append(members)
            continue
        mime = _mime_store(head)
        if mime.get("content-type", ("", ""))[1][:10].lower() == "multipart/":
            return None  # a change set written some other way
        cid = mime.get("content-id")
        answer = _fast_response(rest, cid[1] if cid else None)
        if answer is None:
            return None
        entries.append(answer)
    return entries


def raw_part(answer: FastPart, changeset: int | None) -> RawPart:
    """A :class:`RawPart` of a :data:`FastPart`."""
    status, reason, store, body, content_id = answer
    headers: CaseInsensitiveDict = CaseInsensitiveDict.__new__(CaseInsensitiveDict)
    headers._store = store  # fresh per part (only MIME stores are shared, and never kept here)
    return RawPart(status=status, reason=reason, headers=headers, body=body, content_id=content_id, changeset=changeset)


def decode_batch_response(content_type_header: str | None, body: bytes) -> list[RawPart]:
    """Split a ``$batch`` response into its sub-responses, change-set members flattened in order.

    The boundary comes from ``content_type_header``; when it is missing (Microsoft's printed
    examples omit it) it is read from the first ``--`` line of the body. Nested
    ``changesetresponse`` parts are unpacked with ``changeset`` set to their index; a failed
    change set answered with only its failing part simply yields that one part. Bare-LF bodies
    are read as well as CRLF ones. The service's own layout is read by :func:`fast_entries`,
    anything else by :func:`decode_general`; both give the same parts.

    :raises ValueError: the body is not a multipart batch response.
    """
    entries = fast_entries(content_type_header, body)
    if entries is None:
        return decode_general(content_type_header, body)
    return flatten_entries(entries)


def flatten_entries(entries: list) -> list[RawPart]:
    """The parts of :func:`fast_entries`' answer as the general parser gives them: a change
    set's members numbered by the change set they answer, lone parts with None."""
    out: list[RawPart] = []
    index = 0
    for entry in entries:
        if isinstance(entry, list):
            out.extend(raw_part(p, index) for p in entry)
            index += 1
        else:
            out.append(raw_part(entry, None))
    return out
