"""The JSON-array reader: the records of a top-level array (or ``null``), streamed with ijson.

Damage is reported with its byte offset: the C parser does not report positions, so after a
failure the file is parsed again up to the failing chunk and then byte by byte
(:class:`_CountingReader`). Nesting deeper than :data:`MAX_DEPTH` is refused in a separate,
constant-memory pass before any record is built.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from itertools import accumulate, islice, repeat
from operator import itemgetter
from typing import IO, Any

import ijson

from ..errors import SourceError
from .checks import LONE_SURROGATE_ESCAPE, MAX_NUMBER_CHARS, NumberTooLong, checked, number_too_long
from .inputs import CHUNK, WS, Input, open_bytes, sniff

try:  # the C backend is ~10x faster than the pure-Python one; fall back when it is not built
    _IJSON = ijson.get_backend("yajl2_c")
except (ImportError, ValueError):  # pragma: no cover - depends on the installed wheel
    _IJSON = ijson
#: For the rare export the C backend cannot read faithfully: integers beyond 64 bits (its exact
#: path crashed the process on 5,000 digits) and lone surrogate escapes (it raised
#: UnicodeDecodeError, or wrote "?"). Python's backend keeps both, and checks.checked() decides.
_IJSON_EXACT = ijson.get_backend("python")

#: Deepest nesting accepted in a JSON export. A Nylas record nests about 4 levels; ijson keeps a
#: prefix string per level that grows with the depth, so memory grows with its square: a 200 KB
#: file of 100,000 ``[`` took more than 4 GB before this limit.
MAX_DEPTH = 256
_DEPTH_STEP = {"start_map": 1, "start_array": 1, "end_map": -1, "end_array": -1}


class _CountingReader:
    """What ijson reads from: counts bytes so a parse error can be given a byte offset.

    With ``slow_from`` set, reads stop exactly at that offset and then deliver one byte at a
    time, so the parser fails on the very byte that is wrong: that is how the exact offset is
    found (the C parser itself does not report positions).
    """

    __slots__ = ("_f", "pos", "chunk_start", "_slow_from")

    def __init__(self, f: IO[bytes], slow_from: int | None = None):
        self._f = f
        self.pos = 0
        self.chunk_start = 0
        self._slow_from = slow_from

    def read(self, n: int = -1) -> bytes:
        if n == 0:  # ijson probes read(0) to tell bytes from text: not a chunk
            return self._f.read(0)
        slow = self._slow_from
        if slow is not None:
            if self.pos >= slow:
                n = 1
            elif n < 0 or self.pos + n > slow:
                n = slow - self.pos
        data = self._f.read(n)
        self.chunk_start = self.pos
        self.pos += len(data)
        return data


class _ScanningReader(_CountingReader):
    """A :class:`_CountingReader` that also notes whether the bytes hold a lone surrogate escape
    (searched in C by ``re``; the last bytes of a chunk are searched again with the next one, so
    an escape split across two reads is seen whole)."""

    __slots__ = ("lone_surrogate", "_tail")

    def __init__(self, f: IO[bytes]):
        super().__init__(f)
        self.lone_surrogate = False
        self._tail = b""

    def read(self, n: int = -1) -> bytes:
        data = super().read(n)
        if data and not self.lone_surrogate and b"\\u" in self._tail + data:
            window = self._tail + data
            hit = LONE_SURROGATE_ESCAPE.search(window)
            # a high surrogate at the very end may have its low half in the next read
            self.lone_surrogate = hit is not None and hit.end() + 6 <= len(window)
        self._tail = data[-12:]
        return data

    def finish(self) -> None:
        """At the end of the file: a high surrogate escape in the last bytes is lone after all."""
        if not self.lone_surrogate and LONE_SURROGATE_ESCAPE.search(self._tail):
            self.lone_surrogate = True


def _ijson_reason(exc: Exception) -> str:
    """First line of ijson's message, made readable for the common cases."""
    text = exc.args[0] if len(exc.args) == 1 else str(exc)
    if isinstance(text, bytes):  # yajl's C backend raises with bytes: not b'...' in the message
        text = text.decode("utf-8", "replace")
    if isinstance(exc, NumberTooLong):
        return str(exc)
    symbol = re.match(r"Unexpected symbol '(-?[0-9]+)'", str(text))
    if symbol and len(symbol.group(1)) > MAX_NUMBER_CHARS:  # Python's backend on a 5,000-digit int
        return number_too_long(len(symbol.group(1)))
    first = (str(text).strip().splitlines() or [type(exc).__name__])[0].strip()
    first = first if len(first) <= 200 else first[:197] + "..."
    if "premature EOF" in first or "Incomplete JSON content" in first:
        return "the file ends in the middle of the JSON (a truncated export?)"
    if "trailing garbage" in first:
        return "unexpected data after the end of the array"
    return first


