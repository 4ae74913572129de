"""OData ``$batch`` bodies for the Dataverse Web API: encode requests, decode responses.

Pure functions, no I/O. The wire format is OData v4.0 multipart/mixed (Part 1 §11.7) as
Dataverse documents it on "Execute batch operations using the Web API"
(https://learn.microsoft.com/power-apps/developer/data-platform/webapi/execute-batch-operations-using-web-api);
tests/writers/fixtures/ holds that page's examples, which this module reproduces and parses
byte for byte.

Encoding rules (the service answers 400 "Stream was not readable" when they are broken):

* CRLF after every line, boundaries ``batch_<uuid4>`` / ``changeset_<uuid4>``;
* each part: ``Content-Type: application/http`` + ``Content-Transfer-Encoding: binary``;
* request lines relative to the service root path (``POST /api/data/v9.2/tasks HTTP/1.1``),
  except change-set references, which stay bare (``PATCH $1 HTTP/1.1``);
* JSON bodies with ``Content-Type: application/json; type=entry``, ASCII-only (``\\uXXXX``
  escapes), so the body's bytes never depend on a charset parameter;
* ``GET`` only outside change sets (a change set is a transaction; reads have no place in it).

Content-IDs. OData requires them unique within the whole batch, but the planner builds each
change set on its own (``Content-ID 1`` = the email, ``PATCH $1`` = mark it completed). So every
change-set member gets a fresh batch-wide number, 1..n in order, and the change set's ``$<id>``
references (a path ``$1`` / ``$1/...``, or the value ``"$1"`` / ``"$1/..."`` of an ``@odata.bind``
or ``@odata.id`` key) are rewritten to the new numbers. No other body string is ever touched: a
column value that happens to read ``$3`` is data, not a reference. :func:`content_ids` gives the numbering so responses map back to operations.

Paths. :attr:`Operation.path` is *raw* OData text (``contacts?$filter=emailaddress1 eq
'a+b@x.com'``); :func:`quote_path` percent-encodes it once, here, for both single requests and
batch parts. See its docstring for the exact rule.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from requests.structures import CaseInsensitiveDict

from mail2dataverse.operations import ChangeSet, Operation, Result
from mail2dataverse.writers.paths import quote_path
from mail2dataverse.writers.streamed import FilePlaceholders

CRLF = "\r\n"
SERVICE_ROOT_PATH = "/api/data/v9.2/"

# --------------------------------------------------------------------------------------------
# Encoding
# --------------------------------------------------------------------------------------------

_REF_RE = re.compile(r"^\$([A-Za-z0-9_.-]+)(/.*)?$", re.DOTALL)


_UUID_MASK = (1 << 128) - 1


def count_operations(item: Operation | ChangeSet) -> int:
    """How many operations ``item`` puts in a batch (1, or the change set's size)."""
    return len(item.operations) if isinstance(item, ChangeSet) else 1


def content_ids(items: Sequence[Operation | ChangeSet]) -> list[list[str] | None]:
    """The batch-wide Content-IDs :func:`encode_batch` gives: one list per change set, else None.

    Change-set members are numbered 1..n across the whole batch in input order.
    """
    out: list[list[str] | None] = []
    n = 0
    for item in items:
        if isinstance(item, ChangeSet):
            ids = [str(n + k + 1) for k in range(len(item.operations))]
            n += len(ids)
            out.append(ids)
        else:
            out.append(None)
    return out


def _rewrite_ref(value: str, mapping: dict[str, str]) -> str:
    m = _REF_RE.match(value)
    if m and m.group(1) in mapping:
        return "$" + mapping[m.group(1)] + (m.group(2) or "")
    return value


# Only these annotations carry URLs, so only their values may be ``$n`` references. Any other
# string is column data: a subject "$3" or a body "$51/month" must reach the org unchanged.
_REFERENCE_ANNOTATIONS = ("@odata.bind", "@odata.id")


def _rewrite_body(body: Any, mapping: dict[str, str]) -> Any:
    """``body`` with its ``$n`` references renumbered: deep inserts are walked, but only values of
    ``@odata.bind`` / ``@odata.id`` keys (a collection bind's URL list too) are rewritten."""
    if not mapping:
        return body
    if isinstance(body, dict):
        out: dict[str, Any] = {}
        for key, value in body.items():
            if isinstance(key, str) and key.endswith(_REFERENCE_ANNOTATIONS):
                if isinstance(value, str):
                    value = _rewrite_ref(value, mapping)
                elif isinstance(value, list):
                    value = [_rewrite_ref(v, mapping) if isinstance(v, str) else v for v in value]
                out[key] = value
            else:
                out[key] = _rewrite_body(value, mapping)
        return out
    if isinstance(body, list):
        return [_rewrite_body(v, mapping) for v in body]
    return body


def request_target(path: str, service_root_path: str = SERVICE_ROOT_PATH) -> str:
    """The request-line target for ``path`` inside a batch part.

    ``$n`` references stay bare (``PATCH $1``), absolute URLs stay as they are, anything else is
    encoded with :func:`quote_path` and put under ``service_root_path``.
    """
    if path.startswith("$") and _REF_RE.match(path.split("?", 1)[0]):
        return quote_path(path)
    if path.startswith(("http://", "https://")):
        return path
    return service_root_path + quote_path(path.lstrip("/"))


_PART_HEAD = f"Content-Type: application/http{CRLF}Content-Transfer-Encoding: binary{CRLF}"
_JSON_BODY_TYPE = f"Content-Type: application/json; type=entry{CRLF}"
_SKIPPED_HEADERS = ("content-type", "authorization")


def _encode_part(op: Operation, path: str, text: str | None, content_id: str | None, service_root_path: str) -> str:
    """One part: MIME headers, the request line and headers, the body (``text``, JSON or None).

    One f-string per part: the part is written for every operation of every batch.
    """
    extra = ""
    if op.headers:
        # the part's Content-Type is ours; auth belongs to the outer request only
        extra = "".join(f"{name}: {value}{CRLF}" for name, value in op.headers.items()
                        if name.lower() not in _SKIPPED_HEADERS)
    cid = f"Content-ID: {content_id}{CRLF}" if content_id is not None else ""
    # The part ends with the body (possibly empty); the CRLF before the next delimiter belongs
    # to the delimiter, so a GET part ends "HTTP/1.1\r\n\r\n" + "\r\n--batch_...".
    body_type, text = ("", "") if text is None else (_JSON_BODY_TYPE, text)
    return (f"{_PART_HEAD}{cid}{CRLF}{op.method.upper()} {request_target(path, service_root_path)} HTTP/1.1{CRLF}"
            f"{body_type}{extra}{CRLF}{text}")


def _dumps_renumbered(body: Any, mapping: dict[str, str], dumps: Callable[[Any], str]) -> str:
    """``body`` serialised with its ``$n`` references renumbered.

    Serialised first: a body without a string starting with ``$`` (``"$`` in its JSON) holds no
    reference, and walking every email's parties to find none cost a sixth of the encoding.
    """
    text = dumps(body)
    if '"$' not in text:
        return text
    return dumps(_rewrite_body(body, mapping))


def _uuid_text(value: int) -> str:
    """``str(uuid.UUID(int=value))`` without the object."""
    h = f"{value & _UUID_MASK:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def encode_batch(
    items: Sequence[Operation | ChangeSet],
    *,
    service_root_path: str = SERVICE_ROOT_PATH,
    boundary: str | None = None,
    changeset_boundaries: Sequence[str] | None = None,
    json_dumps: Callable[[Any], str] | None = None,
) -> tuple[str, bytes]:
    """Encode ``items`` as one ``$batch`` request body.

    :param items: operations and change sets, in execution order.
    :param service_root_path: prefix of request lines (``/api/data/v9.2/``).
    :param boundary: the batch boundary; default ``batch_<uuid4>``.
    :param changeset_boundaries: one boundary per change set, in order; default
        ``changeset_<uuid4>`` each (tests pass them to compare with Microsoft's examples).
    :param json_dumps: body serializer; default compact, ASCII-only JSON.
    :returns: ``(content_type, body)``; ``content_type`` is
        ``multipart/mixed; boundary="batch_..."`` for the outer request.
    :raises ValueError: a change set is empty or holds a GET. A ``$n`` reference that names
        no Content-ID of its change set is sent as it is: the service reports it, per part.
    """
    files = FilePlaceholders()  # attachment content (Base64File) is streamed in, see .streamed
    dumps = json_dumps or (lambda body: json.dumps(body, ensure_ascii=True, separators=(",", ":"), default=files.json))
    # One random draw per batch: a change set's boundary is the next UUID after the batch's
    # (os.urandom per change set cost a syscall each, 10,000 per W10k sync).
    base = uuid.uuid4().int
    boundary = boundary or f"batch_{_uuid_text(base)}"
    cs_bounds = list(changeset_boundaries or [])
    delimiter = f"--{boundary}{CRLF}"
    chunks: list[str] = []
    cs_index = 0
    n = 0  # batch-wide Content-IDs given so far (content_ids() gives the same numbering)
    for item in items:
        chunks.append(delimiter)
        if isinstance(item, ChangeSet):
            ops = item.operations
            if not ops:
                raise ValueError("a change set must hold at least one operation")
            cs_boundary = (cs_bounds[cs_index] if cs_index < len(cs_bounds)
                           else f"changeset_{_uuid_text(base + cs_index + 1)}")
            cs_index += 1
            ids = [str(n + k + 1) for k in range(len(ops))]
            n += len(ops)
            # The planner's own ids → batch-wide ids; members without one cannot be referenced.
            mapping = {op.content_id: new for op, new in zip(ops, ids) if op.content_id is not None}
            cs_delimiter = f"--{cs_boundary}{CRLF}"
            chunks.append(f'Content-Type: multipart/mixed; boundary="{cs_boundary}"{CRLF}{CRLF}')
            for op, new_id in zip(ops, ids):
                if op.method.upper() == "GET":
                    raise ValueError(f"GET is not allowed inside a change set: {op.describe()}")
                body = op.body
                text = None if body is None else (
                    _dumps_renumbered(body, mapping, dumps) if mapping else dumps(body))
                chunks.append(cs_delimiter)
                chunks.append(_encode_part(op, _rewrite_ref(op.path, mapping) if op.path.startswith("$") else op.path,
                                           text, new_id, service_root_path))
                chunks.append(CRLF)
            chunks.append(f"--{cs_boundary}--{CRLF}{CRLF}")
        else:
            body = item.body
            chunks.append(_encode_part(item, item.path, None if body is None else dumps(body), None, service_root_path))
            chunks.append(CRLF)
    chunks.append(f"--{boundary}--{CRLF}")
    return f'multipart/mixed; boundary="{boundary}"', files.body("".join(chunks))


