"""Progress of a sync, per phase (contacts, then emails): counts, totals, rate and time left.

On a terminal it is a live display drawn by ``rich`` (one bar per phase, redrawn a few times a
second); anywhere else (cron, a log collector) it is one log line on the
``mail2dataverse.progress`` logger at a steady interval (10 s, or
``MAIL2DATAVERSE_PROGRESS_INTERVAL`` seconds), so an unattended log shows a 20,000-message run
moving. ``-q`` turns both off.

The planner calls the object with the run's :class:`~mail2dataverse.report.Report` after each
phase-1 table and each chunk of emails; the totals are the record counts the inputs' validating
pre-pass found, so the end is known before the first write.

Extra figures (server time used, the service-protection budget left, ...) are added with
:meth:`RunProgress.add_field`: each shows in the live display and in every log line (and as a
structured field with ``--log-format json``).
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

from .logs import PROGRESS_LOGGER

log = logging.getLogger(PROGRESS_LOGGER)

PHASES = (("contacts", "contact"), ("emails", "email"))
DEFAULT_INTERVAL = 10.0
LIVE_INTERVAL = 0.5


class _Phase:
    """Counts and timing of one phase."""

    __slots__ = ("name", "entity", "total", "done", "started")

    def __init__(self, name: str, entity: str):
        self.name, self.entity = name, entity
        self.total = 0
        self.done = 0
        self.started: float | None = None

    def rate(self, now: float) -> float | None:
        """Records per second since the phase's first record, None before there is one."""
        if self.started is None or self.done == 0 or now <= self.started:
            return None
        return self.done / (now - self.started)

    def left(self, now: float) -> float | None:
        """Seconds left at the current rate, None when unknown."""
        rate = self.rate(now)
        if not rate or self.total <= self.done:
            return None if not rate else 0.0
        return (self.total - self.done) / rate


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"


