"""Transport to the Dataverse Web API: single requests, ``$batch`` execution, paged queries.

It knows nothing about contacts or emails: it sends :class:`~mail2dataverse.operations.Operation`
and :class:`~mail2dataverse.operations.ChangeSet` values and answers with one
:class:`~mail2dataverse.operations.Result` per operation, in input order.

Every request
    asks the :class:`~mail2dataverse.auth.TokenProvider` for a token first (msal answers from
    its cache, so a token that expires mid-run is renewed without a failed request), and sends
    ``Accept: application/json``, ``OData-MaxVersion: 4.0``, ``OData-Version: 4.0`` and a
    ``User-Agent``. Responses' ``x-ms-dop-hint`` (the service's recommended degree of
    parallelism) caps how many ``$batch`` requests are in flight at once.

Retry policy (per HTTP request, a ``$batch`` counts as one)
    * 401: once per request, ask for a fresh token (``force_refresh=True``) and resend;
    * 429: sleep ``Retry-After`` (seconds or an HTTP date; the backoff below when it is
      missing) and resend;
    * 502 / 503 / 504, timeouts and dropped connections (``ConnectionError``,
      ``ChunkedEncodingError``, ``RemoteDisconnected``...): exponential backoff with full
      jitter, ``uniform(0, min(backoff_cap, backoff_base * 2**attempt))``;
    * at most ``max_retries`` resends for 429/5xx/transport together; then the last answer
      becomes the results (or, with no answer at all, status 0 with the reason).
    Certificate-verification failures and other 4xx answers are never retried.

Idempotency contract (why resending a ``$batch`` is allowed)
    A connection can drop after the service applied a batch but before its answer arrived, so
    a resend may apply writes twice. The planner therefore emits only writes that are safe to
    repeat: updates and upserts by key (``PATCH``) are naturally idempotent, and creates carry a
    client-generated deterministic primary key, so a repeated create fails as a duplicate,
    which the planner reads as "already there". Under that contract this client may retry any
    request, writes included.

Logging goes to ``logging.getLogger("mail2dataverse.webapi")``, one line per HTTP exchange
(method, path, status, elapsed, attempt) at DEBUG, retries and throttling at INFO/WARNING.
No header, token or secret is ever logged or put into a result or an exception.

Connections: one ``requests.Session`` (kept-alive connections, pool sized for
``max_parallel``). urllib3 sets ``TCP_NODELAY`` on every connection it opens
(``HTTPConnection.default_socket_options``), so kept-alive requests do not stall on Nagle /
delayed-ACK interplay; nothing to configure here.
"""

from __future__ import annotations

import email.utils
import http.client
import json
import logging
import random as _random
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import datetime, timezone
from typing import Any
from urllib.parse import urljoin, urlsplit

import requests
from requests.adapters import HTTPAdapter

from mail2dataverse.auth import TokenProvider
from mail2dataverse.errors import WebApiError
from mail2dataverse.operations import ChangeSet, Operation, Result
from mail2dataverse.writers.batch import (
    count_operations,
    decode_batch_response,
    encode_batch,
    error_of,
    map_batch_failure,
    map_batch_results,
    parse_body,
    quote_path,
    result_from_answer,
)

log = logging.getLogger("mail2dataverse.webapi")

API_PATH = "/api/data/v9.2/"
DEFAULT_USER_AGENT = "mail2dataverse/0.1 (+python-requests)"
RETRY_STATUSES = frozenset({502, 503, 504})
#: A Retry-After longer than this is treated as a misbehaving proxy, not as advice.
MAX_RETRY_AFTER = 900.0
_TRANSPORT_ERRORS = (
    requests.exceptions.ConnectionError,  # includes ConnectTimeout, ProxyError, wrapped RemoteDisconnected
    requests.exceptions.Timeout,
    requests.exceptions.ChunkedEncodingError,
    requests.exceptions.ContentDecodingError,
    http.client.HTTPException,  # RemoteDisconnected / IncompleteRead escaping requests' wrappers
    ConnectionError,  # builtin: ConnectionResetError, BrokenPipeError
)


