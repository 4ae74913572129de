"""Streaming readers for Nylas-shaped exports: JSON arrays, NDJSON, stdin, and plugin formats.

A :class:`RecordSource` reads one export and can be read more than once: :meth:`RecordSource.validate`
is a full streaming pre-pass that checks the structure (and counts the records) so the sync can
refuse a damaged export *before* it writes anything; iterating it afterwards yields
``(RecordRef, record)`` pairs. Nothing here holds more than one record in memory: JSON arrays are
parsed incrementally with ``ijson`` (its C backend when available), NDJSON line by line.

Input that cannot be read twice (stdin, the Nylas CLI's stdout) is spooled to an anonymous
temporary file first; the file disappears when the source is closed (or the process dies).

What is structural damage (raises :class:`~mail2dataverse.errors.SourceError`, naming the file
and the byte offset or line):

- an empty file, or invalid/truncated JSON, or data after the end of the array;
- a top-level value that is not an array or ``null`` (an object, a number, a string...);
- in NDJSON, a line that is not valid JSON.

A record that is valid JSON but not an object (``"abc"`` or ``42`` inside the array) is not
structural damage of the *file*, but the Nylas CLI never prints one, so it means the export is not
what the user thinks it is: :meth:`RecordSource.validate` rejects it with its record number by
default (``allow_non_objects=True`` counts it instead). Iteration always yields such records
unchanged, so a caller that did not validate can let the mapper skip them with a reason.
"""

from __future__ import annotations

import codecs
import io
import json
import os
import sys
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from decimal import Decimal
from itertools import accumulate, islice, repeat
from operator import itemgetter
from pathlib import Path
from typing import IO, Any

import ijson

from ..errors import ConfigError, SourceError
from ..model import RecordRef

try:  # the C backend is ~10x faster than the pure-Python one; fall back when it is not built
    _IJSON = ijson.get_backend("yajl2_c")
except (ImportError, ValueError):  # pragma: no cover - depends on the installed wheel
    _IJSON = ijson

KINDS = ("messages", "contacts")
BUILTIN_FORMATS = ("json", "ndjson")
_FORMAT_ALIASES = {"jsonl": "ndjson", "json-lines": "ndjson", "json_array": "json"}
_NDJSON_SUFFIXES = {".ndjson", ".jsonl"}
_PLUGIN_SUFFIXES = {".mbox", ".eml", ".mbx"}
_WS = b" \t\r\n"
_CHUNK = 1 << 16
#: Deepest nesting accepted in a JSON export. A Nylas record nests about 4 levels; ijson keeps a
#: prefix string per level that grows with the depth, so memory grows with its square: a 200 KB
#: file of 100,000 ``[`` took more than 4 GB before this limit.
MAX_DEPTH = 256
_DEPTH_STEP = {"start_map": 1, "start_array": 1, "end_map": -1, "end_array": -1}
_TYPE_NAMES = {str: "a string", int: "a number", float: "a number", bool: "a boolean",
               list: "an array", type(None): "null", dict: "an object"}


def _type_name(value: Any) -> str:
    return _TYPE_NAMES.get(type(value), type(value).__name__)


# ---------------------------------------------------------------------------------------------
# The bytes of one export, readable from the start any number of times
# ---------------------------------------------------------------------------------------------


class _PreadRaw(io.RawIOBase):
    """A private read position over a shared file descriptor (``os.pread``).

    Each pass over a spooled export gets its own position, so a validation pass and a reading
    pass (or two readers) never disturb each other's offset, without reopening by name.
    """

    def __init__(self, fd: int):
        super().__init__()
        self._fd = fd
        self._pos = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = os.pread(self._fd, len(buffer), self._pos)
        n = len(data)
        buffer[:n] = data
        self._pos += n
        return n


