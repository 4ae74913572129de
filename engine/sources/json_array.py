"""The JSON-array reader: the records of a top-level array (or ``null``), streamed.

The export is read once, in chunks decoded from UTF-8 as they arrive; each record is parsed by
the stdlib's C scanner (``json``'s ``scan_once``; the reader as a whole costs about 40% less CPU
than yajl through ijson did), which returns where the record ends: the reader steps over the
whitespace and commas between records itself, so records are yielded as the file is read and a
``--limit`` stops the reading. A record that runs past the end of the text read so far is parsed
again once more text is there; each such read is at least as long as the record so far, so a
giant record costs a few parses, not one per chunk. Memory is bounded by a few times the largest
record plus a read (:data:`MAX_READ`), never the file.

Around the scanner, the reader checks what it does not (:mod:`.json_scan`): nesting deeper than
:data:`MAX_DEPTH` is refused (the scanner recurses; Python's recursion limit is its only bound),
``NaN``/``Infinity`` and reals beyond a float are refused as yajl refused them, integers over
:data:`~.checks.MAX_NUMBER_CHARS` characters are refused, and a record holding a lone surrogate
escape goes through :func:`~.checks.checked` (the scanner keeps the surrogate; the mapper then
skips the record with its reason). Integers of any size up to the limit are read exactly.

Damage is reported as ``file:line:column`` with its byte offset in the UTF-8 stream: the scanner
gives the character index of the failure, which is mapped back to bytes (only on refusal).
"""

from __future__ import annotations

import codecs
import json
import re
import sys
from collections.abc import Iterator, Sequence
from typing import IO, Any

from ..errors import SourceError
from .checks import LONE_SURROGATE_ESCAPE_TEXT, MAX_NUMBER_CHARS, SURROGATE_ESCAPE, NotJson, NumberTooLong, checked, \
    parse_constant, parse_float, parse_int
from .inputs import CHUNK, WS, Input, open_bytes, sniff
from .json_scan import MAX_DEPTH, deep_at, may_be_too_deep, refused_token

#: The most read at once once the reader is under way: big reads cost less per byte; the first
#: reads are CHUNK, so a ``--limit`` of a few records reads little.
MAX_READ = 1 << 18
#: A value (or a failure) this close to the end of the text read so far may be cut there: a number
#: can go on, a literal or escape be incomplete. It is parsed again once more text is read.
_NEAR_END = 16
#: Text kept ahead of a record at first (in characters): more is read before it gets shorter.
_RESERVE = 4096
_SKIP_WS = re.compile(r"[ \t\r\n]*").match
_DECODER = json.JSONDecoder(parse_int=parse_int, parse_float=parse_float, parse_constant=parse_constant)
_SCAN = _DECODER.scan_once  # (text, index) -> (value, end); raises StopIteration(index) for no value
#: What may remain at the very end of a truncated file, from where the scanner failed: part of a
#: literal, a number's "-", "." or exponent, a \u escape's first digits
_CUT_TOKEN = re.compile(r"(?:t(?:ru?)?|f(?:a(?:ls?)?)?|n(?:ul?)?|-|\.|[eE][-+]?|u[0-9a-fA-F]{0,3})")
#: What the scanner says, made readable (the character found is added)
_REASONS = {
    "Expecting value": "expected a value",
    "Expecting ',' delimiter": "expected ',' or a closing bracket",
    "Expecting ':' delimiter": "expected ':' after the key",
    "Expecting property name enclosed in double quotes": "expected a key in double quotes",
    "Invalid control character at": "a control character inside a string (it must be escaped)",
    "Invalid \\escape": "an invalid escape inside a string",
    "Invalid \\uXXXX escape": "an invalid \\u escape inside a string",
    "Illegal trailing comma before end of object": "a comma before '}'",  # Python 3.13's wording
    "Illegal trailing comma before end of array": "a comma before ']'",
}
_TRUNCATED = "the file ends in the middle of the JSON (a truncated export?)"
# states of the array reader: what may come next
_OPEN, _FIRST, _VALUE, _AFTER, _END = range(5)


