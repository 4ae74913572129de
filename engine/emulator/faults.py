"""Latency, service-protection limits and injected faults.

Two things live here:

* :class:`FaultProfile` — what to inject (latency, random 429/503, dropped connections, slow
  responses) and the service-protection thresholds, parsed from the CLI's ``--faults`` string::

      429=0.1,503=0.02,drop=0.01,drop_after=0.01,slow=0.05:200ms,seed=7,
      latency=5ms,op_latency=1ms,requests=6000,exec=1200000ms,concurrent=52,window=300s,retry_after=1

* :class:`ServiceProtection` — the three real limits (requests per window, combined execution
  time per window, concurrent requests), evaluated per user (bearer token) over a sliding
  window, answering with the real 429 codes, messages and ``Retry-After`` (integer seconds).
"""

from __future__ import annotations

import collections
import math
import random
import threading
import time
from dataclasses import dataclass, fields

from . import errors


def _duration_ms(text: str) -> float:
    """``200ms`` / ``2s`` / ``1.5`` (milliseconds when unitless) → milliseconds."""
    text = text.strip().lower()
    if text.endswith("ms"):
        return float(text[:-2])
    if text.endswith("s"):
        return float(text[:-1]) * 1000
    return float(text)


@dataclass
class FaultProfile:
    """What the emulator injects, and its service-protection thresholds (real defaults)."""

    rate_429: float = 0.0
    rate_503: float = 0.0
    rate_drop: float = 0.0  # close the socket before processing the request
    rate_drop_after: float = 0.0  # process (commit) the request, then close without answering
    rate_slow: float = 0.0
    slow_ms: float = 0.0
    latency_ms: float = 0.0  # added to every request
    op_latency_ms: float = 0.0  # added per operation (each $batch part, each bulk target)
    seed: int | None = None
    max_requests: int = 6000
    max_exec_ms: float = 1_200_000
    max_concurrent: int = 52
    window_s: float = 300.0
    retry_after_s: int = 1  # Retry-After for injected 429s and the concurrency limit

    _KEYS = {
        "429": "rate_429", "503": "rate_503", "drop": "rate_drop", "drop_after": "rate_drop_after",
        "seed": "seed", "latency": "latency_ms", "op_latency": "op_latency_ms", "requests": "max_requests",
        "exec": "max_exec_ms", "concurrent": "max_concurrent", "window": "window_s", "retry_after": "retry_after_s",
    }

    @classmethod
    def parse(cls, text: str) -> "FaultProfile":
        """Parse the ``--faults`` profile string (see module docstring); raises ValueError."""
        profile = cls()
        for item in filter(None, (p.strip() for p in text.split(","))):
            if "=" not in item:
                raise ValueError(f"fault profile item {item!r} is not key=value")
            key, value = (s.strip() for s in item.split("=", 1))
            if key == "slow":
                rate, _, dur = value.partition(":")
                profile.rate_slow = float(rate)
                profile.slow_ms = _duration_ms(dur) if dur else 1000.0
                continue
            attr = cls._KEYS.get(key)
            if attr is None:
                raise ValueError(f"unknown fault profile key {key!r} (known: slow, {', '.join(cls._KEYS)})")
            if attr in ("latency_ms", "op_latency_ms", "max_exec_ms"):
                setattr(profile, attr, _duration_ms(value))
            elif attr == "window_s":
                setattr(profile, attr, _duration_ms(value) / 1000 if value.lower().endswith("s") else float(value))
            elif attr in ("seed", "max_requests", "max_concurrent", "retry_after_s"):
                setattr(profile, attr, int(value))
            else:
                rate = float(value)
                if not 0.0 <= rate <= 1.0:
                    raise ValueError(f"rate for {key!r} must be between 0 and 1")
                setattr(profile, attr, rate)
        return profile

    def describe(self) -> str:
        """The non-default settings, for logs."""
        default = FaultProfile()
        return ",".join(f"{f.name}={getattr(self, f.name)}" for f in fields(self)
                        if getattr(self, f.name) != getattr(default, f.name)) or "none"


class FaultInjector:
    """Seeded random decisions for one request: drop, 503, 429, slow, drop-after."""

    def __init__(self, profile: FaultProfile, seed: int = 0):
        self.profile = profile
        self._rng = random.Random(profile.seed if profile.seed is not None else seed)
        self._lock = threading.Lock()

    def decide(self) -> dict[str, bool]:
        """Draw every fault for one request in a fixed order, so a seed replays the same run."""
        p = self.profile
        with self._lock:
            draws = [self._rng.random() for _ in range(5)]
        return {
            "drop": draws[0] < p.rate_drop,
            "503": draws[1] < p.rate_503,
            "429": draws[2] < p.rate_429,
            "slow": draws[3] < p.rate_slow,
            "drop_after": draws[4] < p.rate_drop_after,
        }


def throttle_error(code: str, message: str, retry_after: int) -> errors.ODataError:
    """A 429 with the service-protection body and an integer ``Retry-After``."""
    return errors.ODataError(429, code, message, headers={"Retry-After": str(max(1, int(retry_after)))})


class ServiceProtection:
    """The three service-protection limits, per user over a sliding window."""

    def __init__(self, profile: FaultProfile):
        self.profile = profile
        self._lock = threading.Lock()
        self._requests: dict[str, collections.deque] = collections.defaultdict(collections.deque)
        self._exec: dict[str, collections.deque] = collections.defaultdict(collections.deque)
        self._concurrent: dict[str, int] = collections.defaultdict(int)

    def requests_limit_error(self) -> errors.ODataError:
        """The request-count 429 (also used for randomly injected throttling)."""
        p = self.profile
        return throttle_error(
            "0x80072322",
            f"Number of requests exceeded the limit of {p.max_requests} over time window of "
            f"{int(p.window_s)} seconds.",
            p.retry_after_s,
        )

    def enter(self, user: str) -> None:
        """Admit a request or raise the 429 of the first limit it breaks."""
        p = self.profile
        now = time.monotonic()
        with self._lock:
            reqs = self._requests[user]
            execs = self._exec[user]
            while reqs and reqs[0] <= now - p.window_s:
                reqs.popleft()
            while execs and execs[0][0] <= now - p.window_s:
                execs.popleft()
            if self._concurrent[user] >= p.max_concurrent:
                raise throttle_error(
                    "0x80072326", f"Number of concurrent requests exceeded the limit of {p.max_concurrent}.",
                    p.retry_after_s)
            if len(reqs) >= p.max_requests:
                wait = math.ceil(reqs[0] + p.window_s - now)
                err = self.requests_limit_error()
                err.headers["Retry-After"] = str(max(1, wait))
                raise err
            used = sum(ms for _, ms in execs)
            if used >= p.max_exec_ms:
                wait = math.ceil(execs[0][0] + p.window_s - now)
                raise throttle_error(
                    "0x80072321",
                    f"Combined execution time of incoming requests exceeded limit of {int(p.max_exec_ms):,} "
                    f"milliseconds over time window of {int(p.window_s)} seconds. Decrease number of concurrent "
                    "requests or reduce the duration of requests and try again later.",
                    max(1, wait))
            reqs.append(now)
            self._concurrent[user] += 1

    def leave(self, user: str, exec_ms: float) -> None:
        """Account a finished request's execution time and free its concurrency slot."""
        with self._lock:
            self._concurrent[user] -= 1
            self._exec[user].append((time.monotonic(), exec_ms))

    def remaining(self, user: str) -> int:
        """Requests left in the window (for the x-ms-ratelimit-burst-remaining header)."""
        with self._lock:
            return max(0, self.profile.max_requests - len(self._requests[user]))
