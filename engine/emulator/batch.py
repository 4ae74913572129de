"""``$batch``: strict multipart/mixed parsing, change-set execution and response rendering.

Parsing follows OData v4 §11.7 as Dataverse applies it: CRLF line endings are required (a body
with bare LF is "Stream was not readable."), parts are ``application/http`` requests or
``multipart/mixed`` change sets, change sets do not nest and hold no GET, and a batch carries at
most 1,000 operations. The checks of the OData reader Dataverse reads batches with
(Microsoft.OData.Core's ``ODataMultipartMixedBatchReaderStream``) apply too, with its messages:
each operation part has ``Content-Transfer-Encoding: binary``, each request in a change set a
``Content-ID``, the request line is ``HTTP/1.1``, and no header appears twice in one part. The
whole body is read before anything runs, so a framing error runs nothing. Responses reproduce the layout of Microsoft's documented examples:
``batchresponse_<guid>`` / ``changesetresponse_<guid>`` boundaries, ``Content-ID`` echoed on
change-set parts, 204 parts with ``Location`` and ``OData-EntityId``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from http import HTTPStatus
from types import MappingProxyType
from typing import Callable, Mapping

from . import errors
from .values import uuid4_text

MAX_OPERATIONS = 1000
MAX_PART_URL = 65536
CRLF = b"\r\n"
_HEAD_END = CRLF + CRLF

_BOUNDARY_RE = re.compile(r'boundary\s*=\s*"?([^";,\s]+)"?', re.IGNORECASE)


@dataclass(slots=True)
class Operation:
    """One HTTP request inside a batch."""

    method: str
    url: str
    headers: Mapping[str, str]  # read-only (shared with the parser's memory of header blocks)
    body: bytes
    content_id: str | None = None


@dataclass
class ChangeSet:
    """Operations that succeed or fail together."""

    operations: list[Operation] = field(default_factory=list)


@dataclass(slots=True)
class PartResponse:
    """What one operation answered, ready to render."""

    status: int
    headers: list[tuple[str, str]]
    body: bytes
    content_id: str | None = None


def boundary_of(content_type: str | None) -> str:
    """The multipart boundary of a ``multipart/mixed`` Content-Type, else a 400."""
    ct = content_type or ""
    if not ct.lower().split(";")[0].strip() == "multipart/mixed":
        raise errors.bad_request(
            f"The content type '{ct}' specified in the batch request is not valid. A batch request must use "
            "the content type 'multipart/mixed' with a boundary parameter.")
    m = _BOUNDARY_RE.search(ct)
    if not m:
        raise errors.bad_request("The batch request must have a 'Content-Type' header with a boundary parameter.")
    return m.group(1)


def _split(body: bytes, boundary: str) -> list[bytes]:
    """Split multipart content on CRLF-delimited boundaries; anything else is unreadable.

    After the first delimiter the content is cut at every ``CRLF--boundary`` at C speed. Each
    piece but the last is a part, after optional transport padding and the CRLF that ends its
    delimiter line; a piece starting with ``--`` is the close delimiter, after which everything
    (the epilogue) is ignored. While every piece has its CRLF the cuts are the ones
    :func:`_split_walk` finds; a piece without (a delimiter line right after another, or
    broken framing) is left to the walk, which decides.
    """
    delim = b"--" + boundary.encode("latin-1")
    pos = _first_delimiter(body, delim)
    pieces = body[pos:].split(CRLF + delim)
    parts = []
    last = len(pieces) - 1
    for i, piece in enumerate(pieces):
        if piece.startswith(b"--"):
            return parts  # close delimiter; the epilogue is ignored
        if piece.startswith(CRLF):
            start = 2
        else:  # transport padding (spaces/tabs) may follow a delimiter, then CRLF
            start = len(piece) - len(piece.lstrip(b" \t"))
            if not piece.startswith(CRLF, start):
                return _split_walk(body, delim, pos)
            start += 2
        if i == last:
            raise errors.stream_not_readable()  # no delimiter after this part
        parts.append(piece[start:])
    return parts  # not reached: the last piece either closes or raises


def _first_delimiter(body: bytes, delim: bytes) -> int:
    """Where the first delimiter line ends: at the start of the body or after a CRLF."""
    if body.startswith(delim):
        return len(delim)
    idx = body.find(CRLF + delim)
    if idx < 0:
        raise errors.stream_not_readable()
    return idx + 2 + len(delim)


def _split_walk(body: bytes, delim: bytes, pos: int) -> list[bytes]:
    """:func:`_split` from the first delimiter on, one part at a time: after each delimiter
    the next is searched from past its line's CRLF."""
    parts = []
    sep, step = CRLF + delim, 2 + len(delim)
    while True:
        if body.startswith(b"--", pos):
            return parts  # close delimiter; the epilogue is ignored
        while body[pos:pos + 1] in (b" ", b"\t"):
            pos += 1
        if not body.startswith(CRLF, pos):
            raise errors.stream_not_readable()
        pos += 2
        nxt = body.find(sep, pos)
        if nxt < 0:
            raise errors.stream_not_readable()
        parts.append(body[pos:nxt])
        pos = nxt + step


