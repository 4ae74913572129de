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

Retry policy (per HTTP request; ``$batch`` requests differ, see :mod:`.dispatch`: a 429 rests
that user and the batch goes to the queue again, an unknown outcome is settled by lookups)
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

Connections: one ``requests.Session`` per application user (kept-alive connections, a pool sized
for its share of requests in flight). urllib3 sets ``TCP_NODELAY`` on every connection it opens
(``HTTPConnection.default_socket_options``), so kept-alive requests do not stall on Nagle /
delayed-ACK interplay. The org's affinity cookie is not kept unless ``keep_affinity=True``, so
requests spread over the org's web servers, each with its own limits.

Layout (composition, one room per concern)
    :class:`WebApiClient` is the face the rest of the tool uses. :mod:`.transport`
    (:class:`~.transport.Transport`, one per application user: session, token, headers, the retry
    policy; :class:`~.transport.HttpStats`: the counters); :mod:`.governor` (one
    :class:`~.governor.Lane` per user: requests in flight, rests); :mod:`.sizing` (batch sizes
    from measured server time); :mod:`.dispatch` (the queue, cutting batches, settling answers);
    :mod:`.batch_runner` (one ``$batch`` exchange and what its answer means); :mod:`.settle`
    (which items of a lost answer landed); :mod:`.paging` (``@odata.nextLink`` queries).
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
from mail2dataverse.writers.batch_runner import BatchRunner, validate
from mail2dataverse.writers.dispatch import Dispatcher, Job
from mail2dataverse.writers.governor import CONCURRENCY_LIMIT, EXEC_BUDGET_SECONDS, Governor, Lane
from mail2dataverse.writers.sizing import BatchSizer
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

AFFINITY_COOKIE = "ARRAffinity"


class _Clock:
    """The governor's clock: real time, or (with an injected ``sleep``) the sum of the waits the
    injected sleep stood for, so tests record rests exactly, without waiting for them."""

    def __init__(self, sleep: Callable[[float], None]):
        self._inner = sleep
        self._offset = 0.0
        self.real = sleep is time.sleep

    def now(self) -> float:
        return time.monotonic() if self.real else self._offset

    def sleep(self, seconds: float) -> None:
        self._inner(seconds)
        if not self.real:
            self._offset += seconds


