"""The JSON-array reader: the records of a top-level array (or ``null``), streamed with ijson.

The export is read once: the bytes pass through :class:`~.json_scan.ScanningReader`, which
refuses nesting deeper than :data:`MAX_DEPTH` and notices lone surrogate escapes before the
parser sees them, so records are yielded as the file is read and a ``--limit`` stops the reading.

Damage is reported as ``file:line:column`` with its byte offset: the C parser does not report
positions, so after a failure (and only then) the file is parsed again up to the failing chunk
and then byte by byte. Two rare inputs make the reader start again from the top, skipping what
it already yielded: an integer beyond 64 bits or a lone surrogate escape (both need Python's
slower backend to be read faithfully).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from typing import IO, Any

import ijson

from ..errors import SourceError
from .checks import MAX_NUMBER_CHARS, NumberTooLong, checked, number_too_long
from .inputs import CHUNK, WS, Input, open_bytes, sniff
from .json_scan import MAX_DEPTH, LoneSurrogate, ScanningReader, TooDeep

try:  # the C backend is ~10x faster than the pure-Python one; fall back when it is not built
    _IJSON = ijson.get_backend("yajl2_c")
except (ImportError, ValueError):  # pragma: no cover - depends on the installed wheel
    _IJSON = ijson
#: For the rare export the C backend cannot read faithfully: integers beyond 64 bits (its exact
#: path crashed the process on 5,000 digits) and lone surrogate escapes (it raised
#: UnicodeDecodeError, or wrote "?"). Python's backend keeps both, and checks.checked() decides.
_IJSON_EXACT = ijson.get_backend("python")

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
        self._lone_surrogates = False  # one was seen: read with Python's backend

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
                    f"{self._where(offset)}: invalid JSON at byte {offset + self._bom} (before the first record): "
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
                    f"{self._where(at)}: invalid JSON at byte {at + self._bom} (before the first record): "
                    "unexpected data after null"
                )
            offset += len(rest)
            rest = f.read(CHUNK)
            if not rest:
                return

    def records(self) -> Iterator[Any]:
        """Yield every element of the array as it is read; raise SourceError on damage, naming
        ``file:line:column`` (and the byte offset)."""
        if self._top_level() == "null":
            return
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
            except (LoneSurrogate, _SurrogateEscape):  # the C backend cannot keep it: same remedy
                self._lone_surrogates = True

    def _backend(self) -> Any:
        return _IJSON_EXACT if self._exact_numbers or self._lone_surrogates else _IJSON

    def _parse(self, skip: int) -> Iterator[Any]:
        exact = self._exact_numbers
        careful = exact or self._lone_surrogates
        with open_bytes(self._inp, self._encoding, self._bom) as f:
            reader = ScanningReader(f, surrogates=not careful)
            items = self._backend().items(reader, "item", use_float=not exact)
            index = 0
            try:
                for record in items:
                    index += 1
                    if index <= skip:
                        continue
                    yield checked(record) if careful else record
            except TooDeep as exc:
                raise SourceError(
                    f"{self._where(exc.offset)}: JSON nested deeper than {MAX_DEPTH} levels at byte "
                    f"{exc.offset + self._bom} (in record {index + 1}; a Nylas export nests a few levels: "
                    "refusing a damaged or hostile file)"
                ) from None
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
            reader = ScanningReader(f, surrogates=False, slow_from=chunk_start)
            try:
                for _ in self._backend().items(reader, "item", use_float=not self._exact_numbers):
                    count += 1
            except ijson.JSONError as again:
                exc = again
                at_eof = reader.pos == reader.chunk_start  # the last read returned nothing
                offset = reader.pos if at_eof else reader.pos - 1
        if offset is None:  # pragma: no cover - the second pass did not fail: report the first
            offset = chunk_start
        after = f"after record {count}" if count else "before the first record"
        return SourceError(f"{self._where(offset)}: invalid JSON at byte {offset + self._bom} ({after}): "
                           f"{_ijson_reason(exc)}")

    def _where(self, offset: int) -> str:
        """``file:line:column`` of ``offset`` in the UTF-8 stream (read again: only on refusal)."""
        line, column = line_column(self._inp, self._encoding, self._bom, offset)
        return f"{self._inp.display}:{line}:{column}"


#: UTF-8 continuation bytes: deleting them leaves one byte per character
_CONTINUATION = bytes(range(0x80, 0xC0))


def line_column(inp: Input, encoding: str, bom: int, offset: int) -> tuple[int, int]:
    """The 1-based line and column (in characters) of byte ``offset`` of ``inp``'s UTF-8 stream."""
    line, column = 1, 1
    with open_bytes(inp, encoding, bom) as f:
        left = offset
        while left > 0:
            chunk = f.read(min(CHUNK, left))
            if not chunk:
                break
            left -= len(chunk)
            newlines = chunk.count(b"\n")
            if newlines:
                line += newlines
                chunk = chunk[chunk.rindex(b"\n") + 1:]
                column = 1
            column += len(chunk.translate(None, _CONTINUATION))
    return line, column


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