class _Input:
    """The bytes of one export: a file on disk, or a spool of a stream that cannot be re-read."""

    def __init__(self, display: str, path: Path | None = None):
        self.display = display
        self.path = path
        self._spool: IO[bytes] | None = None
        self._spool_path: str | None = None

    @classmethod
    def spooled(cls, display: str, stream: IO[bytes] | IO[str]) -> _Input:
        """Copy ``stream`` to a temporary file in chunks (never whole into memory)."""
        inp = cls(display)
        if hasattr(os, "pread"):
            # Anonymous on Linux (O_TMPFILE): nothing is left behind even if the process is killed.
            spool: IO[bytes] = tempfile.TemporaryFile(prefix="mail2dataverse-")
        else:  # pragma: no cover - Windows: reopened by name per pass, removed on close
            spool = tempfile.NamedTemporaryFile(prefix="mail2dataverse-", delete=False)
            inp._spool_path = spool.name
        try:
            while True:
                chunk = stream.read(1 << 20)
                if not chunk:
                    break
                spool.write(chunk.encode("utf-8") if isinstance(chunk, str) else chunk)
            spool.flush()
        except BaseException:
            spool.close()
            raise
        inp._spool = spool
        return inp

    @classmethod
    def from_file_object(cls, display: str, spool: IO[bytes]) -> _Input:
        """Adopt an already-written temporary file (the Nylas CLI runner's stdout spool)."""
        inp = cls(display)
        spool.flush()
        inp._spool = spool
        return inp

    def open(self) -> IO[bytes]:
        """A fresh binary reader positioned at byte 0."""
        if self.path is not None:
            try:
                return open(self.path, "rb")
            except OSError as exc:
                raise SourceError(f"{self.display}: cannot open: {exc.strerror or exc}") from exc
        if self._spool is None:
            raise SourceError(f"{self.display}: the source is closed")
        if self._spool_path:  # pragma: no cover - Windows fallback
            return open(self._spool_path, "rb")
        return io.BufferedReader(_PreadRaw(self._spool.fileno()), _CHUNK)

    def close(self) -> None:
        """Delete the spool, if any. Files given by path are left alone."""
        if self._spool is not None:
            self._spool.close()
            self._spool = None
        if self._spool_path:  # pragma: no cover - Windows fallback
            try:
                os.unlink(self._spool_path)
            except OSError:
                pass
            self._spool_path = None


def _sniff(inp: _Input) -> tuple[str, int]:
    """Return the text encoding (``utf-8`` or ``utf-16``) and the length of the byte-order mark.

    Windows PowerShell 5 writes ``nylas ... > file.json`` as UTF-16 with a BOM, and Notepad likes
    adding a UTF-8 BOM; both are accepted instead of failing on byte 0.
    """
    with inp.open() as f:
        head = f.read(4)
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8", 3
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16", 0  # the utf-16 codec consumes its own BOM
    return "utf-8", 0


