"""The three service-protection limits, for one user on one web server, on the modeled clock.

Source: Microsoft's "Service protection API limits" page (reference
``throughput-on-a-real-org.md`` §1, ``dataverse-web-api.md`` §7). Per user, per web server, over
a 5-minute sliding window: 6,000 requests, 1,200 s of combined execution time, 52 concurrent
requests. The page adds two behaviours this module models:

* **Lag** — "you can expect to exceed the number of requests and execution time limits for a 5
  minute period before the service protection API limits will take effect. However, exceeding
  the number of concurrent requests will immediately return an error." The page gives no figure.
  Here a request-count or execution-time excess bites once it has lasted ``lag_s`` modeled seconds
  (first seen over → still over ``lag_s`` later); the concurrency limit bites at once.
* **Escalation** — "If the application continues to send such demanding requests, the duration
  will be extended". When a limit bites, the user is refused until the window has drained below
  the limit (that is the ``Retry-After``). Each request that still arrives during that rest,
  later than ``grace_s`` after the rest began (requests already on their way are not "continuing"),
  extends it by ``escalation_s``, up to one window from now.

A refused request is not counted as a request and accrues no execution time. The concurrency
limit's ``Retry-After`` is ``concurrency_retry_after_s``: the slot frees as soon as any request
ends, which the service cannot promise a time for.
"""

from __future__ import annotations

import collections
import math
import threading
from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class Limits:
    """Thresholds and timing of the service-protection model (modeled seconds)."""

    max_requests: int = 6000
    max_exec_s: float = 1200.0
    max_concurrent: int = 52
    window_s: float = 300.0
    lag_s: float = 30.0
    escalation_s: float = 5.0
    grace_s: float = 1.0
    concurrency_retry_after_s: float = 1.0
    request_timeout_s: float = 120.0

    def __post_init__(self):
        for name, value in asdict(self).items():
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value >= 0):
                raise ValueError(f"service-protection setting {name} must be a non-negative number, got {value!r}")
        if self.window_s <= 0:
            raise ValueError("the service-protection window must be longer than 0 s")

    def describe(self) -> dict:
        """The settings, for the usage report."""
        return asdict(self)


REQUESTS, EXECUTION, CONCURRENCY = "requests", "execution_time", "concurrency"
CODES = {REQUESTS: "0x80072322", EXECUTION: "0x80072321", CONCURRENCY: "0x80072326"}


def message(kind: str, limits: Limits) -> str:
    """The service's message for a refusal of ``kind`` (numbers follow the configured limits).

    The execution-time message is the one a live org answered (third-party live test; the
    documentation's table prints the same text with "1,200,000" and a double space).
    """
    window = f"{limits.window_s:g}"
    if kind == REQUESTS:
        return f"Number of requests exceeded the limit of {limits.max_requests} over time window of {window} seconds."
    if kind == EXECUTION:
        return (f"Combined execution time of incoming requests exceeded limit of {round(limits.max_exec_s * 1000)} "
                f"milliseconds over time window of {window} seconds. Decrease number of concurrent requests or "
                "reduce the duration of requests and try again later.")
    return f"Number of concurrent requests exceeded the limit of {limits.max_concurrent}."


class Throttled(Exception):
    """A refusal: which limit, and the modeled seconds the user should wait (``Retry-After``)."""

    def __init__(self, kind: str, retry_after: float, limits: Limits):
        super().__init__(message(kind, limits))
        self.kind = kind
        self.code = CODES[kind]
        self.message = message(kind, limits)
        self.retry_after = max(1, math.ceil(retry_after - 1e-9))  # whole modeled seconds, as the service sends