_BLOCKS: dict[bytes, Mapping[str, str]] = {}  # header blocks seen lately -> their headers (read-only)
_REMEMBERED = 4096


def _headers(block: bytes) -> dict[str, str]:
    """Parse CRLF header lines; a bare LF means the client did not send CRLF.

    A name repeated in one block (compared case-insensitively) is refused, as the OData reader
    does, rather than one value silently winning. The caller gets its own copy.
    """
    return dict(_shared_headers(block))


def _shared_headers(block: bytes) -> Mapping[str, str]:
    """:func:`_headers` without the copy: a read-only view the parser keeps in its operations.

    Blocks repeat (every request part of a batch usually carries the same ``Content-Type``, and
    ``Content-ID: n`` comes back in every batch): a block read lately is answered from memory.
    A change set's own block names a boundary used once, so it is read but not remembered.
    """
    if not block:
        return _NO_HEADERS
    found = _BLOCKS.get(block)
    if found is None:
        found = MappingProxyType(_read_headers(block))  # a refused block raises and is not remembered
        if b"boundary" not in block:
            if len(_BLOCKS) >= _REMEMBERED:
                _BLOCKS.clear()
            _BLOCKS[block] = found
    return found


_NO_HEADERS: Mapping[str, str] = MappingProxyType({})


class _NotUtf8(Exception):
    """A part's header or request line that is not UTF-8; :func:`parse` says which part."""

    def __init__(self, what: str):
        super().__init__(what)
        self.what = what


def _utf8(line: bytes, what: Callable[[str], str]) -> str:
    """``line`` decoded, or :class:`_NotUtf8` saying ``what(line as far as it reads)``."""
    try:
        return line.decode("utf-8")
    except UnicodeDecodeError:
        raise _NotUtf8(what(line.decode("utf-8", "backslashreplace"))) from None


def _header_named(line: str) -> str:
    # The name only: a header's value may be a credential, and errors reach clients' logs.
    return f"The header '{line.partition(':')[0].strip()}'"


def _read_headers(block: bytes) -> dict[str, str]:
    if block.startswith(b"Content-Type:") and block.isascii() and b"\r" not in block and b"\n" not in block:
        # One Content-Type line (a change set's own block, its boundary used once): what the
        # loop below reads from it, without the loop.
        return {"content-type": block[13:].decode("ascii").strip()}
    out: dict[str, str] = {}
    try:
        # CRLF never sits inside a UTF-8 sequence: decoding first splits the same lines.
        lines = block.decode("utf-8").split("\r\n")
    except UnicodeDecodeError:
        lines = None  # line by line, so an earlier line's error is the one reported
    for line in lines if lines is not None else block.split(CRLF):
        if lines is None:
            if b"\n" in line or b"\r" in line:
                raise errors.stream_not_readable()
            line = _utf8(line, _header_named)
        elif "\n" in line or "\r" in line:
            raise errors.stream_not_readable()
        if not line:
            continue
        name, sep, value = line.partition(":")
        if not sep:
            raise errors.stream_not_readable()
        key = name.strip().lower()
        if key in out:
            raise errors.batch_reader(f"The header '{name.strip()}' was specified multiple times. Each header must "
                                      "appear only once in a batch part.")
        out[key] = value.strip()
    return out