class _Utf8Transcoder(io.RawIOBase):
    """Re-encode a UTF-16 stream as UTF-8 on the fly, so ijson sees the bytes it expects."""

    def __init__(self, raw: IO[bytes]):
        super().__init__()
        self._text = io.TextIOWrapper(raw, encoding="utf-16", newline="")
        self._pending = b""

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:  # type: ignore[override]
        if n is None or n < 0:
            data, self._pending = self._pending + self._text.read().encode("utf-8"), b""
            return data
        while len(self._pending) < n:
            text = self._text.read(max(n // 2, 1))
            if not text:
                break
            self._pending += text.encode("utf-8")
        data, self._pending = self._pending[:n], self._pending[n:]
        return data

    def close(self) -> None:
        self._text.close()
        super().close()


def _open_bytes(inp: _Input, encoding: str, bom: int) -> IO[bytes]:
    """Open ``inp`` as UTF-8 bytes with the BOM skipped."""
    f = inp.open()
    if encoding == "utf-16":
        return _Utf8Transcoder(f)  # type: ignore[return-value]
    if bom:
        f.read(bom)
    return f


# ---------------------------------------------------------------------------------------------
# JSON array reader
# ---------------------------------------------------------------------------------------------


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


class _JsonArray:
    """Records of a top-level JSON array (or ``null``), streamed with ijson."""

    format = "json"

    def __init__(self, inp: _Input):
        self._inp = inp
        self._encoding, self._bom = _sniff(inp)
        self._exact_numbers = False  # switched on when an integer does not fit in 64 bits
        self._depth_checked = False

    def _top_level(self) -> str:
        """Return ``"array"`` or ``"null"`` (after checking nothing follows it), else raise."""
        name = self._inp.display
        with _open_bytes(self._inp, self._encoding, self._bom) as f:
            offset = 0
            first = b""
            while True:
                chunk = f.read(_CHUNK)
                if not chunk:
                    break
                stripped = chunk.lstrip(_WS)
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
            stripped = rest.lstrip(_WS)
            if stripped:
                at = offset + len(rest) - len(stripped)
                raise SourceError(
                    f"{self._inp.display}: invalid JSON at byte {at} (before the first record): "
                    "unexpected data after null"
                )
            offset += len(rest)
            rest = f.read(_CHUNK)
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
        with _open_bytes(self._inp, self._encoding, self._bom) as f:
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
        with _open_bytes(self._inp, self._encoding, self._bom) as f:
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
        with _open_bytes(self._inp, self._encoding, self._bom) as f:
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


# ---------------------------------------------------------------------------------------------
# NDJSON reader
# ---------------------------------------------------------------------------------------------


class _Ndjson:
    """One JSON value per line (``jq -c '.[]'`` output); blank lines are skipped."""

    format = "ndjson"

    def __init__(self, inp: _Input):
        self._inp = inp
        self._encoding, self._bom = _sniff(inp)
        self.line_of: int = 0  # line number of the record last yielded (for messages)

    def records(self) -> Iterator[Any]:
        """Yield each line's value; an invalid line raises ``SourceError "file:line: ..."``."""
        name = self._inp.display
        raw = self._inp.open()
        stream: Iterable[Any]
        if self._encoding == "utf-16":
            stream = io.TextIOWrapper(raw, encoding="utf-16", newline="\n")
        else:
            if self._bom:
                raw.read(self._bom)
            stream = raw
        with raw:
            for lineno, line in enumerate(stream, 1):
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                except UnicodeDecodeError as exc:
                    raise SourceError(f"{name}:{lineno}: not UTF-8 text: {exc.reason}") from None
                except json.JSONDecodeError as exc:
                    raise SourceError(f"{name}:{lineno}: invalid JSON: {exc.msg} (column {exc.colno})") from None
                except RecursionError:
                    raise SourceError(f"{name}:{lineno}: JSON nested too deeply (a damaged or hostile file)") from None
                self.line_of = lineno
                yield record


# ---------------------------------------------------------------------------------------------
# Plugin formats (mbox, EML, ...)
# ---------------------------------------------------------------------------------------------


class _PluginFormat:
    """Records from a plugin's ``opener(path, kind, options)``."""

    def __init__(self, name: str, opener: Callable[..., Iterable[Any]], path: Path, kind: str,
                 options: Mapping[str, Any], display: str):
        self.format = name
        self._opener = opener
        self._path = path
        self._kind = kind
        self._options = dict(options)
        self._display = display

    def records(self) -> Iterator[Any]:
        """Yield what the plugin yields; its unexpected exceptions become one-line SourceErrors."""
        index = 0
        try:
            for record in self._opener(self._path, self._kind, self._options):
                index += 1
                yield record
        except SourceError:
            raise
        except Exception as exc:  # a third-party plugin's bug must not surface as a traceback
            raise SourceError(
                f"{self._display}: the {self.format} source failed after record {index}: "
                f"{type(exc).__name__}: {exc}"
            ) from exc


# ---------------------------------------------------------------------------------------------
# The public object
# ---------------------------------------------------------------------------------------------


class RecordSource:
    """One export, read as ``(RecordRef, record)`` pairs; a context manager that cleans up.

    Attributes: ``name`` (file name as given, ``-`` for stdin, ``nylas:<grant>/<kind>`` for the
    CLI; it is ``RecordRef.source``), ``kind`` (``messages`` or ``contacts``), ``format``
    (``json``, ``ndjson`` or a plugin name), ``count`` (records, known after :meth:`validate`),
    ``warnings`` (non-fatal problems, e.g. headers that could not be fetched), ``meta`` (facts
    about how the export was produced, e.g. the nylas command line and CLI version).
    """

    def __init__(self, name: str, kind: str, reader: Any, *, inp: _Input | _InputGroup | None = None,
                 enrich: Callable[[Iterator[Any]], Iterator[Any]] | None = None,
                 meta: dict[str, Any] | None = None):
        self.name = name
        self.kind = kind
        self.format: str = reader.format
        self.count: int | None = None
        self.warnings: list[str] = []
        self.meta: dict[str, Any] = meta or {}
        self._reader = reader
        self._inp = inp
        self._enrich = enrich
        self._validated_strict = False
        self._closed = False

    # -- reading -----------------------------------------------------------------------------

    def _where(self) -> str:
        line = getattr(self._reader, "line_of", 0)
        return f"{self.name}:{line}" if line else self.name

    def validate(self, *, allow_non_objects: bool = False) -> int:
        """Read the whole export once, checking its structure; return the number of records.

        Nothing is kept in memory. Raises :class:`SourceError` for structural damage (see the
        module docstring) and, unless ``allow_non_objects``, for a record that is not a JSON
        object (message names the record number). Calling it again returns the cached count.
        """
        self._check_open()
        if self.count is not None and (self._validated_strict or allow_non_objects):
            return self.count
        count = 0
        for record in self._reader.records():
            count += 1
            if not allow_non_objects and not isinstance(record, dict):
                raise SourceError(
                    f"{self._where()}: record {count} is {_type_name(record)}, not an object "
                    "(a Nylas export is an array of message or contact objects)"
                )
        self.count = count
        self._validated_strict = not allow_non_objects
        return count

    def records(self) -> Iterator[Any]:
        """The bare records, without references (what :meth:`__iter__` wraps)."""
        self._check_open()
        records = self._reader.records()
        return self._enrich(records) if self._enrich else records

    def __iter__(self) -> Iterator[tuple[RecordRef, Any]]:
        """Yield ``(RecordRef(name, index, id), record)`` for every record, streaming."""
        name = self.name
        for index, record in enumerate(self.records()):
            rid = record.get("id") if isinstance(record, dict) else None
            yield RecordRef(name, index, rid if isinstance(rid, str) and rid else None), record

    # -- lifetime ------------------------------------------------------------------------------

    def _check_open(self) -> None:
        if self._closed:
            raise SourceError(f"{self.name}: the source is closed")

    def close(self) -> None:
        """Release the spool file (stdin, CLI output), if any. Safe to call twice."""
        self._closed = True
        if self._inp is not None:
            self._inp.close()

    def __enter__(self) -> RecordSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"RecordSource({self.name!r}, kind={self.kind!r}, format={self.format!r}, count={self.count})"


# ---------------------------------------------------------------------------------------------
# Opening: format detection and plugins
# ---------------------------------------------------------------------------------------------


def _plugin_sources(plugins: Any) -> dict[str, tuple[Callable[..., Any], Callable[[Path], bool] | None]]:
    """``{name: (opener, detect)}`` from the Plugins wrapper or a bare pluggy manager."""
    if plugins is None:
        return {}
    if hasattr(plugins, "sources"):
        return dict(plugins.sources())
    found: dict[str, tuple[Callable[..., Any], Callable[[Path], bool] | None]] = {}

    def register(name: str, opener: Callable[..., Any], detect: Callable[[Path], bool] | None = None) -> None:
        found[name] = (opener, detect)

    plugins.hook.register_sources(register=register)
    return found


def _looks_like_ndjson(inp: _Input, encoding: str, bom: int) -> bool:
    """A file starting with ``{``: NDJSON when its first line is a complete JSON value."""
    with _open_bytes(inp, encoding, bom) as f:
        first = f.readline(1 << 24)
    try:
        return isinstance(json.loads(first), dict)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return False


def _sniff_builtin(inp: _Input) -> str | None:
    """``json`` / ``ndjson`` from the first non-blank byte, or None when it is not JSON-ish."""
    encoding, bom = _sniff(inp)
    with _open_bytes(inp, encoding, bom) as f:
        head = f.read(_CHUNK).lstrip(_WS)
        while not head:
            chunk = f.read(_CHUNK)
            if not chunk:
                return "json"  # empty: let the JSON reader report it clearly
            head = chunk.lstrip(_WS)
    if head[:1] in (b"[", b"n"):
        return "json"
    if head[:1] == b"{":
        return "ndjson" if _looks_like_ndjson(inp, encoding, bom) else "json"
    return None


def open_source(spec: str | os.PathLike[str], kind: str, *, plugins: Any = None, fmt: str | None = None,
                options: Mapping[str, Any] | None = None) -> RecordSource:
    """Open an export for streaming.

    :param spec: a file path, ``-`` for stdin, or a directory (an EML folder, read by a plugin).
    :param kind: ``"messages"`` or ``"contacts"``.
    :param plugins: the Plugins wrapper (its ``sources()``) or a pluggy manager, for formats such
        as mbox/EML; ``None`` allows only the built-in JSON and NDJSON readers.
    :param fmt: ``None`` to detect (``.ndjson``/``.jsonl`` → NDJSON; ``.json`` or content
        starting with ``[``/``null`` → JSON array; ``.mbox``/``.eml``/directories and unknown
        content → the plugins' ``detect``), else ``"json"``, ``"ndjson"`` or a plugin name.
    :param options: passed to plugin openers (e.g. ``{"grant": "..."}``).
    :raises SourceError: the input does not exist or its format cannot be recognised.
    :raises ConfigError: unknown ``kind`` or ``fmt``.

    Nothing is parsed yet; call :meth:`RecordSource.validate` before writing anything.
    """
    if kind not in KINDS:
        raise ConfigError(f"unknown record kind {kind!r}: expected one of {', '.join(KINDS)}")
    spec = os.fspath(spec)
    options = dict(options or {})
    fmt = _FORMAT_ALIASES.get(fmt.lower(), fmt.lower()) if fmt else None
    sources = _plugin_sources(plugins) if (plugins is not None and fmt not in BUILTIN_FORMATS) else {}
    if fmt is not None and fmt not in BUILTIN_FORMATS and fmt not in sources:
        known = ", ".join([*BUILTIN_FORMATS, *sorted(sources)])
        raise ConfigError(f"unknown input format {fmt!r}: expected one of {known}")

    if spec == "-":
        if fmt in sources:
            raise SourceError(f"-: the {fmt} format reads files, not stdin; give a path")
        stream = getattr(sys.stdin, "buffer", sys.stdin)
        inp = _Input.spooled("-", stream)
        try:
            chosen = fmt or _sniff_builtin(inp)
            if chosen is None:
                raise SourceError("-: stdin is not a JSON array, null or NDJSON")
            return _builtin(inp, "-", kind, chosen)
        except BaseException:
            inp.close()
            raise

    path = Path(spec)
    if not path.exists():
        raise SourceError(f"{spec}: no such file or directory")
    if fmt in sources:
        return _from_plugin(fmt, sources[fmt], path, kind, options, spec)
    if fmt in BUILTIN_FORMATS:
        if path.is_dir():
            raise SourceError(f"{spec}: is a directory; {fmt} input must be a file")
        return _builtin(_Input(spec, path), spec, kind, fmt)

    # Auto-detection.
    suffix = path.suffix.lower()
    if path.is_file() and suffix in _NDJSON_SUFFIXES:
        return _builtin(_Input(spec, path), spec, kind, "ndjson")
    if path.is_file() and suffix == ".json":
        return _builtin(_Input(spec, path), spec, kind, "json")
    if path.is_file() and suffix not in _PLUGIN_SUFFIXES:
        sniffed = _sniff_builtin(_Input(spec, path))
        if sniffed is not None:
            return _builtin(_Input(spec, path), spec, kind, sniffed)
    for name, entry in sources.items():
        if entry[1] is None:  # a source without detect() is used only when named with fmt
            continue
        try:
            if entry[1](path):
                return _from_plugin(name, entry, path, kind, options, spec)
        except Exception as exc:  # a broken detect() must not hide the others behind a traceback
            raise SourceError(f"{spec}: the {name} source's detect() failed: {exc}") from exc
    what = "directory" if path.is_dir() else "file"
    hint = "" if sources else " (mbox/EML need the mbox plugin, which is not loaded)"
    raise SourceError(
        f"{spec}: cannot tell the format of this {what}: expected a JSON array, NDJSON"
        f"{', ' + ', '.join(sorted(sources)) if sources else ''}{hint}; use --input-format"
    )


def _builtin(inp: _Input, name: str, kind: str, fmt: str) -> RecordSource:
    reader = _JsonArray(inp) if fmt == "json" else _Ndjson(inp)
    return RecordSource(name, kind, reader, inp=inp)


def _from_plugin(fmt: str, entry: tuple[Callable[..., Any], Any], path: Path, kind: str,
                 options: Mapping[str, Any], display: str) -> RecordSource:
    reader = _PluginFormat(fmt, entry[0], path, kind, options, display)
    return RecordSource(display, kind, reader)


def open_spooled(spool: IO[bytes] | Sequence[IO[bytes]], name: str, kind: str, **kwargs: Any) -> RecordSource:
    """Wrap already-written temporary files of JSON (the CLI runner's stdout) as one source.

    Several spools (one ``contacts list`` per contacts source) are read one after the other,
    as if they were one array; the source owns them and closes (deletes) them when closed.
    """
    spools = list(spool) if isinstance(spool, Sequence) else [spool]
    if len(spools) == 1:
        inp = _Input.from_file_object(name, spools[0])
        return RecordSource(name, kind, _JsonArray(inp), inp=inp, **kwargs)
    inputs = [_Input.from_file_object(f"{name}#{n}", s) for n, s in enumerate(spools, 1)]
    return RecordSource(name, kind, _Chain([_JsonArray(i) for i in inputs]), inp=_InputGroup(inputs), **kwargs)


class _Chain:
    """Records of several JSON arrays, one after the other (damage names the part: ``name#2``)."""

    format = "json"

    def __init__(self, readers: Sequence[_JsonArray]):
        self._readers = list(readers)

    def records(self) -> Iterator[Any]:
        """Every record of the first array, then of the second, ..."""
        for reader in self._readers:
            yield from reader.records()


class _InputGroup:
    """Closes several spools together (what :class:`RecordSource` expects of one input)."""

    def __init__(self, inputs: Sequence[_Input]):
        self._inputs = list(inputs)

    def close(self) -> None:
        """Delete every spool."""
        for inp in self._inputs:
            inp.close()