class WebApiClient:
    """Sends Web API requests to one Dataverse org, as one or several application users.

    :param org_url: ``https://contoso.crm.dynamics.com`` (or the emulator's base URL).
    :param auth: where tokens come from (:mod:`mail2dataverse.auth`); a list of providers acts
        as that many application users, each with its own budget on every web server.
    :param session: a ``requests.Session`` to use (tests mount fake adapters on it; every user
        then shares it); by default each user gets one, closed in :meth:`close`.
    :param timeout: seconds to connect and to wait for a single request's answer (a ``$batch``
        waits as long as its size calls for, :mod:`.sizing`).
    :param max_retries: resends after 429/502/503/504/transport errors, per request.
    :param backoff_base: first backoff ceiling in seconds (doubles per attempt, full jitter).
    :param backoff_cap: ceiling of any backoff.
    :param max_batch_operations: operations per ``$batch`` at most (Dataverse allows 1,000); the
        sizer keeps batches smaller until it has measured what the org takes.
    :param max_parallel: requests in flight per user at most (the service's limit is 52).
    :param target_seconds: server time a ``$batch`` is sized to take once measured.
    :param keep_affinity: keep the org's affinity cookie (all requests then go to one web server).
    :param max_batch_bytes: attachment bytes (streamed file content) one ``$batch`` may carry.
    :param verify: TLS verification (True, False or a CA bundle path).
    :param sleep: how to wait (tests record the waits instead).
    :param random: jitter source.
    :param user_agent: the ``User-Agent`` header.
    """

    def __init__(
        self,
        org_url: str,
        auth: TokenProvider | Sequence[TokenProvider],
        *,
        session: requests.Session | None = None,
        timeout: float = 120,
        max_retries: int = 8,
        backoff_base: float = 0.5,
        backoff_cap: float = 60,
        max_batch_operations: int = 1000,
        max_parallel: int = CONCURRENCY_LIMIT,
        target_seconds: float = 20.0,
        keep_affinity: bool = False,
        max_batch_bytes: int = 32 * 1024 * 1024,
        verify: bool | str = True,
        sleep: Callable[[float], None] = time.sleep,
        random: _random.Random | None = None,
        user_agent: str = DEFAULT_USER_AGENT,
    ):
        if max_batch_operations < 1 or max_batch_operations > 1000:
            raise ValueError("max_batch_operations must be between 1 and 1000 (the service's limit)")
        if max_parallel < 1:
            raise ValueError("max_parallel must be at least 1")
        providers = list(auth) if isinstance(auth, (list, tuple)) else [auth]
        if not providers:
            raise ValueError("at least one token provider is needed")
        self._stats = HttpStats()
        self._clock = _Clock(sleep)
        self.sizer = BatchSizer(max_units=max_batch_operations, target_seconds=target_seconds)
        self._random = random or _random.Random()
        lanes: list[Lane] = []
        for i, provider in enumerate(providers, 1):
            lane = Lane(f"user{i}", None, cap=max_parallel, clock=self._clock.now)
            lane.transport = Transport(
                org_url,
                provider,
                session=session,
                pool_size=max(10, min(max_parallel, CONCURRENCY_LIMIT) + 4),
                timeout=timeout,
                max_retries=max_retries,
                backoff_base=backoff_base,
                backoff_cap=backoff_cap,
                verify=verify,
                sleep=self._clock.sleep,
                random=self._random,
                user_agent=user_agent,
                stats=self._stats,
                on_answer=self._answer_reader(lane),
                keep_affinity=keep_affinity,
            )
            lanes.append(lane)
        self.governor = Governor(lanes, clock=self._clock.now, sleep=None if self._clock.real else self._clock.sleep)
        self.runner = BatchRunner(self._stats, time_scale=lambda: self.sizer.time_scale)
        self.dispatcher = Dispatcher(self.governor, self.sizer, self.runner, self._stats,
                                     max_operations=max_batch_operations, max_retries=max_retries,
                                     sleep=self._clock.sleep, backoff=lanes[0].transport._backoff)
        self.dispatcher.max_bytes = max_batch_bytes
        self.transport = lanes[0].transport
        self.org_url = self.transport.org_url
        self.auth = providers[0]
        self.session = self.transport.session
        self.max_batch_operations = max_batch_operations
        self.max_parallel = max_parallel
        self.keep_affinity = keep_affinity
        self._started = time.monotonic()

    def _answer_reader(self, lane: Lane) -> Callable[[requests.Response], None]:
        """What every answer to ``lane``'s requests tells the client: dop hint, clock, web server."""

        def read(resp: requests.Response) -> None:
            headers = resp.headers
            hint = headers.get("x-ms-dop-hint")
            if hint:
                try:
                    lane.adopt_hint(int(hint))
                except ValueError:
                    pass
            scale = headers.get("x-emulator-time-scale")
            if scale:
                try:
                    self.sizer.time_scale = max(1e-6, float(scale))
                except ValueError:
                    pass
            # Which web server answered (its affinity cookie names it), whether or not we keep it:
            # the budget figures count the servers a user reached.
            cookies = getattr(resp, "cookies", None)
            value = cookies.get(AFFINITY_COOKIE) if cookies is not None else None
            if value:
                lane.servers.add(value[:16])

        return read

    # ------------------------------------------------------------------ lifecycle and state

    @property
    def service_root(self) -> str:
        """``{org_url}/api/data/v9.2/``."""
        return self.transport.service_root

    @property
    def lanes(self) -> list[Lane]:
        """One per application user."""
        return self.governor.lanes

    @property
    def parallelism(self) -> int:
        """Requests all users together may have in flight now (the governor's allowances)."""
        return self.governor.slots

    @property
    def stats(self) -> dict[str, Any]:
        """Counters since creation (requests, batches, operations, retries, throttled,
        retry_after_seconds_total, auth_refreshes, transport_errors, timeouts, settled_landed,
        settled_resent, errors_by_code), the dop hint, and :meth:`throughput`'s figures."""
        out = self._stats.snapshot()
        out["dop_hint"] = self.lanes[0].dop_hint
        out.update(self.throughput())
        return out

    def throughput(self) -> dict[str, Any]:
        """Measured server time per operation (per kind), budget in use, and per-user figures.

        ``budget_in_use`` is the server time all users accrued over the last 5 (modeled) minutes
        divided by what the service allows them on the web servers they reached (1,200 s per
        user per server); ``server_seconds_per_second`` is the rate sustained over that window.
        """
        users = self.governor.snapshot()
        window = sum(lane.window_seconds() for lane in self.lanes)
        servers = sum(max(1, len(lane.servers)) for lane in self.lanes)
        modeled_elapsed = max(1e-9, min(300.0, (time.monotonic() - self._started) * self.sizer.time_scale))
        return {
            "server_time": self.sizer.snapshot(),
            "budget_in_use": round(window / (EXEC_BUDGET_SECONDS * servers), 4),
            "server_seconds_per_second": round(window / modeled_elapsed, 2),
            "time_scale": self.sizer.time_scale,
            "users": users,
        }

    def close(self) -> None:
        """Stop the dispatcher and close the sessions this client created."""
        self.dispatcher.close()
        for lane in self.lanes:
            lane.transport.close()

    def __enter__(self) -> WebApiClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"WebApiClient({self.org_url!r}, auth={self.auth!r}, users={len(self.lanes)})"

    # ------------------------------------------------------------------ public operations

    def send(self, op: Operation) -> Result:
        """Send one operation as its own HTTP request (retry policy included), as the least busy user.

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
        lane = self.governor.acquire()
        outcome = "neutral"
        try:
            transport = lane.transport
            resp = transport.request(op.method.upper(), transport.url(op.path), data=data, headers=headers, what=op.describe())
        except TransportFailure as exc:
            result = Result(operation=op, status=0, error_code="TransportError", error_message=f"not executed or outcome unknown: {exc}")
            self._stats.count_errors([result])
            return result
        finally:
            self.governor.release(lane, outcome)
        result = result_from_answer(op, resp.status_code, parse_body(resp.content), resp.headers, resp.reason or "")
        self._stats.count("operations")
        self._stats.count_errors([result])
        return result

    def submit(self, items: Sequence[Operation | ChangeSet], *, continue_on_error: bool = True,
               first: bool = False) -> Job:
        """Queue ``items`` for ``$batch`` requests and return at once; ``.result()`` waits.

        What :meth:`execute` does, without waiting: the caller prepares its next chunk while
        this one is in flight. ``first`` queues them ahead of what is queued (lookups the
        caller waits for, see :meth:`.dispatch.Dispatcher.submit`).

        :raises ValueError: a change set is empty, holds a GET or exceeds a batch.
        """
        validate(items, self.max_batch_operations)
        return self.dispatcher.submit(items, continue_on_error=continue_on_error, first=first)

    def execute(self, items: Sequence[Operation | ChangeSet], *, continue_on_error: bool = True,
                first: bool = False) -> list[Result]:
        """Run ``items`` through ``$batch`` requests; one :class:`Result` per operation, in order.

        Items are cut into batches sized by the server time they are measured to take (at most
        ``max_batch_operations`` operations; a change set is never split) and sent over the
        application users with up to :attr:`parallelism` requests in flight. A bulk message
        tagged with a :class:`~mail2dataverse.operations.BulkTag` may be split, and then answers
        with one result per part. Within a failed change set the failing member carries the
        error and the others have status 0 and ``rolled_back=True``; operations the service
        never reached have status 0 and an ``error_message`` starting ``"not executed: "``; a
        batch whose answer was lost is settled by lookups (:mod:`.dispatch`): landed items get
        success results, the rest are sent again.

        :param continue_on_error: send ``Prefer: odata.continue-on-error`` so one failure does
            not stop the rest of its batch.
        :param first: queue ahead of what is queued (see :meth:`submit`).
        :raises ValueError: a change set is empty, holds a GET or exceeds a batch.
        :raises AuthError: no token could be obtained.
        """
        return self.submit(items, continue_on_error=continue_on_error, first=first).result()

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