def _split_head(part: bytes) -> tuple[bytes, bytes]:
    if part.startswith(CRLF):
        return b"", part[2:]
    idx = part.find(_HEAD_END)
    if idx < 0:
        if b"\n\n" in part:
            raise errors.stream_not_readable()
        return part, b""  # headers only, no body (e.g. a GET at the end of its part)
    return part[:idx], part[idx + 4:]


def _check_part(headers: Mapping[str, str]) -> None:
    """An operation part's own headers: ``application/http``, ``binary`` (the reader's errors)."""
    ct = headers.get("content-type", "").split(";")[0].strip().lower()
    if ct != "application/http":
        raise errors.bad_request(
            f"The content type '{headers.get('content-type', '')}' of a batch part is not valid; "
            "it must be 'application/http'.")
    if headers.get("content-transfer-encoding", "").lower() != "binary":
        raise errors.batch_reader("A missing or invalid 'Content-Transfer-Encoding' header was found. The "
                                  "'Content-Transfer-Encoding' header must be specified for each batch operation, "
                                  "and its value must be 'binary'.")


# Header blocks of change-set parts that passed the checks before their request (_check_part,
# and not a nested change set) -> their headers: a repeated block is not checked again.
_GOOD_PARTS: dict[bytes, Mapping[str, str]] = {}


# A change-set part's head (its own header block, request line and request headers, up to
# the blank line before the body) that read without error -> (method, url, request headers,
# Content-ID). Every part of a batch of creates repeats one of a few heads (Content-IDs
# restart at 1 in every batch), and what the reading makes of a head is a function of its
# bytes alone, so a head read before is answered in one lookup. Refused heads are never kept.
_HEADS: dict[bytes, tuple[str, str, Mapping[str, str], str | None]] = {}


def _changeset_part(inner: bytes) -> Operation:
    """One part of a change set, read strictly (a head read before: from :data:`_HEADS`)."""
    end = -1
    if not inner.startswith(CRLF):  # else its header block is empty: the general reading
        first = inner.find(_HEAD_END)
        if first >= 0:
            end = inner.find(_HEAD_END, first + 4)
            if end >= 0:
                found = _HEADS.get(inner[:end])
                if found is not None:
                    method, url, headers, content_id = found
                    return Operation(method, url, headers, inner[end + 4:], content_id)
    op = _read_changeset_part(inner)
    if end >= 0 and op.body == inner[end + 4:]:
        # The head ends where the reading found the body: its answer is the head's own.
        if len(_HEADS) >= _REMEMBERED:
            _HEADS.clear()
        _HEADS[inner[:end]] = (op.method, op.url, op.headers, op.content_id)
    return op


def _read_changeset_part(inner: bytes) -> Operation:
    """:func:`_changeset_part` step by step: the part's headers, checked, then its request."""
    ihead, icontent = _split_head(inner)
    iheaders = _GOOD_PARTS.get(ihead)
    if iheaders is not None:
        return _request(icontent, iheaders, True)
    iheaders = _shared_headers(ihead)
    if iheaders.get("content-type", "").lower().startswith("multipart/mixed"):
        raise errors.bad_request("Nested change sets in a batch payload are not supported.")
    _check_part(iheaders)
    if ihead in _BLOCKS:  # remembered blocks only (not a change set's own)
        if len(_GOOD_PARTS) >= _REMEMBERED:
            _GOOD_PARTS.clear()
        _GOOD_PARTS[ihead] = iheaders
    return _request(icontent, iheaders, True)


def _operation(part: bytes, headers: Mapping[str, str], in_changeset: bool = False) -> Operation:
    _check_part(headers)
    return _request(part, headers, in_changeset)


def _request(part: bytes, headers: Mapping[str, str], in_changeset: bool) -> Operation:
    """The request a checked operation part carries."""
    request_line, _, rest = part.partition(CRLF)
    line = _LINES.get(request_line)
    if line is None:
        line = _request_line(request_line)
    method, url = line
    if in_changeset and method == "GET":  # the reader checks the request line before the headers
        raise errors.bad_request(
            "Invalid HTTP method 'GET' detected for a request in a change set. Requests in change sets "
            "only support the HTTP methods 'POST', 'PUT', 'DELETE', and 'PATCH'.")
    head, body = _split_head(rest) if rest else (b"", b"")
    inner = _shared_headers(head)
    content_id = headers.get("content-id") or (inner.get("content-id") if in_changeset else None)
    if in_changeset and content_id is None:
        raise errors.batch_reader("The header with name 'Content-ID' was not present in the header collection of "
                                  "the batch operation.")
    return Operation(method, url, inner, body, content_id)