class JsonArray:
    """Records of a top-level JSON array (or ``null``), streamed with ijson."""

    format = "json"

    def __init__(self, inp: Input):
        self._inp = inp
        self._encoding, self._bom = sniff(inp)
        self._exact_numbers = False  # switched on when an integer does not fit in 64 bits
        self._depth_checked = False
        self._lone_surrogates = False  # found by the depth pass: read with Python's backend

    def _top_level(self) -> str:
        """Return ``"array"`` or ``"null"`` (after checking nothing follows it), else raise."""
        name = self._inp.display
        with open_bytes(self._inp, self._encoding, self._bom) as f:
            offset = 0
            first = b""
            while True:
                chunk = f.read(CHUNK)
                if not chunk:
                    break
                stripped = chunk.lstrip(WS)
                if stripped:
                    offset += len(chunk) - len(stripped)
                    first = stripped
                    break
                offset += len(chunk)
            if not first:
                raise SourceError(
                    f"{name}: the file is empty: expected a JSON array of records or null "
                    "(the nylas command prints nothing on stdout when it fails)"
                )
            lead = first[:1]
            if lead == b"[":
                return "array"
            if lead == b"n":
                while len(first) < 4:  # "null" split across reads
                    more = f.read(4 - len(first))
                    if not more:
                        break
                    first += more
                if first[:4] == b"null":
                    self._check_only_whitespace(f, first[4:], offset + 4)
                    return "null"
            what = {b"{": "an object", b'"': "a string", b"t": "a boolean", b"f": "a boolean"}.get(
                lead, "a number" if lead in b"-0123456789" else None
            )
            if what is None:
                raise SourceError(
                    f"{name}: invalid JSON at byte {offset} (before the first record): "
                    f"unexpected character {lead.decode('latin-1')!r}"
                )
            hint = ""
            if lead == b"{":
                hint = (" (a raw Nylas API response or a single record? the CLI's --json list "
                        "output is a bare array; one object per line is NDJSON: use --input-format ndjson)")
            raise SourceError(
                f"{name}: the top-level JSON value is {what}, expected an array of records or null{hint}"
            )

    def _check_only_whitespace(self, f: IO[bytes], rest: bytes, offset: int) -> None:
        while True:
            stripped = rest.lstrip(WS)
            if stripped:
                at = offset + len(rest) - len(stripped)
                raise SourceError(
                    f"{self._inp.display}: invalid JSON at byte {at} (before the first record): "
                    "unexpected data after null"
                )
            offset += len(rest)
            rest = f.read(CHUNK)
            if not rest:
                return

    def records(self) -> Iterator[Any]:
        """Yield every element of the array; raise SourceError on damage (with its byte offset)."""
        if self._top_level() == "null":
            return
        if not self._depth_checked:
            self._check_depth()
            self._depth_checked = True
        yielded = 0
        while True:
            try:
                for record in self._parse(skip=yielded):
                    yielded += 1
                    yield record
                return
            except _IntegerOverflow:
                # yajl's fast path parses integers as int64; redo the pass with exact numbers,
                # skipping what was already yielded (rare: Nylas output has no such numbers).
                self._exact_numbers = True
            except _SurrogateEscape:  # one the depth pass's scan did not flag: same remedy
                self._lone_surrogates = True

    def _backend(self) -> Any:
        return _IJSON_EXACT if self._exact_numbers or self._lone_surrogates else _IJSON

    def _check_depth(self) -> None:
        """Refuse nesting deeper than :data:`MAX_DEPTH` before ijson builds any record.

        A separate pass over ``basic_parse`` events (no prefixes, constant memory), counted in C
        (``accumulate``) and checked per block of events; damage is left to the record pass,
        which reports it with its byte offset.
        """
        with open_bytes(self._inp, self._encoding, self._bom) as f:
            reader = _ScanningReader(f)
            # use_float: integers stay on yajl's int64 path, which reports an overflow as an
            # error; without it yajl builds a Python int, and one of 5,000 digits crashed it
            events = map(itemgetter(0), _IJSON.basic_parse(reader, use_float=True))
            depths = accumulate(map(_DEPTH_STEP.get, events, repeat(0)))
            try:
                while block := list(islice(depths, 1024)):
                    if max(block) > MAX_DEPTH:
                        raise SourceError(
                            f"{self._inp.display}: JSON nested deeper than {MAX_DEPTH} levels "
                            "(a Nylas export nests a few levels; refusing a damaged or hostile file)"
                        )
            except (ijson.JSONError, UnicodeDecodeError):
                # damage is the record pass's to report; yajl raises UnicodeDecodeError on a lone
                # low surrogate escape: scan the rest for more, so the record pass knows
                while reader.read(CHUNK):
                    pass
            reader.finish()
            self._lone_surrogates = reader.lone_surrogate

    def _parse(self, skip: int) -> Iterator[Any]:
        exact = self._exact_numbers
        careful = exact or self._lone_surrogates
        with open_bytes(self._inp, self._encoding, self._bom) as f:
            reader = _CountingReader(f)
            items = self._backend().items(reader, "item", use_float=not exact)
            index = 0
            try:
                for record in items:
                    index += 1
                    if index <= skip:
                        continue
                    yield checked(record) if careful else record
            except NumberTooLong as exc:
                raise SourceError(f"{self._inp.display}: record {index}: {exc}") from None
            except ijson.JSONError as exc:
                if "integer overflow" in str(exc) and not exact:
                    raise _IntegerOverflow() from exc
                raise self._locate(exc, reader.chunk_start) from None
            except UnicodeDecodeError:
                if careful:  # pragma: no cover - Python's backend decodes escapes itself
                    raise
                raise _SurrogateEscape() from None

    def _locate(self, exc: Exception, chunk_start: int) -> SourceError:
        """Re-parse up to the failing chunk, then byte by byte, to find the exact offset."""
        count = 0
        offset = None
        with open_bytes(self._inp, self._encoding, self._bom) as f:
            reader = _CountingReader(f, slow_from=chunk_start)
            try:
                for _ in self._backend().items(reader, "item", use_float=not self._exact_numbers):
                    count += 1
            except ijson.JSONError as again:
                exc = again
                at_eof = reader.pos == reader.chunk_start  # the last read returned nothing
                offset = reader.pos if at_eof else reader.pos - 1
        if offset is None:  # pragma: no cover - the second pass did not fail: report the first
            offset = chunk_start
        offset += self._bom
        after = f"after record {count}" if count else "before the first record"
        return SourceError(f"{self._inp.display}: invalid JSON at byte {offset} ({after}): {_ijson_reason(exc)}")


class _IntegerOverflow(Exception):
    """Internal: the fast int64 path met a bigger integer."""


class _SurrogateEscape(Exception):
    """Internal: the C backend could not decode a surrogate escape."""


class Chain:
    """Records of several JSON arrays, one after the other (damage names the part: ``name#2``)."""

    format = "json"

    def __init__(self, readers: Sequence[JsonArray]):
        self._readers = list(readers)

    def records(self) -> Iterator[Any]:
        """Every record of the first array, then of the second, ..."""
        for reader in self._readers:
            yield from reader.records()

