"""The JSON-array reader: the records of a top-level array (or ``null``), streamed with ijson.

Damage is reported with its byte offset: the C parser does not report positions, so after a
failure the file is parsed again up to the failing chunk and then byte by byte
(:class:`_CountingReader`). Nesting deeper than :data:`MAX_DEPTH` is refused in a separate,
constant-memory pass before any record is built.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from decimal import Decimal
from itertools import accumulate, islice, repeat
from operator import itemgetter
from typing import IO, Any

import ijson

from ..errors import SourceError
from .inputs import CHUNK, WS, Input, open_bytes, sniff

try:  # the C backend is ~10x faster than the pure-Python one; fall back when it is not built
    _IJSON = ijson.get_backend("yajl2_c")
except (ImportError, ValueError):  # pragma: no cover - depends on the installed wheel
    _IJSON = ijson

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


def _to_plain_numbers(value: Any) -> Any:
    """Replace ijson's ``Decimal`` floats by ``float`` so records serialise with ``json``."""
    if isinstance(value, Decimal):  # ijson gives int for integers, Decimal only for reals
        return float(value)
    if isinstance(value, dict):
        for k, v in value.items():
            if isinstance(v, (dict, list, Decimal)):
                value[k] = _to_plain_numbers(v)
        return value
    if isinstance(value, list):
        return [_to_plain_numbers(v) if isinstance(v, (dict, list, Decimal)) else v for v in value]
    return value


def _ijson_reason(exc: Exception) -> str:
    """First line of ijson's message, made readable for the common cases."""
    text = exc.args[0] if len(exc.args) == 1 else str(exc)
    if isinstance(text, bytes):  # yajl's C backend raises with bytes: not b'...' in the message
        text = text.decode("utf-8", "replace")
    first = (str(text).strip().splitlines() or [type(exc).__name__])[0].strip()
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

    def _check_depth(self) -> None:
        """Refuse nesting deeper than :data:`MAX_DEPTH` before ijson builds any record.

        A separate pass over ``basic_parse`` events (no prefixes, constant memory), counted in C
        (``accumulate``) and checked per block of events; damage is left to the record pass,
        which reports it with its byte offset.
        """
        with open_bytes(self._inp, self._encoding, self._bom) as f:
            events = map(itemgetter(0), _IJSON.basic_parse(_CountingReader(f)))
            depths = accumulate(map(_DEPTH_STEP.get, events, repeat(0)))
            try:
                while block := list(islice(depths, 1024)):
                    if max(block) > MAX_DEPTH:
                        raise SourceError(
                            f"{self._inp.display}: JSON nested deeper than {MAX_DEPTH} levels "
                            "(a Nylas export nests a few levels; refusing a damaged or hostile file)"
                        )
            except ijson.JSONError:
                return

    def _parse(self, skip: int) -> Iterator[Any]:
        exact = self._exact_numbers
        with open_bytes(self._inp, self._encoding, self._bom) as f:
            reader = _CountingReader(f)
            items = _IJSON.items(reader, "item", use_float=not exact)
            index = 0
            try:
                for record in items:
                    index += 1
                    if index <= skip:
                        continue
                    yield _to_plain_numbers(record) if exact else record
            except ijson.JSONError as exc:
                if "integer overflow" in str(exc) and not exact:
                    raise _IntegerOverflow() from exc
                raise self._locate(exc, reader.chunk_start) from None

    def _locate(self, exc: Exception, chunk_start: int) -> SourceError:
        """Re-parse up to the failing chunk, then byte by byte, to find the exact offset."""
        count = 0
        offset = None
        with open_bytes(self._inp, self._encoding, self._bom) as f:
            reader = _CountingReader(f, slow_from=chunk_start)
            try:
                for _ in _IJSON.items(reader, "item", use_float=not self._exact_numbers):
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


class Chain:
    """Records of several JSON arrays, one after the other (damage names the part: ``name#2``)."""

    format = "json"

    def __init__(self, readers: Sequence[JsonArray]):
        self._readers = list(readers)

    def records(self) -> Iterator[Any]:
        """Every record of the first array, then of the second, ..."""
        for reader in self._readers:
            yield from reader.records()