class _Text:
    """The decoded text of one pass: grows chunk by chunk, forgets what was consumed.

    ``end`` is the offset, in the UTF-8 stream, just after the text decoded so far; ``broken``
    is set when the stream stops being UTF-8 (what came before it is still read, so the records
    before the bad byte are yielded and damage before it is reported first).
    """

    __slots__ = ("_f", "_pending", "_want", "_seam", "eof", "end", "broken", "suspect")

    def __init__(self, f: IO[bytes]):
        self._f = f
        self._pending = b""  # the first bytes of a character cut by the end of a read
        self._want = CHUNK
        self._seam = b""  # the last bytes of the last read: an escape may be cut between two reads
        self.eof = False
        self.end = 0
        self.broken: tuple[int, str, int] | None = None  # (offset, reason, byte)
        #: the text held may hold a surrogate escape (looked for in the bytes, once per read)
        self.suspect = False

    def more(self, text: str, keep: int, at_least: int = 0) -> str:
        """``text[keep:]`` and the text of at least one more read of ``at_least`` bytes or more
        (just ``text[keep:]`` at the end).

        What is kept is encoded again and decoded with the new bytes, in one piece: copying a
        few KB of bytes is cheaper than joining two strings of the whole read.
        """
        tail = text[keep:]
        if self.eof:
            return tail
        head = tail.encode("utf-8")
        start = self.end - len(head)  # the stream offset of head[0]
        self.suspect = bool(tail) and self.suspect  # what is kept may still hold one
        while True:
            data = self._f.read(max(self._want, at_least))
            self._want = min(self._want * 2, MAX_READ)
            # (memchr finds no backslash at all quickly: then there is no escape to look for)
            seam, self._seam = self._seam + data[:5], (self._seam + data)[-5:] if len(data) < 5 else data[-5:]
            if b"\\" in data and SURROGATE_ESCAPE.search(data) or SURROGATE_ESCAPE.search(seam):
                self.suspect = True
            raw = head + self._pending + data
            try:
                part, used = codecs.utf_8_decode(raw, "strict", not data)
            except UnicodeDecodeError as exc:
                part, used = raw[:exc.start].decode("utf-8"), exc.start
                self.broken, self.eof = (start + exc.start, exc.reason, raw[exc.start]), True
            self._pending = raw[used:]
            self.end = start + used
            if not data:
                self.eof = True
            if self.eof or len(part) > len(tail):
                return part
            head = raw[:used]  # the read ended inside a character: nothing new yet, read on

    def offset(self, text: str, index: int) -> int:
        """The stream offset of ``text[index]`` (``text``: the whole text held)."""
        return self.end - len(text[index:].encode("utf-8"))


