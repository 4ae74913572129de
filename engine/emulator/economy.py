"""The service's economics around each request: which web server, whose budget, what it cost.

:class:`Economy` joins the parts — the :class:`~.webservers.WebFarm` (affinity cookie, one
:class:`~.limits.Governor` per user and server), the :class:`~.costs.CostModel` and the
:class:`~.clock.ModeledClock` — into the three steps the HTTP layer runs per request:

1. :meth:`Economy.admit` picks the web server and takes a slot in the user's budget there, or
   answers the 429;
2. :meth:`Economy.execute` runs the work under a :class:`~.costs.RequestMeter`, answers the
   timeout error when the modeled time passes the 2-minute limit, and holds the response until
   the modeled time has passed (sleeping);
3. :meth:`Economy.release` accrues the execution time and frees the slot; :meth:`Economy.finish`
   adds the headers (affinity cookie, ``x-ms-ratelimit-*``, the time scale).

See docs/emulator.md, "What work costs", for the model and its sources.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable

from . import costs, errors
from .clock import ModeledClock, format_seconds
from .limits import Governor, Limits, Throttled
from .webservers import WebFarm
from .wire import Request, Response, error_response


def timeout_error() -> errors.ODataError:
    """The answer to a request cut at the 2-minute limit (the service's SQL timeout; see the docs)."""
    return errors.ODataError(500, "0x80044151", "SQL timeout expired. CRM ErrorCode: -2147204783 Sql ErrorCode: "
                                                "-2146232060 Sql Number: -2")


@dataclass
class Ticket:
    """One admitted request: where it went, whose budget it uses, what it has cost so far."""

    server: int
    set_cookie: bool
    governor: Governor
    exec_s: float = 0.0
    timed_out: bool = False


class Economy:
    """Web servers, budgets, costs and the modeled clock of one emulator."""

    def __init__(self, *, cost_model: costs.CostModel, clock: ModeledClock, limits: Limits, web_servers: int = 1,
                 seed: int = 0, tls: bool = False):
        self.cost_model = cost_model
        self.clock = clock
        self.tls = tls
        self._web_servers = web_servers
        self._seed = seed
        self.farm = WebFarm(web_servers, limits, seed=seed)

    @property
    def limits(self) -> Limits:
        """The service-protection settings in force."""
        return self.farm.limits

    def set_limits(self, limits: Limits) -> None:
        """New thresholds; every budget starts empty (the affinity cookies stay valid)."""
        self.farm = WebFarm(self._web_servers, limits, seed=self._seed)

    # ------------------------------------------------------------------ per request

    def route(self, req: Request) -> tuple[int, bool]:
        """(web server, whether its response sets the affinity cookie) for ``req``."""
        return self.farm.route(req.headers.get("cookie"))

    def admit(self, req: Request, route: tuple[int, bool]) -> Ticket:
        """Take the user's slot on the routed server; raises :class:`~.limits.Throttled`."""
        server, set_cookie = route
        gov = self.farm.governor(req.headers.get("authorization", ""), server)
        gov.admit(self.clock.now())
        return Ticket(server, set_cookie, gov)

    def execute(self, ticket: Ticket, work: Callable[[], Response], *, latency_s: float, op_latency_s: float,
                extra_s: float = 0.0) -> Response:
        """Run ``work`` metered; answer when its modeled time is up (the timeout error past the limit).

        ``latency_s`` is network time (waited, not execution time); ``extra_s`` is server time the
        fault profile adds (a slow response). Under a model that charges nothing the execution time
        is the emulator's own processing time, so the limits still see the work a request made.
        """
        clock = self.clock
        clock.sleep(latency_s)
        limit = self.limits.request_timeout_s
        meter = costs.RequestMeter(self.cost_model, limit=limit, op_latency=op_latency_s)
        started = clock.now()
        cpu_started = time.perf_counter()
        with costs.metering(meter):
            try:
                meter.charge("request")
                resp = work()
                if extra_s:
                    meter.charge_seconds("slow", extra_s)
            except costs.RequestTimedOut:
                ticket.timed_out = True
                resp = error_response(timeout_error())
        processing = clock.to_modeled(time.perf_counter() - cpu_started)
        modeled = limit if ticket.timed_out else meter.total
        ticket.exec_s = modeled if self.cost_model.charges or ticket.timed_out else modeled + processing
        clock.sleep_until(started + modeled)
        return resp

    def release(self, ticket: Ticket) -> None:
        """Accrue the request's execution time to its budget and free its concurrency slot."""
        ticket.governor.release(self.clock.now(), ticket.exec_s, timed_out=ticket.timed_out)

    # ------------------------------------------------------------------ answers

    def throttled_response(self, refusal: Throttled, route: tuple[int, bool]) -> Response:
        """The 429 for a refusal: the service's body, ``Retry-After`` in real seconds, no rate headers."""
        err = errors.ODataError(429, refusal.code, refusal.message,
                                headers={"Retry-After": format_seconds(self.clock.to_real(refusal.retry_after))})
        return self.finish(error_response(err), route, None)

    def injected_throttle(self, retry_after_s: float, route: tuple[int, bool]) -> Response:
        """A randomly injected request-count 429 (fault profile ``429=R``)."""
        refusal = Throttled("requests", retry_after_s, self.limits)
        return self.throttled_response(refusal, route)

    def finish(self, resp: Response, route: tuple[int, bool], ticket: Ticket | None) -> Response:
        """Add the affinity cookie, the time scale and (for admitted requests) the budget headers."""
        server, set_cookie = route
        if set_cookie:
            resp.headers.extend(self.farm.set_cookie_headers(server, self.tls))
        if ticket is not None:
            reqs, exec_left = ticket.governor.remaining(self.clock.now())
            resp.headers.append(("x-ms-ratelimit-burst-remaining-xrm-requests", str(reqs)))
            resp.headers.append(("x-ms-ratelimit-time-remaining-xrm-requests", f"{exec_left:,.2f}"))
        if self.clock.scale != 1:
            resp.headers.append(("x-emulator-time-scale", f"{self.clock.scale:g}"))
        return resp

    # ------------------------------------------------------------------ the report

    def usage(self) -> dict:
        """``GET /_emulator/usage``: the clock, the cost model, and per user and server usage."""
        return {"clock": self.clock.describe(), "cost_model": self.cost_model.describe(),
                **self.farm.usage(self.clock.now())}

    def reset_usage(self) -> None:
        """``DELETE /_emulator/usage``: forget every budget and counter."""
        self.farm.reset()
