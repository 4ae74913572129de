"""The deferred emails of a run, on disk: replies waiting for the email they answer (.threads).

In a Nylas export (newest first) nearly every email of a conversation comes before the one it
answers, so most of a run's emails pass through here: it is on the main path, and its cost and
memory count per email. Each email is encoded (marshal, or pickle for what marshal cannot
take) into a write buffer that goes to a temporary file a block at a time (one ``write`` per
:data:`BLOCK`, not a seek and a write per email), and read back with ``os.pread`` (no seek, no
buffer to flush), a span of neighbours at a time
(:meth:`EmailSpool.loaded`). What stays in memory is three numbers an email, in typed arrays: its
date (for the order), where its bytes start and their length, about 20 bytes (a list of tuples
took about 100).

Why spans: each ``pread`` lets go of the GIL, and while the writer's threads encode and decode
batches the main thread waits to get it back, up to a switch interval (5 ms) a call. Read one
email at a time, the deferred pass of a 10,000-message sync spent a quarter of a second a chunk
there, about a tenth of the run's wall time; one read per :data:`SPAN` costs that once per
hundreds of emails.
"""

from __future__ import annotations

import itertools
import marshal
import operator
import os
import pickle
import tempfile
from array import array
from collections.abc import Iterable, Iterator, Sequence
from typing import IO

from ..model import MappedEmail, email_from_fields

#: The first byte of each email in the file: how the rest of it is encoded.
_MARSHAL, _PICKLE = b"M", b"P"
_MARSHAL_BYTE = _MARSHAL[0]
#: Bytes of encoded emails gathered before one write to the file.
BLOCK = 1 << 20
#: At most this many bytes of the file are read at once by :meth:`EmailSpool.loaded`.
SPAN = 1 << 20
#: Bytes of deferred emails a sync keeps in memory before it spools the rest (estimated).
MEMORY_BUDGET = 32 << 20
#: What an email costs in memory beyond its text: its objects, dict and tuples (measured ~1 KB).
_EMAIL_OVERHEAD = 1024


class EmailSpool:
    """Emails written once and read back by number, oldest first.

    The first emails, up to ``memory_budget`` bytes (estimated: their text and a fixed cost
    each), stay in memory as they are and skip the pickle both ways: at W10k that is a sixth of
    the main thread's time. A sync keeps :data:`MEMORY_BUDGET`; the preview, whose memory is
    bounded for 200,000 messages, keeps none (see :class:`~.threads.ThreadLinks`).
    """

    def __init__(self, memory_budget: int = 0) -> None:
        self._file: IO[bytes] | None = None
        self._budget = memory_budget
        self._reset()

    def _reset(self) -> None:
        self._kept: dict[int, MappedEmail] = {}
        self._kept_bytes = 0
        self._buffer = bytearray()
        self._flushed = 0  # bytes already in the file
        self._dates = array("d")
        self._starts = array("q")
        self._lengths = array("l")

    def __len__(self) -> int:
        return len(self._dates)

    def add(self, e: MappedEmail, date: float) -> None:
        """Keep ``e`` (dated ``date``, seconds since the epoch; 0 for undated) for later."""
        if self._kept_bytes < self._budget:
            self._kept_bytes += _estimate(e)
            self._kept[len(self._dates)] = e
            self._dates.append(date)
            self._starts.append(-1)
            self._lengths.append(0)
            return
        buffer = self._buffer
        self._dates.append(date)
        self._starts.append(self._flushed + len(buffer))
        try:
            # marshal, where the fields are of its exact types (a mapped email's nearly always
            # are): it writes and reads them in a third of pickle's time, which went to
            # rebuilding them through the reduce function by name
            data = marshal.dumps(e.__reduce__()[1], 4)
            buffer += _MARSHAL
        except ValueError:  # a date with another zone, a str subclass, any other object
            data = pickle.dumps(e, protocol=pickle.HIGHEST_PROTOCOL)
            buffer += _PICKLE
        self._lengths.append(len(data) + 1)
        buffer += data
        if len(buffer) >= BLOCK:
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
        """The ``n``-th email kept (equal to what was added; the same object when kept in memory)."""
        return next(self.loaded((n,)))[1]

    def loaded(self, numbers: Iterable[int]) -> Iterator[tuple[int, MappedEmail]]:
        """``(n, email)`` for each of ``numbers`` in their order, as :meth:`load` gives it, read
        in spans: the emails that follow one another in the file (in either direction, as
        :meth:`oldest_first` gives them for a newest-first export) come from one ``pread`` of at
        most :data:`SPAN` bytes."""
        self._flush()
        starts, lengths = self._starts, self._lengths
        run: list[int] = []
        lo = hi = 0
        kept = self._kept
        for n in numbers:
            e = kept.get(n)
            if e is not None:
                if run:
                    yield from self._span(run, lo, hi)
                    run = []
                yield n, e
                continue
            start, end = starts[n], starts[n] + lengths[n]
            if run and (start == hi or end == lo) and max(hi, end) - min(lo, start) <= SPAN:
                lo, hi = min(lo, start), max(hi, end)
                run.append(n)
                continue
            if run:
                yield from self._span(run, lo, hi)
            run, lo, hi = [n], start, end
        if run:
            yield from self._span(run, lo, hi)

    def _span(self, numbers: list[int], lo: int, hi: int) -> Iterator[tuple[int, MappedEmail]]:
        """The emails ``numbers``, which lie next to one another in the file between ``lo`` and ``hi``."""
        assert self._file is not None
        data = memoryview(os.pread(self._file.fileno(), hi - lo, lo))
        starts, lengths = self._starts, self._lengths
        for n in numbers:
            at = starts[n] - lo
            body = data[at + 1:at + lengths[n]]
            # our own spool file, written by add()
            yield n, email_from_fields(marshal.loads(body)) if data[at] == _MARSHAL_BYTE else pickle.loads(body)

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


def _estimate(e: MappedEmail) -> int:
    """Bytes ``e`` holds in memory, roughly: its column text (a body dominates) and a fixed cost."""
    size = _EMAIL_OVERHEAD + 64 * len(e.parties)
    for value in e.columns.values():
        if isinstance(value, str):
            size += len(value)
    return size
