"""Incremental coverage bookkeeping: which date ranges of a mailbox are known to be in the org.

Phase 2 keeps one :class:`Coverage` per mailbox while messages stream through; at the end of
the run its :meth:`Coverage.ranges` are added to the state store, so the next run counts a
message dated inside them as unchanged without writing it.
"""

from __future__ import annotations

from datetime import datetime, timedelta


class Coverage:
    """What one run learns about a mailbox's dates: the export's span, minus failed messages."""

    def __init__(self, previous: list[tuple[datetime, datetime]]):
        self.previous = previous
        self.oldest: datetime | None = None
        self.newest: datetime | None = None
        self.failures: list[datetime] = []

    def seen(self, date: datetime | None) -> None:
        """A message of the export, written or not: it widens the span the export covers."""
        if date is None:
            return
        if self.oldest is None or date < self.oldest:
            self.oldest = date
        if self.newest is None or date > self.newest:
            self.newest = date

    def failed(self, date: datetime | None) -> None:
        """A message that was not written: the next run must not consider its date covered."""
        if date is not None:
            self.failures.append(date)

    def ranges(self) -> list[tuple[datetime, datetime]]:
        """The spans of this run in which every message is now in the org."""
        if self.oldest is None or self.newest is None:
            return []
        if not self.failures:
            return [(self.oldest, self.newest)]
        tick = timedelta(microseconds=1)
        first, last = min(self.failures), max(self.failures)
        # Whatever lies between the first and last failure is looked at again next time.
        return [(self.oldest, first - tick), (last + tick, self.newest)]
