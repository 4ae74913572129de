"""The governor: how many requests each application user has in flight, and when a user rests.

The service protects itself per user and per web server with three limits over a 5-minute
window (reference ``throughput-on-a-real-org.md`` §1): 6,000 requests, 1,200 s of combined
execution time, 52 concurrent requests. Microsoft's advice is to let the server say how much it
takes: start low, raise the rate until the service throttles, then hold what it sustains and
honour ``Retry-After``. Per user (one :class:`Lane` each) the governor

* starts at the service's ``x-ms-dop-hint`` (its recommended degree of parallelism);
* raises the allowance by :data:`RAMP_STEP` (3) requests per answer while nothing throttles (a
  quadrupling per round trip), never above ``max_parallel`` nor the concurrency limit of 52:
  that cap is the service's own limit, so the fastest ramp can overshoot nothing the service
  does not allow, while a doubling left the first second of a run (a few dozen requests of
  accounts and contacts) waiting for it: 1.1 s of a two-user W10k's 30 on the realistic model;
* on a 429 rests that user for ``Retry-After`` (the other users keep working), cuts its
  allowance to three quarters and from then on raises it by one per allowance's worth of answers
  (additive increase: it holds the rate the service sustains and probes slowly above it);
* on a timeout or the SQL timeout cuts the allowance the same way, without resting;
* cuts once per round trip: the answers of requests that were already in flight when the
  allowance was cut say nothing about the new allowance (TCP's rule for the same reason). When a
  user's budget runs out, or it passes the concurrency limit, every request in flight is
  answered 429 at once; a cut per 429 took the allowance down to 1, from where additive increase
  needs hundreds of answers to come back.

:meth:`Governor.acquire` hands out a lane with a free slot (the least loaded of those not
resting); :meth:`Governor.release` gives the slot back with what the answer said.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any

#: The service's concurrent-request limit per user and web server.
CONCURRENCY_LIMIT = 52
#: The service-protection window and its execution-time budget per user and web server.
WINDOW_SECONDS = 300.0
EXEC_BUDGET_SECONDS = 1200.0
#: Answers this many times slower per operation than the fastest mean the server is saturated;
#: up to HEALTHY times slower the allowance still grows (measurements are noisy).
SATURATED = 3.0
HEALTHY = 2.0
#: The allowance before the service said anything.
START_PARALLEL = 4
#: Requests added to the allowance per answer while nothing throttles (see the module's docstring).
RAMP_STEP = 3


class Lane:
    """One application user: its transport, its allowance of requests in flight, its rest, its figures."""

    def __init__(self, name: str, transport: Any, *, cap: int, clock: Callable[[], float] = time.monotonic):
        self.name = name
        self.transport = transport
        self.cap = max(1, min(cap, CONCURRENCY_LIMIT))
        self.allowance = float(min(self.cap, START_PARALLEL))
        self.ramping = True
        self.in_flight = 0
        self.resting_until = 0.0
        self.dop_hint: int | None = None
        self._clock = clock
        #: affinity-cookie values seen in answers: which web servers this user has reached
        self.servers: set[str] = set()
        self.figures: dict[str, float] = {
            "requests": 0, "operations": 0, "server_seconds": 0.0, "throttled": 0,
            "rested_seconds": 0.0, "timeouts": 0, "peak_in_flight": 0, "concurrency_cuts": 0,
        }
        self._recent: deque[tuple[float, float]] = deque()  # (when, modeled server seconds)

    @property
    def cuts(self) -> int:
        """How often the allowance was cut: a request records it when sent (see Governor.release)."""
        return int(self.figures["concurrency_cuts"])

    @property
    def slots(self) -> int:
        """Requests this user may have in flight now."""
        return max(1, min(self.cap, int(self.allowance)))

    def free(self, now: float) -> bool:
        """Whether a request may start on this lane now."""
        return now >= self.resting_until and self.in_flight < self.slots

    def adopt_hint(self, hint: int) -> None:
        """The service's ``x-ms-dop-hint``: where the allowance starts (raised later by answers)."""
        if hint >= 1 and self.dop_hint is None:
            self.dop_hint = hint
            self.allowance = float(min(hint, self.cap))

    def record(self, operations: int, server_seconds: float, modeled_now: float) -> None:
        """Count one answered request and its server time (for the budget figures)."""
        f = self.figures
        f["requests"] += 1
        f["operations"] += operations
        f["server_seconds"] += server_seconds
        self._recent.append((modeled_now, server_seconds))
        while self._recent and self._recent[0][0] < modeled_now - WINDOW_SECONDS:
            self._recent.popleft()

    def window_seconds(self) -> float:
        """Server seconds this user accrued in the last 5 (modeled) minutes."""
        return sum(s for _, s in self._recent)

    def snapshot(self) -> dict[str, Any]:
        """This user's figures for the report."""
        f = self.figures
        out: dict[str, Any] = {"user": self.name, **{k: (round(v, 2) if isinstance(v, float) else v) for k, v in f.items()}}
        out["parallel_now"] = self.slots
        out["web_servers_seen"] = len(self.servers)
        return out


