"""One HTTP exchange with the org under the retry policy, and the counters of every exchange.

:class:`Transport` owns the ``requests.Session`` (kept-alive connections), puts the token and
the OData headers on every request and applies the retry policy described in
:mod:`mail2dataverse.writers.webapi` (401 once with a fresh token; 429 after ``Retry-After``;
502/503/504 and dropped connections with jittered exponential backoff). It does not know what
a ``$batch`` is: the callers (:mod:`.batch_runner`, :mod:`.paging`, the client's ``send``) hand
it a method, a URL and bytes and get the final response back.

Every answer is shown to ``on_answer`` (the client reads ``x-ms-dop-hint`` for the governor,
the emulator's ``x-emulator-time-scale`` for the sizer and the affinity cookie naming the web
server there): per-answer server advice has one place to arrive.
"""

from __future__ import annotations

import email.utils
import http.client
import http.cookiejar
import logging
import os
import random as _random
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from typing import Any
from urllib.parse import urlsplit

import requests
import urllib3
from requests.adapters import HTTPAdapter

from mail2dataverse.auth import TokenProvider
from mail2dataverse.operations import Result
from mail2dataverse.writers.batch import quote_path

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
    """No HTTP answer after every retry (internal; turned into results or a WebApiError).

    ``unknown`` is true when the request may have reached the service (a read timeout, a
    connection cut while the answer was on its way): its writes may have landed.
    """

    def __init__(self, reason: str, attempts: int, *, unknown: bool = False):
        self.reason = reason
        self.attempts = attempts
        self.unknown = unknown
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


class HttpStats:
    """Thread-safe counters of one client: requests, batches, operations, retries, throttled
    (429s), retry_after_seconds_total, auth_refreshes, transport_errors, timeouts (requests whose
    answer never came in time or was the service's timeout), settled_landed / settled_resent
    (items of such requests found in the org / sent again), errors_by_code."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._stats: dict[str, Any] = {
            "requests": 0,
            "batches": 0,
            "operations": 0,
            "retries": 0,
            "throttled": 0,
            "retry_after_seconds_total": 0.0,
            "auth_refreshes": 0,
            "transport_errors": 0,
            "timeouts": 0,
            "settled_landed": 0,
            "settled_resent": 0,
            "errors_by_code": Counter(),
        }

    def count(self, key: str, n: float = 1) -> None:
        """Add ``n`` to counter ``key``."""
        with self._lock:
            self._stats[key] += n

    def count_retry(self, status: int, delay: float) -> None:
        """One resend after HTTP ``status``; a 429 also counts as throttled with its wait."""
        with self._lock:
            self._stats["retries"] += 1
            if status == 429:
                self._stats["throttled"] += 1
                self._stats["retry_after_seconds_total"] += delay

    def count_errors(self, results: Sequence[Result]) -> None:
        """Count every failed result by its error code (``NotExecuted`` / ``HTTP nnn`` without one)."""
        with self._lock:
            for r in results:
                if r.status >= 400 or (r.status == 0 and not r.rolled_back):
                    key = r.error_code or ("NotExecuted" if r.status == 0 else f"HTTP {r.status}")
                    self._stats["errors_by_code"][key] += 1

    def snapshot(self) -> dict[str, Any]:
        """A copy of the counters (``errors_by_code`` as a plain dict)."""
        with self._lock:
            out = dict(self._stats)
            out["errors_by_code"] = dict(self._stats["errors_by_code"])
            return out


class Transport:
    """Sends single HTTP requests to one org: token, headers, retries, ``Retry-After``.

    The parameters are :class:`~mail2dataverse.writers.webapi.WebApiClient`'s of the same
    names; ``session=None`` makes a session with a pool of ``pool_size`` connections that
    :meth:`close` closes. ``on_answer`` sees every HTTP response (before any retry decision).
    """

    def __init__(
        self,
        org_url: str,
        auth: TokenProvider,
        *,
        session: requests.Session | None,
        pool_size: int,
        timeout: float,
        max_retries: int,
        backoff_base: float,
        backoff_cap: float,
        verify: bool | str,
        sleep: Callable[[float], None],
        random: _random.Random | None,
        user_agent: str,
        stats: HttpStats,
        on_answer: Callable[[requests.Response], None] = lambda resp: None,
        keep_affinity: bool = False,
    ):
        self.org_url = org_url.rstrip("/")
        self.service_root = self.org_url + API_PATH
        self.auth = auth
        self.timeout = timeout
        self.max_retries = max_retries
        self.backoff_base = backoff_base
        self.backoff_cap = backoff_cap
        self.verify = verify
        self.user_agent = user_agent
        self.stats = stats
        self.on_answer = on_answer
        self._sleep = sleep
        self._random = random or _random.Random()
        self._owns_session = session is None
        self._env: dict[str, Any] = {}
        self._verify_sent = verify
        if session is None:
            session = requests.Session()
            # Our own retry loop decides; urllib3 must not resend anything by itself.
            adapter = HTTPAdapter(pool_connections=2, pool_maxsize=pool_size, max_retries=0)
            session.mount("https://", adapter)
            session.mount("http://", adapter)
            # What requests reads from the environment for every request (proxies and no_proxy,
            # the CA bundle variables, ~/.netrc), read once: every URL is on this org's host.
            # Per request it was half of requests' own overhead.
            self._env = {"proxies": requests.utils.get_environ_proxies(self.service_root),
                         "auth": requests.utils.get_netrc_auth(self.service_root)}
            if verify is True:
                self._verify_sent = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or True
            session.trust_env = False
        if not keep_affinity:
            # The org's load balancer pins a client holding its affinity cookie to one web
            # server, whose per-user limits then bind while the others idle; a cookie jar that
            # keeps nothing spreads requests over all of them (ServiceClient's
            # EnableAffinityCookie = false).
            session.cookies.set_policy(_KeepNoCookies())
        self.session = session

    def close(self) -> None:
        """Close the session if this transport created it."""
        if self._owns_session:
            self.session.close()

    def url(self, path: str) -> str:
        """The URL for ``path`` (quoted, under the service root), or an absolute URL of this org.

        :raises ValueError: an absolute URL of another host (the token goes to our org only).
        """
        if path.startswith(("http://", "https://")):
            # Absolute URLs (an @odata.nextLink) are already encoded; the token goes to our org only.
            if urlsplit(path).netloc != urlsplit(self.service_root).netloc:
                raise ValueError(f"refusing to send a request for {urlsplit(path).netloc} to another host than the org")
            return path
        return self.service_root + quote_path(path.lstrip("/"))

    def _backoff(self, attempt: int) -> float:
        return self._random.uniform(0, min(self.backoff_cap, self.backoff_base * (2**attempt)))

    def request(self, method: str, url: str, *, data: bytes | None, headers: dict[str, str], what: str,
                timeout: float | None = None, retry_throttle: bool = True, resend_unknown: bool = True) -> requests.Response:
        """Send one HTTP request under the retry policy; the final response, whatever its status.

        :param timeout: the read timeout for this request (default: the transport's).
        :param retry_throttle: sleep ``Retry-After`` and resend on 429 here; False returns the
            429 to the caller (the governor rests that user and sends the work elsewhere).
        :param resend_unknown: resend after a failure that may have reached the service (read
            timeout, connection cut after sending); False raises ``TransportFailure(unknown=True)``
            at once so the caller can find out what landed instead of resending blind.
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
                    method, url, data=data, headers=sent, timeout=(min(self.timeout, 30.0), timeout or self.timeout),
                    verify=self._verify_sent, allow_redirects=False, stream=True, **self._env,
                )
                read_whole(resp)
            except _TRANSPORT_ERRORS as exc:
                self.stats.count("transport_errors")
                reason = _describe_transport_error(exc)
                if not resend_unknown and _maybe_sent(exc):
                    log.warning("%s: %s; the outcome is unknown, settling it", what, reason)
                    raise TransportFailure(reason, attempt + 1, unknown=True) from None
                if _is_permanent(exc) or attempt >= self.max_retries:
                    log.warning("%s: %s; giving up after %d attempt(s)", what, reason, attempt + 1)
                    raise TransportFailure(reason, attempt + 1) from None
                delay = self._backoff(attempt)
                attempt += 1
                self.stats.count("retries")
                log.info("%s: %s; retry %d/%d in %.2fs", what, reason, attempt, self.max_retries, delay)
                self._sleep(delay)
                continue
            elapsed = time.monotonic() - started
            self.stats.count("requests")
            self.on_answer(resp)
            status = resp.status_code
            log.debug("%s -> %d %.3fs attempt=%d", what, status, elapsed, attempt + 1)
            if status == 401 and not refreshed:
                refreshed = force_refresh = True
                self.stats.count("auth_refreshes")
                log.info("%s: 401, renewing the access token and resending once", what)
                continue
            if status == 429 and not retry_throttle:
                return resp
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
                self.stats.count_retry(status, delay)
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