class Governor:
    """One user's budget on one web server: sliding windows, concurrency, rest periods, counters."""

    def __init__(self, limits: Limits):
        self.limits = limits
        self._lock = threading.Lock()
        self._requests: collections.deque[float] = collections.deque()
        self._execs: collections.deque[tuple[float, float]] = collections.deque()
        self._exec_in_window = 0.0
        self._concurrent = 0
        self._over_since: dict[str, float | None] = {REQUESTS: None, EXECUTION: None}
        self._rest_until = -math.inf
        self._rest_kind = REQUESTS
        self._rest_started = -math.inf
        # Counters for the usage report (over the whole run, not the window).
        self.requests = 0
        self.execution_s = 0.0
        self.throttled = {REQUESTS: 0, EXECUTION: 0, CONCURRENCY: 0}
        self.peak_concurrency = 0
        self.timeouts = 0
        self.escalations = 0

    # ------------------------------------------------------------------ admission

    def admit(self, now: float) -> None:
        """Take a concurrency slot and count the request, or raise :class:`Throttled`."""
        lim = self.limits
        with self._lock:
            self._expire(now)
            if self._concurrent >= lim.max_concurrent:
                self.throttled[CONCURRENCY] += 1
                raise Throttled(CONCURRENCY, lim.concurrency_retry_after_s, lim)
            if now < self._rest_until:
                if now - self._rest_started > lim.grace_s:
                    self._rest_until = min(self._rest_until + lim.escalation_s, now + lim.window_s)
                    self.escalations += 1
                self.throttled[self._rest_kind] += 1
                raise Throttled(self._rest_kind, self._rest_until - now, lim)
            for kind, free_at in ((REQUESTS, self._requests_free_at()), (EXECUTION, self._exec_free_at())):
                if free_at is None:
                    self._over_since[kind] = None
                    continue
                since = self._over_since[kind]
                if since is None:
                    since = self._over_since[kind] = now
                if now - since >= lim.lag_s:
                    self._over_since[kind] = None
                    self._rest_kind, self._rest_started, self._rest_until = kind, now, max(free_at, now)
                    self.throttled[kind] += 1
                    raise Throttled(kind, self._rest_until - now, lim)
            self._requests.append(now)
            self.requests += 1
            self._concurrent += 1
            self.peak_concurrency = max(self.peak_concurrency, self._concurrent)

    def release(self, now: float, exec_s: float, *, timed_out: bool = False) -> None:
        """An admitted request ended at ``now`` having used ``exec_s`` modeled seconds of server time."""
        with self._lock:
            self._concurrent -= 1
            if exec_s > 0:
                self._execs.append((now, exec_s))
                self._exec_in_window += exec_s
                self.execution_s += exec_s
            if timed_out:
                self.timeouts += 1

    # ------------------------------------------------------------------ what is left

    def remaining(self, now: float) -> tuple[int, float]:
        """(requests, execution seconds) left in the window, for the ``x-ms-ratelimit-*`` headers."""
        with self._lock:
            self._expire(now)
            return (max(0, self.limits.max_requests - len(self._requests)),
                    max(0.0, self.limits.max_exec_s - self._exec_in_window))

    def window(self, now: float) -> dict:
        """The current window's contents, for the usage report."""
        with self._lock:
            self._expire(now)
            return {"requests": len(self._requests), "execution_seconds": round(self._exec_in_window, 3),
                    "concurrent": self._concurrent,
                    "resting_for_seconds": round(max(0.0, self._rest_until - now), 3)}

    # ------------------------------------------------------------------ internals (lock held)

    def _expire(self, now: float) -> None:
        horizon = now - self.limits.window_s
        reqs, execs = self._requests, self._execs
        while reqs and reqs[0] <= horizon:
            reqs.popleft()
        while execs and execs[0][0] <= horizon:
            self._exec_in_window -= execs.popleft()[1]
        if not execs:
            self._exec_in_window = 0.0  # no float drift once the window is empty

    def _requests_free_at(self) -> float | None:
        """When the request count drops below the limit again, or None if it is below now."""
        n, limit = len(self._requests), self.limits.max_requests
        if n < limit:
            return None
        return self._requests[n - limit] + self.limits.window_s

    def _exec_free_at(self) -> float | None:
        """When the window's execution time drops below the limit again, or None if it is below now."""
        excess = self._exec_in_window - self.limits.max_exec_s
        if excess < 0:
            return None
        for at, seconds in self._execs:
            excess -= seconds
            if excess < 0:
                return at + self.limits.window_s
        return self._execs[-1][0] + self.limits.window_s if self._execs else None