class JsonArray:
    """Records of a top-level JSON array (or ``null``), streamed (see the module docstring)."""

    format = "json"

    def __init__(self, inp: Input):
        self._inp = inp
        self._encoding, self._bom = sniff(inp)
        self._scan = _SCAN
        #: the text kept ahead of the next record, in characters: twice the biggest record cut
        #: by the end of a read so far
        self._reserve = _RESERVE

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
        with open_bytes(self._inp, self._encoding, self._bom) as f:
            yield from self._parse(_Text(f))

    def _parse(self, buf: _Text) -> Iterator[Any]:
        # The hot loop: one call of the scanner per record, and the next record found right after
        # its comma; everything irregular (a record cut by the end of the text read so far,
        # damage, refusals) goes to _trouble, off this path.
        count_in = str.count
        lone = LONE_SURROGATE_ESCAPE_TEXT.search
        scan = self._scan
        text, i, n, refill = "", 0, 0, 0
        state, count = _OPEN, 0
        while True:
            if i >= n:
                text, i = buf.more(text, i), 0
                n = len(text)
                refill = n if buf.eof else n - self._reserve
                if not n:
                    if state == _END and buf.broken is None:
                        return
                    raise self._at_end(buf, count)
                continue
            c = text[i]
            if c in " \t\r\n":
                i = _SKIP_WS(text, i).end()
                continue
            if state != _VALUE:
                if state == _AFTER:
                    if c == ",":
                        state = _VALUE
                    elif c == "]":
                        state = _END
                    else:
                        raise self._unexpected(buf, text, i, count, f"expected ',' or ']' after a record (found {c!r})")
                elif state == _OPEN:  # _top_level() saw the "[" (and only whitespace before it)
                    state = _FIRST
                elif state == _END:
                    raise self._damage(buf.offset(text, i), count, "unexpected data after the end of the array")
                elif c == "]":  # _FIRST: an empty array
                    state = _END
                else:
                    state = _VALUE
                    continue
                i += 1
                continue
            if i > refill:
                # read on before a record may be cut by the end of the text: a record that fails
                # there makes the scanner count the lines of all the text held, for its message
                text, i = buf.more(text, i, 2 * self._reserve), 0
                n = len(text)
                refill = n if buf.eof else n - self._reserve
                continue
            try:
                record, end = scan(text, i)
            except StopIteration as stop:
                text = self._trouble(buf, text, i, count, (stop.value, "Expecting value"))
            except json.JSONDecodeError as exc:
                text = self._trouble(buf, text, i, count, (exc.pos, exc.msg))
            except (RecursionError, NumberTooLong, NotJson) as exc:
                text = self._trouble(buf, text, i, count, exc)
            else:
                if end <= n - _NEAR_END or (buf.eof and not _cut_number(text, end)):
                    # json_scan.may_be_too_deep, inlined (it runs for every record: ~1.5 us per KB)
                    if count_in(text, "[", i, end) + count_in(text, "{", i, end) >= MAX_DEPTH:
                        self._check_depth(buf, text, i, end, count)  # it may nest too deep: look closely
                    if buf.suspect and lone(text, i, end):
                        record = checked(record)  # the scanner kept a lone surrogate: judge the record
                    count += 1
                    yield record
                    if end < n and text[end] == ",":
                        i = end + 1
                    else:
                        i, state = end, _AFTER
                    continue
                text = self._trouble(buf, text, i, count, None)  # it may go on (a number), or be cut
            i, n = 0, len(text)  # parse the record again, from the text _trouble returned
            refill = n if buf.eof else n - self._reserve
            scan = self._scan

    def _trouble(self, buf: _Text, text: str, i: int, count: int, failure: Any) -> str:
        """The record at ``text[i]`` did not parse, or ended near the end of the text held: return
        the text to parse it again from (at index 0), else raise the SourceError that says why.

        ``failure``: None (it parsed, but may go on), ``(position, scanner message)``, or the
        exception the scanner or a number callback raised.
        """
        n = len(text)
        self._reserve = max(self._reserve, 2 * (n - i))  # records this big are read ahead of
        if failure is None:
            if buf.eof:  # a number cut by the end of the file ("1." or "1e"): not a record
                raise self._at_end(buf, count)
            self._check_depth(buf, text, i, n, count)
            return buf.more(text, i, n - i)
        if isinstance(failure, RecursionError):
            self._check_depth(buf, text, i, n, count)  # the usual reason: refused with its offset
            if self._scan is _scan_with_headroom:  # pragma: no cover - headroom is MAX_DEPTH levels
                raise SourceError(f"{self._inp.display}: record {count + 1}: JSON nested too deeply") from None
            self._scan = _scan_with_headroom  # not deep: the caller's own stack was; make room
            return text[i:]
        if isinstance(failure, (NumberTooLong, NotJson)):
            kind = "int" if isinstance(failure, NumberTooLong) else failure.kind
            found = refused_token(text, i, kind, MAX_NUMBER_CHARS)
            if found is not None and found[1] > n - _NEAR_END and not buf.eof:
                return buf.more(text, i, n - i)  # only part of the number was read yet
            at = found[0] if found is not None else i
            self._check_depth(buf, text, i, at, count)
            offset = buf.offset(text, at)
            if kind == "constant":
                raise self._damage(offset, count, str(failure))
            raise SourceError(f"{self._where(offset)}: record {count + 1} at byte {offset + self._bom}: {failure}")
        pos, msg = failure
        cut = pos > n - _NEAR_END or msg.startswith("Unterminated string")
        if cut and not buf.eof:
            self._check_depth(buf, text, i, n, count)
            return buf.more(text, i, n - i)  # at least doubles what is held: a giant record is read in few steps
        self._check_depth(buf, text, i, min(pos + 1, n), count)  # nesting too deep is what the damage is past
        if pos >= n or msg.startswith("Unterminated string") or _CUT_TOKEN.fullmatch(text, pos):
            raise self._at_end(buf, count)
        return self._raise_at(buf, text, pos, count, msg)

    def _raise_at(self, buf: _Text, text: str, pos: int, count: int, msg: str) -> str:
        """Raise the damage the scanner found at ``text[pos]`` (pointing at the offending character)."""
        if msg == "Invalid \\escape":
            pos += 1
        elif msg == "Invalid \\uXXXX escape":
            digits = text[pos + 1:pos + 5]
            bad = next((k for k, ch in enumerate(digits) if ch not in "0123456789abcdefABCDEF"), len(digits))
            pos += 1 + bad
        found = f"found {text[pos]!r}" if pos < len(text) else "found the end of the text"
        raise self._unexpected(buf, text, pos, count, f"{_REASONS.get(msg, msg)} ({found})")

    def _unexpected(self, buf: _Text, text: str, pos: int, count: int, reason: str) -> SourceError:
        """Damage at ``text[pos]``; at the end of the file, what is left there may just be cut."""
        if buf.eof and _CUT_TOKEN.fullmatch(text, pos):
            return self._at_end(buf, count)
        return self._damage(buf.offset(text, pos), count, reason)

    def _at_end(self, buf: _Text, count: int) -> SourceError:
        """The text ran out in the middle of the JSON: a truncated file, or one that stops being
        UTF-8 there."""
        return self._not_utf8(buf, count) if buf.broken is not None else self._damage(buf.end, count, _TRUNCATED)

    def _check_depth(self, buf: _Text, text: str, start: int, stop: int, count: int) -> None:
        """Refuse the record at ``text[start]`` if ``text[start:stop]`` nests too deep."""
        if not may_be_too_deep(text, start, stop):
            return
        deep = deep_at(text[start:stop].encode("utf-8"))
        if deep is None:
            return
        offset = buf.offset(text, start) + deep
        raise SourceError(
            f"{self._where(offset)}: JSON nested deeper than {MAX_DEPTH} levels at byte "
            f"{offset + self._bom} (in record {count + 1}; a Nylas export nests a few levels: "
            "refusing a damaged or hostile file)")

    def _damage(self, offset: int, count: int, reason: str) -> SourceError:
        after = f"after record {count}" if count else "before the first record"
        return SourceError(f"{self._where(offset)}: invalid JSON at byte {offset + self._bom} ({after}): {reason}")

    def _not_utf8(self, buf: _Text, count: int) -> SourceError:
        assert buf.broken is not None
        offset, reason, byte = buf.broken
        return self._damage(offset, count, f"not UTF-8 text: {reason} 0x{byte:02x}")

    def _where(self, offset: int) -> str:
        """``file:line:column`` of ``offset`` in the UTF-8 stream (read again: only on refusal)."""
        line, column = line_column(self._inp, self._encoding, self._bom, offset)
        return f"{self._inp.display}:{line}:{column}"

def _cut_number(text: str, end: int) -> bool:
    """Does a number end at ``text[end]`` with only part of a fraction or exponent after it?"""
    return text[end - 1:end].isdigit() and _CUT_TOKEN.fullmatch(text, end) is not None


def _scan_with_headroom(text: str, index: int) -> tuple[Any, int]:
    """The scanner, given room for :data:`MAX_DEPTH` levels above the caller's own stack (it
    recurses once per level and shares Python's recursion limit with its caller)."""
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(limit + 2 * MAX_DEPTH)
    try:
        return _SCAN(text, index)
    finally:
        sys.setrecursionlimit(limit)


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


class Chain:
    """Records of several JSON arrays, one after the other (damage names the part: ``name#2``)."""

    format = "json"

    def __init__(self, readers: Sequence[JsonArray]):
        self._readers = list(readers)

    def records(self) -> Iterator[Any]:
        """Every record of the first array, then of the second, ..."""
        for reader in self._readers:
            yield from reader.records()

