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

Layout (composition, one room per concern)
    :class:`WebApiClient` is the face the rest of the tool uses; it wires three rooms together:
    :mod:`.transport` (:class:`~.transport.Transport`: session, token, headers, the retry policy
    and ``Retry-After``; :class:`~.transport.HttpStats`: the counters), :mod:`.batch_runner`
    (:class:`~.batch_runner.BatchRunner`: packing into batches, sending and decoding ``$batch``;
    :class:`~.batch_runner.InFlightGate`: how many batches are in flight) and :mod:`.paging`
    (``@odata.nextLink`` queries). Deciding batch sizes and concurrency from what the service
    answers belongs to the batch runner and its gate; which identity and connection a request
    travels on belongs to the transport.
"""

from __future__ import annotations

import json
import random as _random
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import requests

from mail2dataverse.auth import TokenProvider
from mail2dataverse.operations import ChangeSet, Operation, Result
from mail2dataverse.writers import paging
from mail2dataverse.writers.batch import parse_body, result_from_answer
from mail2dataverse.writers.batch_runner import BatchRunner, InFlightGate
from mail2dataverse.writers.transport import (
    API_PATH,
    DEFAULT_USER_AGENT,
    MAX_RETRY_AFTER,
    RETRY_STATUSES,
    HttpStats,
    Transport,
    TransportFailure,
    parse_retry_after,
)

__all__ = [
    "API_PATH",
    "DEFAULT_USER_AGENT",
    "MAX_RETRY_AFTER",
    "RETRY_STATUSES",
    "TransportFailure",
    "WebApiClient",
    "parse_retry_after",
]


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
        self._stats = HttpStats()
        self.gate = InFlightGate(max_parallel)
        self.transport = Transport(
            org_url,
            auth,
            session=session,
            pool_size=max(10, 2 * max_parallel),
            timeout=timeout,
            max_retries=max_retries,
            backoff_base=backoff_base,
            backoff_cap=backoff_cap,
            verify=verify,
            sleep=sleep,
            random=random,
            user_agent=user_agent,
            stats=self._stats,
            on_answer=self.gate.read_dop_hint,
        )
        self.batches = BatchRunner(self.transport, self.gate, self._stats, max_batch_operations=max_batch_operations)
        self.org_url = self.transport.org_url
        self.auth = auth
        self.session = self.transport.session
        self.max_batch_operations = max_batch_operations
        self.max_parallel = max_parallel

    # ------------------------------------------------------------------ lifecycle and state

    @property
    def service_root(self) -> str:
        """``{org_url}/api/data/v9.2/``."""
        return self.transport.service_root

    @property
    def parallelism(self) -> int:
        """How many ``$batch`` requests may be in flight: ``min(max_parallel, x-ms-dop-hint)``."""
        return self.gate.parallelism

    @property
    def stats(self) -> dict[str, Any]:
        """Counters since creation: requests, batches, operations, retries, throttled (429s),
        retry_after_seconds_total, auth_refreshes, transport_errors, errors_by_code."""
        out = self._stats.snapshot()
        out["dop_hint"] = self.gate.dop_hint
        return out

    def close(self) -> None:
        """Close the session if this client created it."""
        self.transport.close()

    def __enter__(self) -> WebApiClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"WebApiClient({self.org_url!r}, auth={self.auth!r})"

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
            resp = self.transport.request(op.method.upper(), self.transport.url(op.path), data=data, headers=headers, what=op.describe())
        except TransportFailure as exc:
            result = Result(operation=op, status=0, error_code="TransportError", error_message=f"not executed or outcome unknown: {exc}")
            self._stats.count_errors([result])
            return result
        result = result_from_answer(op, resp.status_code, parse_body(resp.content), resp.headers, resp.reason or "")
        self._stats.count("operations")
        self._stats.count_errors([result])
        return result

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
        return self.batches.execute(items, continue_on_error=continue_on_error)

    def query_all(self, path: str, *, page_size: int | None = None) -> Iterator[dict[str, Any]]:
        """Yield every row of a query, following ``@odata.nextLink`` page by page.

        :param path: raw OData query relative to the service root (``contacts?$select=...``),
            encoded with :func:`~mail2dataverse.writers.batch.quote_path`; or an absolute
            ``@odata.nextLink`` of this org, used unchanged (it is already encoded).
        :param page_size: sent as ``Prefer: odata.maxpagesize`` on every page (the service
            wants the same value each time); never combine with ``$top``.
        :raises WebApiError: the service answered an error, or no answer came back.
        """
        return paging.query_all(self.transport, path, page_size=page_size)
