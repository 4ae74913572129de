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
from json.encoder import c_make_encoder, encode_basestring_ascii  # type: ignore[attr-defined]
from typing import Any

from requests.structures import CaseInsensitiveDict

from mail2dataverse.model import guid_text
from mail2dataverse.operations import ChangeSet, Operation, Result
from mail2dataverse.writers.batch_decode import (
    FastPart,
    RawPart,
    boundary_of,
    decode_batch_response,
    decode_general,
    fast_entries,
    flatten_entries,
    parse_body,
    raw_part,
)
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

#: ``(method, path, service root) -> "METHOD target HTTP/1.1\r\n"``. The write paths (``emails``,
#: ``$1``, ``contacts(...)``) repeat all run long; quoting and the reference test per part were a
#: sixth of the encoding. Bounded (cleared when full) and only for short paths, as quote_path's own
#: cache: a lookup's long ``$filter`` never repeats.
_REQUEST_LINES: dict[tuple[str, str, str], str] = {}
_REQUEST_LINES_MAX = 4096


def _request_line(method: str, path: str, service_root_path: str) -> str:
    key = (method, path, service_root_path)
    line = _REQUEST_LINES.get(key)
    if line is None:
        line = f"{method.upper()} {request_target(path, service_root_path)} HTTP/1.1{CRLF}"
        if len(path) <= 512:
            if len(_REQUEST_LINES) >= _REQUEST_LINES_MAX:
                _REQUEST_LINES.clear()
            _REQUEST_LINES[key] = line
    return line


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
    return (f"{_PART_HEAD}{cid}{CRLF}{_request_line(op.method, path, service_root_path)}"
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


def _renumbered_path(path: str, mapping: dict[str, str]) -> str:
    """``path`` with a leading ``$n`` reference renumbered (:func:`_rewrite_ref`); the common
    ``$1`` (a bare number naming a member) is looked up without the regular expression."""
    if not path.startswith("$"):
        return path
    ref = path[1:]
    if ref.isascii() and ref.isdigit() and ref in mapping:
        return "$" + mapping[ref]
    return _rewrite_ref(path, mapping)


def _compact_ascii_json(default: Callable[[Any], Any]) -> Callable[[Any], str]:
    """``json.dumps(body, ensure_ascii=True, separators=(",", ":"), default=default)`` as a function
    that makes the C encoder once (json.dumps builds an encoder object and a C encoder per call:
    a third of the encoding at W10k). Same text: it is the encoder json.dumps itself ends in."""
    if c_make_encoder is None:  # an interpreter without the C accelerator
        return lambda body: json.dumps(body, ensure_ascii=True, separators=(",", ":"), default=default)

    def dumps(body: Any) -> str:
        # A fresh markers dict per body, as json.dumps has (a failed body leaves none behind).
        return "".join(c_make_encoder({}, default, encode_basestring_ascii, None, ":", ",", False, False, True)(body, 0))

    return dumps


def _uuid_text(value: int) -> str:
    """``str(uuid.UUID(int=value))`` without the object."""
    return guid_text(f"{value & _UUID_MASK:032x}")


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
    dumps = json_dumps or _compact_ascii_json(files.json)
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
            chunks.append(f'{delimiter}Content-Type: multipart/mixed; boundary="{cs_boundary}"{CRLF}{CRLF}')
            for op, new_id in zip(ops, ids):
                if op.method.upper() == "GET":
                    raise ValueError(f"GET is not allowed inside a change set: {op.describe()}")
                body = op.body
                text = None if body is None else (
                    _dumps_renumbered(body, mapping, dumps) if mapping else dumps(body))
                path = _renumbered_path(op.path, mapping) if mapping else op.path
                chunks.append(f"{cs_delimiter}{_encode_part(op, path, text, new_id, service_root_path)}{CRLF}")
            chunks.append(f"--{cs_boundary}--{CRLF}{CRLF}")
        else:
            body = item.body
            text = None if body is None else dumps(body)
            chunks.append(f"{delimiter}{_encode_part(item, item.path, text, None, service_root_path)}{CRLF}")
    chunks.append(f"--{boundary}--{CRLF}")
    return f'multipart/mixed; boundary="{boundary}"', files.body("".join(chunks))


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


_GUID_IN_PARENS = re.compile(r"\(([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})\)")


def _guid_at_end(value: str) -> str | None:
    # A value ending in ")" matches _GUID_AT_END only as its last 38 characters: one fullmatch
    # there instead of a search trying every position of the URL, for every part.
    if value.endswith(")"):
        m = _GUID_IN_PARENS.fullmatch(value, len(value) - 38) if len(value) >= 38 else None
    else:
        m = _GUID_AT_END.search(value)
    return m.group(1).lower() if m else None


def _entity_id_of_store(store: dict[str, tuple[str, str]]) -> str | None:
    """:func:`entity_id_from_headers` read from a header store (lower-case name -> (name, value))."""
    for name in ("odata-entityid", "location"):
        value = store.get(name)
        if value and value[1]:
            guid = _guid_at_end(value[1])
            if guid:
                return guid
    return None


def result_from_answer(op: Operation, status: int, body: Any, headers: Any, reason: str = "") -> Result:
    """A :class:`Result` for ``op`` from an HTTP answer (a sub-response or a single request's)."""
    code, message = error_of(status, body, reason)
    store = headers._store if headers.__class__ is CaseInsensitiveDict else None
    if store is None:
        plain, entity_id = dict(headers), entity_id_from_headers(headers)
    else:
        # Read from the store (lower-case name -> (name, value)): the mapping interface costs a
        # generator step or a lower() per header, for every operation of every batch.
        plain, entity_id = dict(store.values()), _entity_id_of_store(store)
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


def _fast_result(op: Operation, answer: FastPart) -> Result:
    """:func:`result_from_part` of a :data:`FastPart`, without the RawPart and its headers object."""
    status, reason, store, body, _ = answer
    code, message = error_of(status, body, reason) if status >= 400 else (None, None)
    return Result(operation=op, status=status, body=body, headers=dict(store.values()),
                  entity_id=_entity_id_of_store(store), error_code=code, error_message=message)


def decode_and_map(items: Sequence[Operation | ChangeSet], content_type_header: str | None, body: bytes, *,
                   continue_on_error: bool = True) -> list[Result]:
    """``map_batch_results(items, decode_batch_response(content_type_header, body))``, the common
    case read straight into results.

    When :func:`~.batch_decode.fast_entries` reads the response, each plain operation takes its
    part and each change set whose every member answered 2xx, with the Content-IDs
    :func:`content_ids` gave (or none at all) in order, takes its members directly; anything else
    (an error in a change set, members missing or out of order, fewer answers than items) goes
    through :func:`map_batch_results`, which the results are identical to.

    :raises ValueError: the body is not a multipart batch response.
    """
    entries = fast_entries(content_type_header, body)
    if entries is None:
        return map_batch_results(items, decode_general(content_type_header, body), continue_on_error=continue_on_error)
    if len(entries) < len(items):
        return map_batch_results(items, flatten_entries(entries), continue_on_error=continue_on_error)
    results: list[Result] = []
    n = 0  # batch-wide Content-IDs so far, as content_ids() counts them
    for index, item in enumerate(items):
        entry = entries[index]
        if isinstance(item, ChangeSet):
            ops = item.operations
            ids = [str(n + k + 1) for k in range(len(ops))]
            n += len(ops)
            if (isinstance(entry, list) and len(entry) == len(ops)
                    and all(a[0] < 400 for a in entry)
                    and ([a[4] for a in entry] == ids or all(a[4] is None for a in entry))):
                results.extend(_fast_result(op, a) for op, a in zip(ops, entry))
            else:
                # (_map_changeset reads no part's change-set index: None is as good as any)
                members = [raw_part(a, None) for a in entry] if isinstance(entry, list) else [raw_part(entry, None)]
                results.extend(_map_changeset(item, ids, members))
        else:
            results.append(_fast_result(item, entry[0] if isinstance(entry, list) else entry))
    return results