# --------------------------------------------------------------------------------------------
# Decoding
# --------------------------------------------------------------------------------------------


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


def decode_batch_response(content_type_header: str | None, body: bytes) -> list[RawPart]:
    """Split a ``$batch`` response into its sub-responses, change-set members flattened in order.

    The boundary comes from ``content_type_header``; when it is missing (Microsoft's printed
    examples omit it) it is read from the first ``--`` line of the body. Nested
    ``changesetresponse`` parts are unpacked with ``changeset`` set to their index; a failed
    change set answered with only its failing part simply yields that one part. Bare-LF bodies
    are read as well as CRLF ones.

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
# Mapping sub-responses back to operations
# --------------------------------------------------------------------------------------------

_GUID_AT_END = re.compile(r"\(([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})\)\s*$")


def entity_id_from_headers(headers: Any) -> str | None:
    """The GUID at the end of ``OData-EntityId`` (or ``Location``), lower-case, or None.

    An upsert by alternate key answers with the key URL (``contacts(emailaddress1='...')``),
    which carries no GUID: None then.
    """
    for name in ("OData-EntityId", "Location"):
        value = headers.get(name) if headers is not None else None
        if value:
            m = _GUID_AT_END.search(value)
            if m:
                return m.group(1).lower()
    return None


def error_of(status: int, body: Any, reason: str = "") -> tuple[str | None, str | None]:
    """``(code, message)`` of an error answer: from ``{"error": {...}}``, else the text/reason."""
    if status < 400:
        return None, None
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        err = body["error"]
        return str(err.get("code", "")), str(err.get("message", ""))
    if isinstance(body, str) and body:
        return None, body[:2000]
    return None, reason or f"HTTP {status}"


def result_from_answer(op: Operation, status: int, body: Any, headers: Any, reason: str = "") -> Result:
    """A :class:`Result` for ``op`` from an HTTP answer (a sub-response or a single request's)."""
    code, message = error_of(status, body, reason)
    store = headers._store if headers.__class__ is CaseInsensitiveDict else None
    if store is None:
        plain, entity_id = dict(headers), entity_id_from_headers(headers)
    else:
        # Read from the store (lower-case name -> (name, value)): the mapping interface costs a
        # generator step or a lower() per header, for every operation of every batch.
        plain = dict(store.values())
        entity_id = None
        for name in ("odata-entityid", "location"):
            value = store.get(name)
            if value and value[1]:
                m = _GUID_AT_END.search(value[1])
                if m:
                    entity_id = m.group(1).lower()
                    break
    return Result(operation=op, status=status, body=body, headers=plain, entity_id=entity_id,
                  error_code=code, error_message=message)


def result_from_part(op: Operation, part: RawPart) -> Result:
    """A :class:`Result` for ``op`` from its sub-response."""
    return result_from_answer(op, part.status, part.body, part.headers, part.reason)


def not_executed(op: Operation, why: str) -> Result:
    """A status-0 result for an operation the service never ran."""
    return Result(operation=op, status=0, error_message=f"not executed: {why}")


def _group(parts: Sequence[RawPart]) -> list[list[RawPart]]:
    groups: list[list[RawPart]] = []
    for p in parts:
        if p.changeset is not None and groups and groups[-1][0].changeset == p.changeset:
            groups[-1].append(p)
        else:
            groups.append([p])
    return groups


def _map_changeset(cs: ChangeSet, ids: list[str], entry: list[RawPart]) -> list[Result]:
    by_id = {p.content_id: p for p in entry if p.content_id is not None}
    positional = not by_id and len(entry) == len(cs.operations)
    matched: list[RawPart | None] = [
        (entry[k] if positional else by_id.get(cid)) for k, cid in enumerate(ids)
    ]
    failed = [p for p in entry if p.status >= 400]
    if not failed:
        return [
            result_from_part(op, p) if p is not None else not_executed(op, "no answer in the change-set response")
            for op, p in zip(cs.operations, matched)
        ]
    failing_ops = [op for op, p in zip(cs.operations, matched) if p is not None and p.status >= 400]
    if not failing_ops:
        # The service named no member (no Content-ID we sent): every member carries the error.
        return [result_from_part(op, failed[0]) for op in cs.operations]
    first = failing_ops[0]
    first_part = next(p for op, p in zip(cs.operations, matched) if op is first)
    code, message = error_of(first_part.status, first_part.body, first_part.reason)
    why = f"rolled back with its change set: {first.describe()} failed ({first_part.status} {code or ''}: {message})"
    out: list[Result] = []
    for op, p in zip(cs.operations, matched):
        if p is not None and p.status >= 400:
            out.append(result_from_part(op, p))
        else:
            out.append(Result(operation=op, status=0, rolled_back=True, error_message=why))
    return out


def map_batch_results(
    items: Sequence[Operation | ChangeSet],
    parts: Sequence[RawPart],
    *,
    continue_on_error: bool = True,
) -> list[Result]:
    """One :class:`Result` per operation of ``items`` (change-set members in order).

    Sub-responses are matched in order: a plain operation takes the next single part, a change
    set the next change-set response (members matched by the Content-IDs :func:`content_ids`
    gave them). In a failed change set the failing member gets its error and the others status
    0 with ``rolled_back=True``. Operations the response does not reach (the service stops at the
    first error without ``odata.continue-on-error``) get status 0 and ``"not executed: ..."``.
    """
    entries = _group(parts)
    results: list[Result] = []
    why_missing = (
        "the service stopped the batch at an earlier error (odata.continue-on-error not set)"
        if not continue_on_error
        else "the batch response has no answer for it"
    )
    for index, (item, ids) in enumerate(zip(items, content_ids(items))):
        if index >= len(entries):
            ops = item.operations if isinstance(item, ChangeSet) else [item]
            results.extend(not_executed(op, why_missing) for op in ops)
            continue
        entry = entries[index]
        if isinstance(item, ChangeSet):
            assert ids is not None
            results.extend(_map_changeset(item, ids, entry))
        else:
            results.append(result_from_part(item, entry[0]))
    return results


def map_batch_failure(
    items: Sequence[Operation | ChangeSet], status: int, code: str | None, message: str | None
) -> list[Result]:
    """Results when the service rejected the whole ``$batch`` request (no multipart answer)."""
    out: list[Result] = []
    for item in items:
        for op in item.operations if isinstance(item, ChangeSet) else [item]:
            out.append(
                Result(
                    operation=op,
                    status=status,
                    error_code=code,
                    error_message=f"batch rejected: {message or f'HTTP {status}'}",
                )
            )
    return out
