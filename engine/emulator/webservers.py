"""The org's web servers behind a load balancer with an affinity cookie, and their usage report.

"Each web server available to your environment will enforce these limits independently. Most
environments will have more than one web server." (api-limits.md). The load balancer in front of
them sets an ``ARRAffinity`` cookie on the first response so later requests stick to that server
(reference ``throughput-on-a-real-org.md`` §4). Here:

* a request carrying a valid ``ARRAffinity`` (or ``ARRAffinitySameSite``) cookie goes to that
  server;
* one without goes to the next server in **round robin** order (deterministic, so tests and
  benchmarks replay; the real balancer's algorithm is not published), and its response sets the
  cookie for the server it went to;
* every (user, server) pair has its own :class:`~.limits.Governor`. Users are told apart by their
  bearer token, which never leaves this module: the report names them ``user1``, ``user2``, ...
  in order of first appearance, with the first 8 hex digits of the token's SHA-256.
"""

from __future__ import annotations

import hashlib
import itertools
import threading
from http.cookies import CookieError, SimpleCookie

from .limits import CONCURRENCY, EXECUTION, REQUESTS, Governor, Limits

COOKIES = ("ARRAffinity", "ARRAffinitySameSite")


class WebFarm:
    """``n`` web servers, the affinity cookie that picks one, and a governor per user and server."""

    def __init__(self, n: int = 1, limits: Limits | None = None, *, seed: int = 0):
        if not isinstance(n, int) or n < 1:
            raise ValueError(f"the number of web servers must be at least 1, got {n!r}")
        self.n = n
        self.limits = limits or Limits()
        self._seed = seed
        self._affinity = [hashlib.sha256(f"mail2dataverse-emulator:{seed}:{i}".encode()).hexdigest() for i in range(n)]
        self._by_affinity = {value: i for i, value in enumerate(self._affinity)}
        self._next = itertools.count()
        self._lock = threading.Lock()
        self._governors: dict[tuple[str, int], Governor] = {}
        self._users: dict[str, str] = {}

    # ------------------------------------------------------------------ routing

    def route(self, cookie_header: str | None) -> tuple[int, bool]:
        """(server index, whether the response must set the affinity cookie) for a request."""
        server = self._server_of(cookie_header)
        if server is not None:
            return server, False
        with self._lock:
            return next(self._next) % self.n, True

    def _server_of(self, cookie_header: str | None) -> int | None:
        if not cookie_header or "ARRAffinity" not in cookie_header:
            return None
        try:
            jar = SimpleCookie(cookie_header)
        except CookieError:
            return None
        for name in COOKIES:
            morsel = jar.get(name)
            if morsel is not None and morsel.value in self._by_affinity:
                return self._by_affinity[morsel.value]
        return None

    def set_cookie_headers(self, server: int, secure: bool) -> list[tuple[str, str]]:
        """The ``Set-Cookie`` headers pinning a client to ``server``.

        ``Secure`` only over TLS: a client keeps a Secure cookie from a plain-HTTP origin but never
        sends it back, which would silently turn affinity off against ``http://127.0.0.1``.
        """
        value = self._affinity[server]
        headers = [("Set-Cookie", f"ARRAffinity={value}; Path=/; HttpOnly" + ("; Secure" if secure else ""))]
        if secure:
            headers.append(("Set-Cookie", f"ARRAffinitySameSite={value}; Path=/; HttpOnly; SameSite=None; Secure"))
        return headers

    def affinity_value(self, server: int) -> str:
        """The cookie value that routes to ``server`` (for tests and clients that pin deliberately)."""
        return self._affinity[server]

    # ------------------------------------------------------------------ budgets

    def governor(self, token: str, server: int) -> Governor:
        """The budget of the user holding ``token`` on ``server`` (made on first use)."""
        key = (token, server)
        gov = self._governors.get(key)
        if gov is None:
            with self._lock:
                gov = self._governors.get(key)
                if gov is None:
                    if token not in self._users:
                        self._users[token] = f"user{len(self._users) + 1}"
                    gov = self._governors[key] = Governor(self.limits)
        return gov

    def reset(self) -> None:
        """Forget every budget and counter (the affinity values and round robin stay)."""
        with self._lock:
            self._governors.clear()
            self._users.clear()

    def usage(self, now: float) -> dict:
        """Per user and server: requests, modeled execution time, throttles, peak concurrency, timeouts."""
        with self._lock:
            items = sorted(self._governors.items(), key=lambda kv: (int(self._users[kv[0][0]][4:]), kv[0][1]))
            users = dict(self._users)
        rows = []
        totals = {"requests": 0, "execution_seconds": 0.0, "timeouts": 0,
                  "throttled": {REQUESTS: 0, EXECUTION: 0, CONCURRENCY: 0}}
        for (token, server), gov in items:
            row = {
                "user": users[token],
                "user_fingerprint": hashlib.sha256(token.encode()).hexdigest()[:8] if token else "anonymous",
                "server": server,
                "requests": gov.requests,
                "execution_seconds": round(gov.execution_s, 3),
                "throttled": dict(gov.throttled),
                "escalations": gov.escalations,
                "peak_concurrency": gov.peak_concurrency,
                "timeouts": gov.timeouts,
                "window": gov.window(now),
            }
            rows.append(row)
            totals["requests"] += gov.requests
            totals["execution_seconds"] += gov.execution_s
            totals["timeouts"] += gov.timeouts
            for kind, count in gov.throttled.items():
                totals["throttled"][kind] += count
        totals["execution_seconds"] = round(totals["execution_seconds"], 3)
        per_second = self.limits.max_exec_s / self.limits.window_s
        return {
            "web_servers": self.n,
            "users": len(users),
            "limits": self.limits.describe(),
            # The bound a perfect client reaches: every user on every server at its execution-time
            # rate. Benchmarks divide total execution time by it to get the shortest possible run.
            "execution_seconds_per_second_per_user_and_server": per_second,
            "usage": rows,
            "totals": totals,
        }
