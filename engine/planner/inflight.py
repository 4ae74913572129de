"""The chunks of emails handed to the writer and not yet settled, oldest first.

Phase 2 keeps up to :data:`CHUNKS_IN_FLIGHT` chunks in flight while it maps, looks up and encodes the
next one: client work overlaps server work, and the slow tail of one chunk never leaves the
writer's slots idle. Chunks are settled in the order they were handed over, so each email's
outcome (and the state store) follows the input order.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import Any

from ..operations import ChangeSet
from .context import Executor, submit

#: Chunks whose writes may be in flight at once while the next one is planned.
CHUNKS_IN_FLIGHT = 4


class ChunksInFlight:
    """Hands chunks of change sets to the executor and settles the oldest beyond the depth."""

    def __init__(self, executor: Executor, settle: Callable[[list[ChangeSet], Any, Any], None], *,
                 depth: int = CHUNKS_IN_FLIGHT):
        self._executor = executor
        self._settle = settle  # (change sets, job, context) → records each email's outcome
        self._depth = depth
        self._chunks: deque[tuple[list[ChangeSet], Any, Any]] = deque()

    def add(self, items: list[ChangeSet], context: Any) -> None:
        """Submit ``items`` (no wait), then settle the oldest chunks beyond the depth, and
        those that have their results already (a preview's: its executor answers at once),
        so a settled chunk's emails and change sets are not held a moment longer."""
        if items:
            self._chunks.append((items, submit(self._executor, items, phase=2), context))
        self.settle(keep=self._depth)
        chunks = self._chunks
        while chunks and chunks[0][1].done():
            self._settle(*chunks.popleft())

    def __len__(self) -> int:
        return len(self._chunks)

    def settle(self, *, keep: int = 0) -> None:
        """Settle the oldest chunks, in order, until at most ``keep`` remain in flight."""
        while len(self._chunks) > keep:
            self._settle(*self._chunks.popleft())