_LINES: dict[bytes, tuple[str, str]] = {}  # request lines read lately -> (METHOD, url)


def _request_line(request_line: bytes) -> tuple[str, str]:
    """``(METHOD, url)`` of a part's request line, or the reader's error; lines that pass are
    remembered (``POST /api/data/v9.2/emails HTTP/1.1`` and ``PATCH $1 HTTP/1.1`` repeat)."""
    if b"\n" in request_line:
        raise errors.stream_not_readable()
    pieces = _utf8(request_line, lambda line: f"The request line '{line}'").split(" ")
    if len(pieces) != 3 or not pieces[2].startswith("HTTP/"):
        raise errors.bad_request(f"The HTTP request line '{request_line.decode('utf-8', 'replace')}' in a batch "
                                 "part is not valid.")
    method, url, version = pieces
    if version != "HTTP/1.1":
        raise errors.batch_reader(f"The HTTP version '{version}' used in a batch operation request or response is "
                                  "not valid. The value must be 'HTTP/1.1'.")
    found = (method.upper(), url)
    if len(_LINES) >= _REMEMBERED:
        _LINES.clear()
    _LINES[request_line] = found
    return found


def parse(body: bytes, content_type: str | None) -> list[Operation | ChangeSet]:
    """Parse a ``$batch`` request body into operations and change sets (strictly)."""
    boundary = boundary_of(content_type)
    items: list[Operation | ChangeSet] = []
    count = 0
    for number, part in enumerate(_split(body, boundary), 1):
        try:
            head, content = _split_head(part)
            headers = _shared_headers(head)
            ctype = headers.get("content-type", "")
            if ctype.lower().startswith("multipart/mixed"):
                cs = ChangeSet()
                cs.operations = _changeset_operations(content, boundary_of(ctype), number)
                count += len(cs.operations)
                items.append(cs)
            else:
                items.append(_operation(content, headers))
                count += 1
        except _NotUtf8 as bad:
            raise _not_utf8(bad, f"batch part {number}") from None
        if count > MAX_OPERATIONS:
            raise errors.bad_request(
                f"The number of requests in the batch exceeds the maximum of {MAX_OPERATIONS}. Split the requests "
                "into several batches.", code="0x8004d24a")
    seen: set[str] = set()
    for item in items:
        for op in item.operations if isinstance(item, ChangeSet) else [item]:
            if op.content_id is not None:
                if op.content_id in seen:
                    raise errors.bad_request(
                        f"The content ID '{op.content_id}' was found more than once in the same change set or "
                        "same batch request. Content IDs have to be unique across all operations of a change "
                        "set for OData V4.0 and have to be unique across all operations in the whole batch "
                        "request for OData V4.01.")
                seen.add(op.content_id)
    return items


def _changeset_operations(content: bytes, boundary: str, number: int) -> list[Operation]:
    """The operations of the change set that is batch part ``number``."""
    operations = []
    for inner_number, inner in enumerate(_split(content, boundary), 1):
        try:
            operations.append(_changeset_part(inner))
        except _NotUtf8 as bad:
            raise _not_utf8(bad, f"part {inner_number} of the change set in batch part {number}") from None
    return operations


def _not_utf8(bad: _NotUtf8, where: str) -> errors.ODataError:
    # The OData reader's documented errors say nothing of encodings; this one is the emulator's
    # own (docs/emulator.md), with the reader's code, and says where the stray byte is.
    return errors.batch_reader(f"{bad.what} of {where} is not valid UTF-8.")


# --------------------------------------------------------------------------------------------
# execution
# --------------------------------------------------------------------------------------------

Dispatch = Callable[[Operation], PartResponse]


@dataclass
class BatchOutcome:
    """The rendered response: outer status and the multipart body with its boundary."""

    status: int
    boundary: str
    body: bytes


