"""What ijson reads a JSON export through: one read of the bytes, checked as they pass.

:class:`ScanningReader` stands between the file and ijson's parser. Each chunk it hands over has
been checked first, so the parser never sees what it must not:

- **nesting** deeper than :data:`MAX_DEPTH`: ijson keeps a prefix string per level that grows
  with the depth, so its memory grows with the square of the depth (a 200 KB file of ``[`` took
  more than 4 GB). The reader delivers the bytes up to the bracket that goes too deep, then
  raises :class:`TooDeep` on the next read: the parser reports any damage before that point
  first, as it would have, and never builds the deep part.
- **lone surrogate escapes** (``"\\ud800"``): the C backend writes ``?`` for a lone high one
  and raises on a lone low one, so a chunk holding one raises :class:`LoneSurrogate` before the
  C parser sees it (the caller then reads with Python's backend, which keeps it).

The depth is counted without a Python loop over the bytes: escaped backslashes and quotes are
removed (``bytes.replace``), everything but quotes and brackets is deleted (``bytes.translate``),
empty strings (``""``, what most strings become) are removed, and what is left splits on ``"``
into structure (even parts) and string content (odd parts). All of it runs in C; the cost is
about a tenth of the parse itself. Before, a separate pass over the parser's events did this and
read the whole file before the first record (11 s on a 210 MB export, even with ``--limit``).
"""

from __future__ import annotations

from itertools import accumulate
from typing import IO

from .checks import LONE_SURROGATE_ESCAPE

#: Deepest nesting accepted in a JSON export (a Nylas record nests about 4 levels).
MAX_DEPTH = 256

_KEEP = b'"[]{}'
_DELETE = bytes(b for b in range(256) if b not in _KEEP)
_STEP = {ord("["): 1, ord("{"): 1, ord("]"): -1, ord("}"): -1}


class TooDeep(Exception):
    """The export nests deeper than :data:`MAX_DEPTH` at byte ``offset`` (of the UTF-8 stream)."""

    def __init__(self, offset: int):
        super().__init__(offset)
        self.offset = offset


class LoneSurrogate(Exception):
    """A chunk holds a lone surrogate escape: read the export with Python's backend instead."""


class ScanningReader:
    """A file-like ``read`` for ijson that counts bytes and checks each chunk before handing it on.

    ``pos`` is the offset after the last byte delivered, ``chunk_start`` that of the last chunk's
    first byte (a parse error lies in that chunk). With ``slow_from`` set, reads stop exactly at
    that offset and then deliver one byte at a time, so the parser fails on the very byte that is
    wrong: that is how the exact offset of damage is found (yajl does not report positions).
    ``surrogates`` switches the lone-surrogate check on (not needed with Python's backend).
    """

    __slots__ = ("_f", "pos", "chunk_start", "_slow_from", "_surrogates", "_depth", "_in_string",
                 "_backslash", "_tail", "_deep_at")

    def __init__(self, f: IO[bytes], *, surrogates: bool = True, slow_from: int | None = None):
        self._f = f
        self.pos = 0
        self.chunk_start = 0
        self._slow_from = slow_from
        self._surrogates = surrogates
        self._depth = 0
        self._in_string = False
        self._backslash = False  # the last chunk ended in an odd run of backslashes
        self._tail = b""  # the last bytes delivered, for an escape split across two chunks
        self._deep_at: int | None = None

    def read(self, n: int = -1) -> bytes:
        """Up to ``n`` checked bytes (a few more when a chunk ends inside a ``\\u`` escape)."""
        if n == 0:  # ijson probes read(0) to tell bytes from text: not a chunk
            return self._f.read(0)
        if self._deep_at is not None:
            raise TooDeep(self._deep_at)
        slow = self._slow_from
        if slow is not None:
            if self.pos >= slow:
                n = 1
            elif n < 0 or self.pos + n > slow:
                n = slow - self.pos
        data = self._f.read(n)
        if data and self._surrogates and slow is None:
            data = self._check_surrogates(data)
        if data:
            cut = self._check_depth(data)
            if cut is not None:
                self._deep_at = self.pos + cut
                data = data[:cut]
                if not data:
                    raise TooDeep(self._deep_at)
        self.chunk_start = self.pos
        self.pos += len(data)
        return data

    def _check_surrogates(self, data: bytes) -> bytes:
        window = self._tail + data
        if b"\\u" in window:
            # an escape wholly inside the tail was decided with the last chunk; the search starts
            # after it, but its lookbehind still sees the tail (a low half's high half)
            start = max(0, len(self._tail) - 5)
            hit = LONE_SURROGATE_ESCAPE.search(window, start)
            while hit is not None and hit.end() + 6 > len(window):
                # a high surrogate at the very end may have its low half in the next bytes:
                # read them now, the parser must not see the high half alone
                more = self._f.read(12)
                if not more:
                    break
                data += more
                window += more
                hit = LONE_SURROGATE_ESCAPE.search(window, start)
            if hit is not None:
                raise LoneSurrogate()
        self._tail = window[-12:]
        return data

    def _check_depth(self, data: bytes) -> int | None:
        """Follow the nesting through ``data``; the index of the byte that goes deeper than
        :data:`MAX_DEPTH`, or None."""
        in_string, escaped = self._in_string, self._backslash  # the state before ``data``
        text = b"\\" + data if escaped else data
        if b"\\" in text:
            run = len(text) - len(text.rstrip(b"\\"))
            self._backslash = run % 2 == 1
            if run:
                text = text[:-run]
            # pairs first: "\\\\" is an escaped backslash, then "\\\"" an escaped quote
            text = text.replace(b"\\\\", b"").replace(b'\\"', b"")
        else:
            self._backslash = False
        marks = text.translate(None, _DELETE)
        if self._in_string:
            marks = b'"' + marks
        # removing two adjacent quotes keeps every other mark inside or outside its string
        marks = marks.replace(b'""', b"")
        parts = marks.split(b'"')
        self._in_string = len(parts) % 2 == 0
        structure = b"".join(parts[0::2]) if len(parts) > 1 else marks
        if not structure:
            return None
        start = self._depth
        self._depth = start + structure.count(b"[") + structure.count(b"{") - structure.count(b"]") - structure.count(b"}")
        if start + structure.count(b"[") + structure.count(b"{") <= MAX_DEPTH:
            return None  # cannot have gone deeper even without the closing brackets
        if max(accumulate(map(_STEP.__getitem__, structure), initial=start)) <= MAX_DEPTH:
            return None
        return _locate_deep(data, start, in_string, escaped)


def _locate_deep(data: bytes, depth: int, in_string: bool, escaped: bool) -> int:
    """The index in ``data`` of the bracket that goes too deep (a byte loop: only on refusal)."""
    for i, byte in enumerate(data):
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:
                escaped = True
            elif byte == 0x22:
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in (0x5B, 0x7B):
            depth += 1
            if depth > MAX_DEPTH:
                return i
        elif byte in (0x5D, 0x7D):
            depth -= 1
    return len(data)  # pragma: no cover - the C count above found it: the loop does too