class Governor:
    """Hands out request slots over the lanes (application users) and adapts their allowances."""

    def __init__(self, lanes: Sequence[Lane], *, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] | None = None):
        if not lanes:
            raise ValueError("at least one application user is needed")
        self.lanes = list(lanes)
        self._clock = clock
        # None: wait for rests on the condition (a slot freed meanwhile wakes us); tests inject
        # a sleep that records the wait and moves their clock instead.
        self._sleep = sleep
        self._cond = threading.Condition(threading.Lock())
        self._closed = False

    @property
    def slots(self) -> int:
        """Requests all users together may have in flight now (resting users included)."""
        return sum(lane.slots for lane in self.lanes)

    def acquire(self, *, prefer: Lane | None = None) -> Lane:
        """A lane with a free slot, its slot taken; waits while every lane is full or resting.

        :param prefer: take this lane if it is free (a request settling on the user that sent it).
        :raises RuntimeError: the governor was closed while waiting.
        """
        with self._cond:
            while True:
                if self._closed:
                    raise RuntimeError("the Web API client is closed")
                now = self._clock()
                free = [lane for lane in self.lanes if lane.free(now)]
                if free:
                    lane = prefer if prefer in free else min(free, key=lambda ln: (ln.in_flight / ln.slots, ln.in_flight))
                    lane.in_flight += 1
                    lane.figures["peak_in_flight"] = max(lane.figures["peak_in_flight"], lane.in_flight)
                    return lane
                wake = [lane.resting_until - now for lane in self.lanes if lane.resting_until > now]
                if wake and self._sleep is not None and all(ln.in_flight < ln.slots for ln in self.lanes):
                    # Only rests stand in the way: wait them out.
                    self._cond.release()
                    try:
                        self._sleep(min(wake))
                    finally:
                        self._cond.acquire()
                else:
                    self._cond.wait(timeout=min(wake) if wake else None)

    def release(self, lane: Lane, outcome: str = "ok", *, retry_after: float | None = None, slowdown: float = 1.0,
                sent_at_cut: int | None = None) -> None:
        """Give ``lane``'s slot back with the answer's ``outcome``.

        ``"ok"`` raises the allowance (by :data:`RAMP_STEP` while ramping, else by one per
        allowance's worth of answers), unless the answer was ``slowdown`` times slower per
        operation than the fastest (above :data:`SATURATED`: the server slows down as more is
        sent, so more in flight only queues; the allowance then steps back); ``"throttled"``
        rests the lane for ``retry_after`` seconds and cuts its allowance; ``"slow"`` (timeout,
        SQL timeout) cuts it without rest; ``"neutral"`` (an error that says nothing about load)
        leaves it.

        :param sent_at_cut: ``lane.cuts`` when the request was sent. A throttled or slow answer
            to a request sent before the allowance's last cut rests the lane but cuts nothing
            more (None: cut in any case).
        """
        with self._cond:
            lane.in_flight -= 1
            if outcome == "ok" and slowdown > SATURATED:
                lane.ramping = False
                lane.allowance = max(1.0, lane.allowance - 1.0 / max(1.0, lane.allowance))
            elif outcome == "ok" and slowdown <= HEALTHY:
                lane.allowance = min(float(lane.cap), lane.allowance + (RAMP_STEP if lane.ramping else 1.0 / max(1.0, lane.allowance)))
            elif outcome in ("throttled", "slow"):
                lane.ramping = False
                if sent_at_cut is None or sent_at_cut >= lane.cuts:
                    lane.allowance = max(1.0, lane.allowance * 0.75)
                    lane.figures["concurrency_cuts"] += 1
                if outcome == "throttled":
                    lane.figures["throttled"] += 1
                    wait = max(0.0, retry_after or 0.0)
                    now = self._clock()
                    until = now + wait
                    if until > lane.resting_until:
                        lane.figures["rested_seconds"] += until - max(now, lane.resting_until)
                        lane.resting_until = until
                else:
                    lane.figures["timeouts"] += 1
            self._cond.notify_all()

    def close(self) -> None:
        """Wake every waiter with an error: no more requests will be sent."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def snapshot(self) -> list[dict[str, Any]]:
        """Per-user figures."""
        with self._cond:
            return [lane.snapshot() for lane in self.lanes]