def execute(items, dispatch: Dispatch, changeset_tx, register_content_id: Callable[[Operation, PartResponse], None],
            forget_content_ids: Callable[[list[Operation]], None], *, continue_on_error: bool,
            continue_after_failed_changeset: bool = True) -> BatchOutcome:
    """Run the items in order, with atomic change sets, and render the response.

    Without ``continue_on_error`` the batch stops at the first failure and the response holds only
    that failure (the documented shape), with outer status 400. ``changeset_tx`` is a context
    manager factory yielding an object with ``rollback()``.
    """
    out: list[bytes] = []
    status = 200
    boundary = f"batchresponse_{uuid4_text()}"
    for item in items:
        if isinstance(item, Operation):
            resp = dispatch(item)
            rendered = render_part(resp, content_id=None)
            if resp.status >= 400 and not continue_on_error:
                return BatchOutcome(400, boundary, _wrap(boundary, [rendered]))
            out.append(rendered)
            continue
        failed: PartResponse | None = None
        done: list[PartResponse] = []
        with changeset_tx() as tx:
            for op in item.operations:
                resp = dispatch(op)
                resp.content_id = op.content_id
                if resp.status >= 400:
                    failed = resp
                    tx.rollback()
                    break
                done.append(resp)
                register_content_id(op, resp)
        cs_boundary = f"changesetresponse_{uuid4_text()}"
        # OData 4.0 (what Dataverse speaks) scopes $n to its own change set: a later change set
        # or a part outside it cannot refer to it, so the ids are forgotten either way.
        forget_content_ids(item.operations)
        if failed is not None:
            rendered = render_changeset(cs_boundary, [failed])
            if not continue_on_error:
                return BatchOutcome(400, boundary, _wrap(boundary, [rendered]))
            out.append(rendered)
            if not continue_after_failed_changeset:
                break
        else:
            out.append(render_changeset(cs_boundary, done))
    return BatchOutcome(status, boundary, _wrap(boundary, out))


_PART_HEAD_TEXT = "Content-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n"
_STATUS_LINES: dict[int, str] = {}


def _status_line(status: int) -> str:
    line = _STATUS_LINES.get(status)
    if line is None:
        line = _STATUS_LINES[status] = f"HTTP/1.1 {status} {HTTPStatus(status).phrase}"
    return line


def _part_head(resp: PartResponse, content_id: str | None) -> str:
    """A part up to its body: part headers, status line, headers and the blank line after them.

    Joined lines end with the blank line that closes the headers; the delimiter's own CRLF then
    follows the (possibly empty) body, which reproduces Microsoft's examples exactly.
    """
    head = _PART_HEAD_TEXT if content_id is None else f"{_PART_HEAD_TEXT}Content-ID: {content_id}\r\n"
    headers = resp.headers
    try:  # "name: value" lines joined at C speed; a value that is not text is formatted below
        lines = "\r\n".join(map(": ".join, headers)) + "\r\n" if headers else ""
    except TypeError:
        lines = "".join([f"{name}: {value}\r\n" for name, value in headers])
    return f"{head}\r\n{_status_line(resp.status)}\r\n{lines}\r\n"


def render_part(resp: PartResponse, content_id: str | None) -> bytes:
    """One ``application/http`` part: part headers, status line, headers, blank line, body."""
    return _part_head(resp, content_id).encode("utf-8") + resp.body


def render_changeset(cs_boundary: str, responses: list[PartResponse]) -> bytes:
    """A ``multipart/mixed`` part holding change-set responses (each echoing its Content-ID).

    Written as text and encoded once, the bodies (bytes) joined in where there are any: a
    change set of creates answers 204s, which have none.
    """
    delim = f"--{cs_boundary}\r\n"
    chunks: list[bytes] = []
    text = [f"Content-Type: multipart/mixed; boundary={cs_boundary}\r\n\r\n"]
    for r in responses:
        text.append(delim)
        text.append(_part_head(r, r.content_id))
        if r.body:
            chunks.append("".join(text).encode("utf-8"))
            chunks.append(r.body)
            text = []
        text.append("\r\n")
    text.append(f"--{cs_boundary}--")
    chunks.append("".join(text).encode("utf-8"))
    return b"".join(chunks)


def _wrap(boundary: str, parts: list[bytes]) -> bytes:
    delim = f"--{boundary}\r\n".encode()
    return b"".join([piece for p in parts for piece in (delim, p, CRLF)]) + f"--{boundary}--".encode() + CRLF