class _KeepNoCookies(http.cookiejar.DefaultCookiePolicy):
    """A cookie policy that accepts nothing, so no affinity cookie is ever sent back."""

    def set_ok(self, cookie: http.cookiejar.Cookie, request: Any) -> bool:
        """Refuse every cookie."""
        return False


_NOT_CONNECTED = tuple(
    cls for cls in (getattr(urllib3.exceptions, n, None) for n in ("NewConnectionError", "NameResolutionError")) if cls
)


def read_whole(resp: requests.Response) -> None:
    """Read the body of ``resp`` (sent with ``stream=True``) in one call, as ``resp.content``.

    requests' own read (``Response.content``) takes a body 10 KB at a time (its
    ``CONTENT_CHUNK_SIZE``): 28 trips through urllib3 and http.client for a 280 KB ``$batch``
    answer, about a third of the client's CPU for the exchange (``benchmarks/bench_http_read.py``;
    about 1 % of a cost-off W10k sync). ``iter_content(None)`` reads what is there in one go,
    through the same code and the same error wrapping (``ChunkedEncodingError``,
    ``ConnectionError`` on a read timeout) as ``resp.content`` itself, which then returns it. Once
    the body is read the connection goes back to the pool, as after requests' own read.
    """
    if resp._content is False and resp.raw is not None and resp.status_code != 0:  # (Response.content's tests)
        resp._content = b"".join(resp.iter_content(chunk_size=None)) or b""
    resp.content  # marks it read, as requests' Session.send does when not streaming


def _maybe_sent(exc: BaseException) -> bool:
    """Whether a failed request may have reached the service (so its writes may have landed)."""
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return False
    if isinstance(exc, requests.exceptions.ConnectionError):
        cause = exc.args[0] if exc.args else None
        reason = getattr(cause, "reason", cause)
        # No connection was ever made: nothing was sent.
        if isinstance(reason, _NOT_CONNECTED):
            return False
    return True


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