class TransportFailure(Exception):
    """No HTTP answer after every retry (internal; turned into results or a WebApiError)."""

    def __init__(self, reason: str, attempts: int):
        self.reason = reason
        self.attempts = attempts
        super().__init__(f"{reason} (after {attempts} attempt{'s' if attempts != 1 else ''})")


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` value (delta-seconds or HTTP-date), or None."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    now = now or datetime.now(timezone.utc)
    return max(0.0, (when - now).total_seconds())


class WebApiClient:
    """Sends Web API requests to one Dataverse org.

    :param org_url: ``https://contoso.crm.dynamics.com`` (or the emulator's base URL).
    :param auth: where tokens come from (:mod:`mail2dataverse.auth`).
    :param session: a ``requests.Session`` to use (tests mount fake adapters on it); by default
        the client makes one with a connection pool of ``max(10, 2 * max_parallel)`` and closes
        it in :meth:`close`.
    :param timeout: seconds to connect and to wait for each answer.
    :param max_retries: resends after 429/502/503/504/transport errors, per request.
    :param backoff_base: first backoff ceiling in seconds (doubles per attempt, full jitter).
    :param backoff_cap: ceiling of any backoff.
    :param max_batch_operations: operations per ``$batch`` (Dataverse allows 1,000).
    :param max_parallel: ``$batch`` requests in flight at most; lowered further by the
        service's ``x-ms-dop-hint``.
    :param verify: TLS verification (True, False or a CA bundle path).
    :param sleep: how to wait (tests record the waits instead).
    :param random: jitter source.
    :param user_agent: the ``User-Agent`` header.
    """

    def __init__(
        self,
        org_url: str,
        auth: TokenProvider,
        *,
        session: requests.Session | None = None,
        timeout: float = 120,
        max_retries: int = 8,
        backoff_base: float = 0.5,
        backoff_cap: float = 60,
        max_batch_operations: int = 1000,
        max_parallel: int = 8,
        verify: bool | str = True,
        sleep: Callable[[float], None] = time.sleep,
        random: _random.Random | None = None,
        user_agent: str = DEFAULT_USER_AGENT,
    ):
        if max_batch_operations < 1 or max_batch_operations > 1000:
            raise ValueError("max_batch_operations must be between 1 and 1000 (the service's limit)")
        if max_parallel < 1:
            raise ValueError("max_parallel must be at least 1")
        self.org_url = org_url.rstrip("/")
        self.auth = auth
        self.timeout = timeout
        self.max_retries = max_retries
        self.backoff_base = backoff_base
        self.backoff_cap = backoff_cap
        self.max_batch_operations = max_batch_operations
        self.max_parallel = max_parallel
        self.verify = verify
        self.user_agent = user_agent
        self._sleep = sleep
        self._random = random or _random.Random()
        self._owns_session = session is None
        if session is None:
            session = requests.Session()
            # Our own retry loop decides; urllib3 must not resend anything by itself.
            adapter = HTTPAdapter(pool_connections=2, pool_maxsize=max(10, 2 * max_parallel), max_retries=0)
            session.mount("https://", adapter)
            session.mount("http://", adapter)
        self.session = session
        self._lock = threading.Lock()
        self._slots = threading.Condition(self._lock)
        self._in_flight = 0
        self._dop_hint: int | None = None
        self._stats: dict[str, Any] = {
            "requests": 0,
            "batches": 0,
            "operations": 0,
            "retries": 0,
            "throttled": 0,
            "retry_after_seconds_total": 0.0,
            "auth_refreshes": 0,
            "transport_errors": 0,
            "errors_by_code": Counter(),
        }

    # ------------------------------------------------------------------ lifecycle and state

    @property
    def service_root(self) -> str:
        """``{org_url}/api/data/v9.2/``."""
        return self.org_url + API_PATH

    @property
    def parallelism(self) -> int:
        """How many ``$batch`` requests may be in flight: ``min(max_parallel, x-ms-dop-hint)``."""
        hint = self._dop_hint
        return max(1, min(self.max_parallel, hint)) if hint else self.max_parallel

    @property
    def stats(self) -> dict[str, Any]:
        """Counters since creation: requests, batches, operations, retries, throttled (429s),
        retry_after_seconds_total, auth_refreshes, transport_errors, errors_by_code."""
        with self._lock:
            out = dict(self._stats)
            out["errors_by_code"] = dict(self._stats["errors_by_code"])
            out["dop_hint"] = self._dop_hint
            return out

    def close(self) -> None:
        """Close the session if this client created it."""
        if self._owns_session:
            self.session.close()

    def __enter__(self) -> WebApiClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"WebApiClient({self.org_url!r}, auth={self.auth!r})"

    def _count(self, key: str, n: float = 1) -> None:
        with self._lock:
            self._stats[key] += n

    def _count_errors(self, results: Sequence[Result]) -> None:
        with self._lock:
            for r in results:
                if r.status >= 400 or (r.status == 0 and not r.rolled_back):
                    key = r.error_code or ("NotExecuted" if r.status == 0 else f"HTTP {r.status}")
                    self._stats["errors_by_code"][key] += 1

    @contextmanager
    def _slot(self) -> Iterator[None]:
        # Re-read parallelism on every wait: a lower x-ms-dop-hint takes effect at once.
        with self._slots:
            while self._in_flight >= self.parallelism:
                self._slots.wait()
            self._in_flight += 1
        try:
            yield
        finally:
            with self._slots:
                self._in_flight -= 1
                self._slots.notify_all()

    # ------------------------------------------------------------------ one HTTP exchange

    def _backoff(self, attempt: int) -> float:
        return self._random.uniform(0, min(self.backoff_cap, self.backoff_base * (2**attempt)))

    def _url(self, path: str) -> str:
        if path.startswith(("http://", "https://")):
            # Absolute URLs (an @odata.nextLink) are already encoded; the token goes to our org only.
            if urlsplit(path).netloc != urlsplit(self.service_root).netloc:
                raise ValueError(f"refusing to send a request for {urlsplit(path).netloc} to another host than the org")
            return path
        return self.service_root + quote_path(path.lstrip("/"))

    def _request(self, method: str, url: str, *, data: bytes | None, headers: dict[str, str], what: str) -> requests.Response:
        """Send one HTTP request under the retry policy; the final response, whatever its status.

        :raises TransportFailure: no answer after every retry.
        :raises AuthError: the token provider failed.
        """
        attempt = 0  # resends so far for 429/5xx/transport
        refreshed = False
        force_refresh = False
        while True:
            token = self.auth.token(force_refresh=force_refresh)
            force_refresh = False
            sent = {
                "Accept": "application/json",
                "OData-MaxVersion": "4.0",
                "OData-Version": "4.0",
                "User-Agent": self.user_agent,
                **headers,
            }
            if token:
                sent["Authorization"] = f"Bearer {token}"
            started = time.monotonic()
            try:
                resp = self.session.request(
                    method, url, data=data, headers=sent, timeout=self.timeout, verify=self.verify, allow_redirects=False
                )
            except _TRANSPORT_ERRORS as exc:
                self._count("transport_errors")
                reason = _describe_transport_error(exc)
                if _is_permanent(exc) or attempt >= self.max_retries:
                    log.warning("%s: %s; giving up after %d attempt(s)", what, reason, attempt + 1)
                    raise TransportFailure(reason, attempt + 1) from None
                delay = self._backoff(attempt)
                attempt += 1
                self._count("retries")
                log.info("%s: %s; retry %d/%d in %.2fs", what, reason, attempt, self.max_retries, delay)
                self._sleep(delay)
                continue
            elapsed = time.monotonic() - started
            self._count("requests")
            self._read_dop_hint(resp)
            status = resp.status_code
            log.debug("%s -> %d %.3fs attempt=%d", what, status, elapsed, attempt + 1)
            if status == 401 and not refreshed:
                refreshed = force_refresh = True
                self._count("auth_refreshes")
                log.info("%s: 401, renewing the access token and resending once", what)
                continue
            if status == 429 or status in RETRY_STATUSES:
                if attempt >= self.max_retries:
                    log.warning("%s: HTTP %d; giving up after %d attempt(s)", what, status, attempt + 1)
                    return resp
                advised = parse_retry_after(resp.headers.get("Retry-After"))
                if advised is not None and advised > MAX_RETRY_AFTER:
                    log.warning("%s: Retry-After %.0fs capped at %.0fs", what, advised, MAX_RETRY_AFTER)
                    advised = MAX_RETRY_AFTER
                delay = advised if advised is not None else self._backoff(attempt)
                attempt += 1
                with self._lock:
                    self._stats["retries"] += 1
                    if status == 429:
                        self._stats["throttled"] += 1
                        self._stats["retry_after_seconds_total"] += delay
                log.log(
                    logging.WARNING if status == 429 else logging.INFO,
                    "%s: HTTP %d%s; retry %d/%d in %.2fs",
                    what,
                    status,
                    " (throttled)" if status == 429 else "",
                    attempt,
                    self.max_retries,
                    delay,
                )
                resp.close()
                self._sleep(delay)
                continue
            return resp

    def _read_dop_hint(self, resp: requests.Response) -> None:
        value = resp.headers.get("x-ms-dop-hint")
        if value:
            try:
                hint = int(value)
            except ValueError:
                return
            if hint >= 1 and hint != self._dop_hint:
                with self._slots:
                    self._dop_hint = hint
                    self._slots.notify_all()
                log.debug("x-ms-dop-hint %d: up to %d batches in flight", hint, self.parallelism)

    # ------------------------------------------------------------------ public operations

    def send(self, op: Operation) -> Result:
        """Send one operation as its own HTTP request (retry policy included).

        :returns: the :class:`Result`: status, parsed body, headers, ``entity_id`` from
            ``OData-EntityId``/``Location``, error code/message from ``{"error": {...}}``.
            When no answer came back after every retry: status 0 and the reason.
        """
        if op.path.startswith("$"):
            raise ValueError(f"{op.describe()}: a change-set reference only works inside a $batch")
        headers = {k: v for k, v in op.headers.items() if k.lower() != "authorization"}
        data = None
        if op.body is not None:
            data = json.dumps(op.body, ensure_ascii=True, separators=(",", ":")).encode("ascii")
            headers.setdefault("Content-Type", "application/json; charset=utf-8")
        try:
            resp = self._request(op.method.upper(), self._url(op.path), data=data, headers=headers, what=op.describe())
        except TransportFailure as exc:
            result = Result(operation=op, status=0, error_code="TransportError", error_message=f"not executed or outcome unknown: {exc}")
            self._count_errors([result])
            return result
        result = result_from_answer(op, resp.status_code, parse_body(resp.content), resp.headers, resp.reason or "")
        self._count("operations")
        self._count_errors([result])
        return result

    def _split(self, items: Sequence[Operation | ChangeSet]) -> list[list[Operation | ChangeSet]]:
        chunks: list[list[Operation | ChangeSet]] = []
        current: list[Operation | ChangeSet] = []
        size = 0
        for item in items:
            n = count_operations(item)
            if isinstance(item, ChangeSet):
                if n == 0:
                    raise ValueError("a change set must hold at least one operation")
                if n > self.max_batch_operations:
                    raise ValueError(
                        f"a change set of {n} operations cannot fit in a $batch of {self.max_batch_operations}"
                    )
                for op in item.operations:
                    if op.method.upper() == "GET":
                        raise ValueError(f"GET is not allowed inside a change set: {op.describe()}")
            if current and size + n > self.max_batch_operations:
                chunks.append(current)
                current, size = [], 0
            current.append(item)
            size += n
        if current:
            chunks.append(current)
        return chunks

    def _send_batch(self, chunk: list[Operation | ChangeSet], continue_on_error: bool) -> list[Result]:
        n_ops = sum(count_operations(i) for i in chunk)
        content_type, body = encode_batch(chunk, service_root_path=urlsplit(self.service_root).path)
        headers = {"Content-Type": content_type}
        if continue_on_error:
            headers["Prefer"] = "odata.continue-on-error"
        what = f"POST $batch ({n_ops} operations)"
        with self._slot():
            try:
                resp = self._request("POST", self.service_root + "$batch", data=body, headers=headers, what=what)
            except TransportFailure as exc:
                results = map_batch_failure(chunk, 0, "TransportError", None)
                for r in results:
                    r.error_message = (
                        f"not executed or outcome unknown: $batch failed, {exc}; re-running the sync completes it"
                    )
                self._count_errors(results)
                return results
        self._count("batches")
        self._count("operations", n_ops)
        content_type_header = resp.headers.get("Content-Type", "")
        if content_type_header.lower().startswith("multipart/"):
            try:
                parts = decode_batch_response(content_type_header, resp.content)
                results = map_batch_results(chunk, parts, continue_on_error=continue_on_error)
            except ValueError as exc:
                results = map_batch_failure(chunk, resp.status_code, "InvalidBatchResponse", str(exc))
        else:
            code, message = error_of(resp.status_code, parse_body(resp.content), resp.reason or "")
            if resp.status_code < 400:  # 2xx without multipart: nothing we can map
                code, message = "InvalidBatchResponse", f"HTTP {resp.status_code} with Content-Type {content_type_header!r}"
            results = map_batch_failure(chunk, resp.status_code, code, message)
        self._count_errors(results)
        return results

    def execute(self, items: Sequence[Operation | ChangeSet], *, continue_on_error: bool = True) -> list[Result]:
        """Run ``items`` through ``$batch`` requests; one :class:`Result` per operation, in order.

        Items are packed into batches of at most ``max_batch_operations`` operations (a change
        set is never split) and sent with up to :attr:`parallelism` requests in flight. Within
        a failed change set the failing member carries the error and the others have status 0
        and ``rolled_back=True``; operations the service never reached have status 0 and an
        ``error_message`` starting ``"not executed: "``.

        :param continue_on_error: send ``Prefer: odata.continue-on-error`` so one failure does
            not stop the rest of its batch.
        :raises ValueError: a change set is empty, holds a GET or exceeds a batch.
        :raises AuthError: no token could be obtained.
        """
        chunks = self._split(items)
        if not chunks:
            return []
        if len(chunks) == 1 or self.max_parallel == 1:
            out: list[Result] = []
            for chunk in chunks:
                out.extend(self._send_batch(chunk, continue_on_error))
            return out
        with ThreadPoolExecutor(max_workers=min(self.max_parallel, len(chunks)), thread_name_prefix="webapi") as pool:
            futures = [pool.submit(self._send_batch, chunk, continue_on_error) for chunk in chunks]
            try:
                per_chunk = [f.result() for f in futures]
            except BaseException:
                for f in futures:
                    f.cancel()
                raise
        return [r for chunk_results in per_chunk for r in chunk_results]

    def query_all(self, path: str, *, page_size: int | None = None) -> Iterator[dict[str, Any]]:
        """Yield every row of a query, following ``@odata.nextLink`` page by page.

        :param path: raw OData query relative to the service root (``contacts?$select=...``),
            encoded with :func:`~mail2dataverse.writers.batch.quote_path`; or an absolute
            ``@odata.nextLink`` of this org, used unchanged (it is already encoded).
        :param page_size: sent as ``Prefer: odata.maxpagesize`` on every page (the service
            wants the same value each time); never combine with ``$top``.
        :raises WebApiError: the service answered an error, or no answer came back.
        """
        url = self._url(path)
        headers = {"Prefer": f"odata.maxpagesize={page_size}"} if page_size else {}
        while True:
            try:
                resp = self._request("GET", url, data=None, headers=headers, what=f"GET {path}")
            except TransportFailure as exc:
                raise WebApiError(0, "TransportError", str(exc), f"GET {path}") from None
            body = parse_body(resp.content)
            if resp.status_code != 200:
                code, message = error_of(resp.status_code, body, resp.reason or "")
                raise WebApiError(resp.status_code, code or "", message or "", f"GET {path}")
            if not isinstance(body, dict):
                raise WebApiError(resp.status_code, "InvalidResponse", "the answer is not a JSON object", f"GET {path}")
            if "value" not in body:
                yield body  # a single entity
                return
            yield from body["value"]
            next_link = body.get("@odata.nextLink")
            if not next_link:
                return
            url = urljoin(self.service_root, next_link)
            if urlsplit(url).netloc != urlsplit(self.service_root).netloc:
                # The token must never travel to another host.
                raise WebApiError(200, "InvalidNextLink", "@odata.nextLink points to another host", f"GET {path}")


def _is_permanent(exc: BaseException) -> bool:
    # A certificate the client refuses will not become valid by retrying.
    text = str(exc)
    return isinstance(exc, requests.exceptions.SSLError) and "CERTIFICATE_VERIFY_FAILED" in text.upper().replace(" ", "_")


def _describe_transport_error(exc: BaseException) -> str:
    # Name the failure without echoing headers; requests' messages hold the URL, not headers.
    text = str(exc)
    if len(text) > 300:
        text = text[:300] + "..."
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
