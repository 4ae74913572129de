"""The deferred emails of a run, on disk: replies waiting for the email they answer (.threads).

In a Nylas export (newest first) nearly every email of a conversation comes before the one it
answers, so most of a run's emails pass through here: it is on the main path, and its cost and
memory count per email. Each email is pickled into a write buffer that goes to a temporary file
a block at a time (one ``write`` per :data:`BLOCK`, not a seek and a write per email), and read
back with ``os.pread`` (no seek, no buffer to flush). What stays in memory is three numbers an
email, in typed arrays: its date (for the order), where its pickle starts and its length,
about 20 bytes (a list of tuples took about 100).
"""

from __future__ import annotations

import itertools
import operator
import os
import pickle
import tempfile
from array import array
from collections.abc import Sequence
from typing import IO

from ..model import MappedEmail

#: Bytes of pickles gathered before one write to the file.
BLOCK = 1 << 20


class EmailSpool:
    """Emails written once and read back by number, oldest first."""

    def __init__(self) -> None:
        self._file: IO[bytes] | None = None
        self._reset()

    def _reset(self) -> None:
        self._buffer = bytearray()
        self._flushed = 0  # bytes already in the file
        self._dates = array("d")
        self._starts = array("q")
        self._lengths = array("l")

    def __len__(self) -> int:
        return len(self._dates)

    def add(self, e: MappedEmail, date: float) -> None:
        """Keep ``e`` (dated ``date``, seconds since the epoch; 0 for undated) for later."""
        data = pickle.dumps(e, protocol=pickle.HIGHEST_PROTOCOL)
        self._dates.append(date)
        self._starts.append(self._flushed + len(self._buffer))
        self._lengths.append(len(data))
        self._buffer += data
        if len(self._buffer) >= BLOCK:
            self._flush()

    def oldest_first(self) -> Sequence[int]:
        """The numbers of the emails kept, oldest first (undated first; ties in the order added)."""
        dates = self._dates
        n = len(dates)
        if n and all(map(operator.gt, itertools.islice(dates, 0, n - 1), itertools.islice(dates, 1, n))):
            # Added newest first, strictly (a Nylas export of one mailbox): the same order as
            # the sort, without its list of 200,000 numbers and keys (14 MB at the peak).
            return range(n - 1, -1, -1)
        return sorted(range(n), key=dates.__getitem__)

    def load(self, n: int) -> MappedEmail:
        """The ``n``-th email kept (equal to what was added, not the same object)."""
        self._flush()
        assert self._file is not None
        data = os.pread(self._file.fileno(), self._lengths[n], self._starts[n])
        return pickle.loads(data)  # our own spool file, written by add() above

    def close(self) -> None:
        """Drop everything kept (the file is deleted)."""
        if self._file is not None:
            self._file.close()
            self._file = None
        self._reset()

    def _flush(self) -> None:
        if not self._buffer:
            return
        if self._file is None:
            self._file = tempfile.TemporaryFile(prefix="mail2dataverse-replies-")
        self._file.write(self._buffer)
        self._file.flush()
        self._flushed += len(self._buffer)
        self._buffer = bytearray()
