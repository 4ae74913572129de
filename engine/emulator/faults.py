"""Injected faults, and the service-protection settings, as the ``--faults`` string gives them.

* :class:`FaultProfile` — what to inject (latency, random 429/503, dropped connections, slow
  responses) and the service-protection thresholds and timing, parsed from the CLI's
  ``--faults`` string (durations are modeled time, see :mod:`.clock`)::

      429=0.1,503=0.02,drop=0.01,drop_after=0.01,slow=0.05:200ms,seed=7,
      latency=5ms,op_latency=1ms,requests=6000,exec=1200000ms,concurrent=52,window=300s,retry_after=1,
      lag=30s,escalation=5s,timeout=120s

  :meth:`FaultProfile.limits` turns the thresholds into the :class:`~.limits.Limits` the
  per-user, per-web-server governors enforce.
* :class:`FaultInjector` — the seeded per-request draws.
"""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass, fields

from .limits import Limits


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
    lag_s: float = 30.0  # how long an excess lasts before the request/execution limits bite
    escalation_s: float = 5.0  # added to the rest per request that keeps pushing during it
    request_timeout_s: float = 120.0  # modeled server time a request may take

    _KEYS = {
        "429": "rate_429", "503": "rate_503", "drop": "rate_drop", "drop_after": "rate_drop_after",
        "seed": "seed", "latency": "latency_ms", "op_latency": "op_latency_ms", "requests": "max_requests",
        "exec": "max_exec_ms", "concurrent": "max_concurrent", "window": "window_s", "retry_after": "retry_after_s",
        "lag": "lag_s", "escalation": "escalation_s", "timeout": "request_timeout_s",
    }
    _SECONDS = ("window_s", "lag_s", "escalation_s", "request_timeout_s")

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
            elif attr in cls._SECONDS:
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

    def limits(self) -> Limits:
        """The service-protection settings this profile gives (raises ValueError when one is bad)."""
        return Limits(max_requests=self.max_requests, max_exec_s=self.max_exec_ms / 1000,
                      max_concurrent=self.max_concurrent, window_s=self.window_s, lag_s=self.lag_s,
                      escalation_s=self.escalation_s, concurrency_retry_after_s=self.retry_after_s,
                      request_timeout_s=self.request_timeout_s)


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