class RunProgress:
    """Progress display (``live=True``, rich) or periodic log lines (``live=False``)."""

    def __init__(self, *, live: bool, stream: Any = None, interval: float = DEFAULT_INTERVAL,
                 clock: Callable[[], float] = time.monotonic):
        self.live = live
        self.stream = stream or sys.stderr
        self.interval = interval
        self.clock = clock
        self.phases = {name: _Phase(name, entity) for name, entity in PHASES}
        self.fields: list[tuple[str, Callable[[], Any]]] = []
        self._report: Any = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._rich: Any = None
        self._tasks: dict[str, Any] = {}
        self._lock = threading.Lock()

    # -- hooks -----------------------------------------------------------------------------------

    def add_field(self, label: str, getter: Callable[[], Any]) -> None:
        """Show ``label value`` (``getter()``) with every update; the hook for extra figures.

        ``getter`` is called from the display's thread; it must be cheap and never raise.
        """
        self.fields.append((label, getter))

    # -- life cycle ------------------------------------------------------------------------------

    def start(self, totals: dict[str, int]) -> None:
        """Begin showing progress; ``totals`` are ``{"contacts": n, "emails": n}`` from the inputs."""
        for name, total in totals.items():
            if name in self.phases:
                self.phases[name].total = int(total or 0)
        self.phases["contacts"].started = self.clock()
        if self.live:
            self._start_rich()
        self._thread = threading.Thread(target=self._ticker, name="m2d-progress", daemon=True)
        self._thread.start()

    def __call__(self, report: Any) -> None:
        """The planner's callback: take the counts of ``report`` and show them."""
        self._report = report
        self._refresh_counts()
        if self.live:
            self._draw()

    def close(self) -> None:
        """Stop the display (and the ticker); a last log line says where the run got to."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
            if self._report is not None and not self.live:
                self._log_line()
        if self._rich is not None:
            self._draw()
            self._rich.stop()
            self._rich = None

    # -- counts ----------------------------------------------------------------------------------

    def _refresh_counts(self) -> None:
        report = self._report
        if report is None:
            return
        now = self.clock()
        with self._lock:
            for phase in self.phases.values():
                phase.done = report.entities[phase.entity].total()
            emails = self.phases["emails"]
            if emails.started is None and (emails.done or self.phases["contacts"].done >= self.phases["contacts"].total):
                # Phase 2 starts when phase 1 has reported (the planner calls once per phase-1 run).
                emails.started = now

    def _extra(self) -> list[tuple[str, Any]]:
        out = []
        for label, getter in self.fields:
            try:
                out.append((label, getter()))
            except Exception:  # noqa: BLE001 - a broken figure must not stop the run
                out.append((label, "?"))
        return out

    def snapshot(self) -> dict[str, Any]:
        """The figures of every phase now: done, total, rate (per s) and seconds left, plus extras."""
        now = self.clock()
        with self._lock:
            out: dict[str, Any] = {
                p.name: {"done": p.done, "total": p.total,
                         "rate": round(p.rate(now) or 0.0, 1),
                         "left_s": None if p.left(now) is None else round(p.left(now) or 0.0)}
                for p in self.phases.values()
            }
        out.update({label: value for label, value in self._extra()})
        return out

    def line(self) -> str:
        """One human line: ``emails 4,000/20,000 (20%), 310/s, about 52 s left; contacts ...``."""
        now = self.clock()
        parts = []
        for p in reversed(list(self.phases.values())):  # the phase that is moving first
            if p.started is None:
                parts.append(f"{p.name} 0/{p.total:,} (waiting)")
                continue
            pct = f" ({p.done / p.total:.0%})" if p.total else ""
            rate = p.rate(now)
            tail = ", done" if p.total and p.done >= p.total else (
                f", {rate:,.0f}/s, about {_duration(p.left(now))} left" if rate else "")
            parts.append(f"{p.name} {p.done:,}/{p.total:,}{pct}{tail}")
        parts += [f"{label} {value}" for label, value in self._extra()]
        return "; ".join(parts)

    # -- non-terminal: log lines -----------------------------------------------------------------

    def _ticker(self) -> None:
        # The live display is redrawn often (rate and time left move between the planner's
        # calls); log lines come at the steady interval.
        while not self._stop.wait(LIVE_INTERVAL if self.live else self.interval):
            self._refresh_counts()
            if self.live:
                self._draw()
            else:
                self._log_line()

    def _log_line(self) -> None:
        log.info("progress: %s", self.line(), extra={"fields": {"progress": self.snapshot()}})

    # -- terminal: rich --------------------------------------------------------------------------

    def _start_rich(self) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskProgressColumn, TextColumn

        console = Console(file=self.stream, stderr=self.stream is sys.stderr)
        self._rich = Progress(
            TextColumn("{task.description:<8}"), BarColumn(), MofNCompleteColumn(), TaskProgressColumn(),
            TextColumn("{task.fields[rate]}"), TextColumn("{task.fields[left]}"), TextColumn("{task.fields[extra]}"),
            console=console, transient=False, refresh_per_second=4,
        )
        for p in self.phases.values():
            self._tasks[p.name] = self._rich.add_task(p.name, total=p.total or None, rate="", left="", extra="")
        self._rich.start()

    def _draw(self) -> None:
        if self._rich is None:
            return
        now = self.clock()
        extra = "  ".join(f"{label} {value}" for label, value in self._extra())
        for p in self.phases.values():
            rate = p.rate(now)
            left = p.left(now)
            self._rich.update(
                self._tasks[p.name], completed=p.done, total=p.total or None,
                rate=f"{rate:,.0f}/s" if rate else "", left=f"{_duration(left)} left" if left else "",
                extra=extra if p.name == "emails" else "",
            )


def make_progress(*, quiet: bool = False, stream: Any = None) -> RunProgress | None:
    """The progress for a CLI run: live on a terminal, log lines elsewhere, none with ``-q``."""
    if quiet:
        return None
    stream = stream or sys.stderr
    try:
        interval = float(os.environ.get("MAIL2DATAVERSE_PROGRESS_INTERVAL", DEFAULT_INTERVAL))
    except ValueError:
        interval = DEFAULT_INTERVAL
    live = bool(getattr(stream, "isatty", lambda: False)())
    return RunProgress(live=live, stream=stream, interval=max(0.05, interval))
