"""The modeled clock: the emulator's own time, optionally running faster than real time.

Everything the cost model and the service-protection limits reason about — operation costs,
latency, the 5-minute windows, ``Retry-After`` — is measured on this clock in *modeled* seconds.
With ``scale=F`` one real second is ``F`` modeled seconds, so a run that would keep a real org
busy for a 5-minute window takes ``300 / F`` real seconds here, and every ratio (server time per
request, budget used per window) stays what it would be on the real service.

Waiting for modeled time sleeps (``time.sleep``): a thread that models 30 s of server work at
``F=100`` blocks 0.3 s without using the CPU, so a hundred of them cost nothing.
"""

from __future__ import annotations

import math
import time
from typing import Callable


class ModeledClock:
    """Modeled seconds since the clock was made, running ``scale`` times faster than real time."""

    def __init__(self, scale: float = 1.0, *, monotonic: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep):
        if not (isinstance(scale, (int, float)) and math.isfinite(scale) and scale > 0):
            raise ValueError(f"time scale must be a positive number, got {scale!r}")
        self.scale = float(scale)
        self._monotonic = monotonic
        self._sleep = sleep
        self._origin = monotonic()

    def now(self) -> float:
        """Modeled seconds elapsed since the clock started."""
        return (self._monotonic() - self._origin) * self.scale

    def real_elapsed(self) -> float:
        """Real seconds elapsed since the clock started."""
        return self._monotonic() - self._origin

    def to_real(self, modeled_seconds: float) -> float:
        """How many real seconds ``modeled_seconds`` take on this clock."""
        return modeled_seconds / self.scale

    def to_modeled(self, real_seconds: float) -> float:
        """How many modeled seconds pass in ``real_seconds``."""
        return real_seconds * self.scale

    def sleep(self, modeled_seconds: float) -> None:
        """Block for ``modeled_seconds`` of modeled time (a real sleep, never a busy wait)."""
        if modeled_seconds > 0:
            self._sleep(modeled_seconds / self.scale)

    def sleep_until(self, modeled_deadline: float) -> None:
        """Block until the modeled clock reads ``modeled_deadline`` (at once if it already has)."""
        self.sleep(modeled_deadline - self.now())

    def describe(self) -> dict:
        """The clock as the usage report shows it."""
        return {"time_scale": self.scale, "modeled_seconds": round(self.now(), 3),
                "real_seconds": round(self.real_elapsed(), 3)}


def format_seconds(real_seconds: float) -> str:
    """A ``Retry-After`` value: whole seconds when whole, else up to millisecond precision.

    At ``scale=1`` every value the limits produce is a whole number of seconds, as the service
    sends; a faster clock divides them, and a client that honours the header then waits the right
    real time without knowing the scale.
    """
    if real_seconds == int(real_seconds):
        return str(int(real_seconds))
    text = f"{real_seconds:.3f}".rstrip("0").rstrip(".")
    return text if text not in ("", "0") else "0.001"
