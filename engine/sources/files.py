"""Streaming readers for Nylas-shaped exports: JSON arrays, NDJSON, stdin, and plugin formats.

A :class:`RecordSource` reads one export and can be read more than once: :meth:`RecordSource.validate`
is a full streaming pre-pass that checks the structure (and counts the records) so the sync can
refuse a damaged export *before* it writes anything; iterating it afterwards yields
``(RecordRef, record)`` pairs. Nothing here holds more than one record in memory (and a read's
worth of text): JSON arrays are read in chunks and parsed record by record with the stdlib's C
scanner, NDJSON line by line.

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

This module holds the public face (:class:`RecordSource`, :func:`open_source`,
:func:`open_spooled`) and the format detection; the readers live beside it, one room each:
:mod:`.inputs` (the bytes of one export, spooling, BOM and UTF-16), :mod:`.json_array` (the
array reader, positions of damage), :mod:`.json_scan` (the depth limit and the refused tokens it
checks around the C scanner), :mod:`.ndjson` (line by line) and
:mod:`.plugin_formats` (mbox, EML and other plugin-registered formats).
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import IO, Any

from ..errors import ConfigError, SourceError
from ..model import RecordRef, UnreadableRecord
from .inputs import CHUNK, WS, Input, InputGroup, open_bytes, sniff
from .json_array import MAX_DEPTH, Chain, JsonArray
from .ndjson import Ndjson
from .plugin_formats import PluginFormat, plugin_sources

__all__ = ["BUILTIN_FORMATS", "KINDS", "MAX_DEPTH", "RecordSource", "open_source", "open_spooled"]

KINDS = ("messages", "contacts")
BUILTIN_FORMATS = ("json", "ndjson")
_FORMAT_ALIASES = {"jsonl": "ndjson", "json-lines": "ndjson", "json_array": "json"}
_NDJSON_SUFFIXES = {".ndjson", ".jsonl"}
_PLUGIN_SUFFIXES = {".mbox", ".eml", ".mbx"}
_TYPE_NAMES = {str: "a string", int: "a number", float: "a number", bool: "a boolean",
               list: "an array", type(None): "null", dict: "an object"}


def _type_name(value: Any) -> str:
    return _TYPE_NAMES.get(type(value), type(value).__name__)


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

    def __init__(self, name: str, kind: str, reader: Any, *, inp: Input | InputGroup | None = None,
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
        #: where the attachments' content comes from (an AttachmentContent), None for plain JSON
        self.attachment_content: Any = None

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
        kind_check = _KindCheck(self.kind)
        for record in self._reader.records():
            count += 1
            if not allow_non_objects and not isinstance(record, (dict, UnreadableRecord)):
                raise SourceError(
                    f"{self._where()}: record {count} is {_type_name(record)}, not an object "
                    "(a Nylas export is an array of message or contact objects)"
                )
            if isinstance(record, dict):
                wrong = kind_check.see(record)
                if wrong:
                    raise SourceError(f"{self._where()}: record {count} {wrong}")
        warning = kind_check.verdict(self.name)
        if warning and warning not in self.warnings:
            self.warnings.append(warning)
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
            rid = record.get("id") if isinstance(record, dict) else getattr(record, "id", None)
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
        if self.attachment_content is not None:
            self.attachment_content.close()

    def __enter__(self) -> RecordSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"RecordSource({self.name!r}, kind={self.kind!r}, format={self.format!r}, count={self.count})"


class _KindCheck:
    """Does an export hold the kind of record it was given as (``--messages`` / ``--contacts``)?

    A contacts export given as messages made one completed, read-only email per contact. The
    Nylas CLI marks every record (``"object": "message"`` / ``"contact"``), so a record marked as
    the other kind refuses the export. Records without the mark (hand-made files, other tools)
    are judged by their keys: when not one looks like the expected kind and some look like the
    other, the run says so in a warning (a guess is not enough to refuse a file).
    """

    _OBJECT = {"messages": "message", "contacts": "contact"}
    _KEYS = {"messages": frozenset({"subject", "from", "to", "cc", "date", "body", "snippet", "thread_id", "folders"}),
             "contacts": frozenset({"emails", "given_name", "surname", "phone_numbers", "company_name", "job_title",
                                    "nickname", "middle_name"})}

    def __init__(self, kind: str):
        self.kind = kind
        self.other = "contacts" if kind == "messages" else "messages"
        self.expected = 0
        self.like_other = 0

    def see(self, record: dict[str, Any]) -> str | None:
        """Note one record; return why the export is refused, or None."""
        mark = record.get("object")
        if mark == self._OBJECT[self.other]:
            return (f"is a Nylas {mark} (\"object\": \"{mark}\"), not a {self._OBJECT[self.kind]}: is this the "
                    f"{self.other} export? Give it as --{self.other}")
        keys = record.keys()
        if mark == self._OBJECT[self.kind] or not self._KEYS[self.kind].isdisjoint(keys):
            self.expected += 1
        elif not self._KEYS[self.other].isdisjoint(keys):
            self.like_other += 1
        return None

    def verdict(self, name: str) -> str | None:
        """A warning when no record looked like the expected kind and some like the other."""
        if self.expected or not self.like_other:
            return None
        return (f"{name}: given as {self.kind}, but {self.like_other:,} record(s) look like {self.other} and none "
                f"like {self.kind} (keys such as {', '.join(sorted(self._KEYS[self.other])[:3])}): "
                f"is this the {self.other} export?")


# ---------------------------------------------------------------------------------------------
# Opening: format detection and plugins
# ---------------------------------------------------------------------------------------------


def _looks_like_ndjson(inp: Input, encoding: str, bom: int) -> bool:
    """A file starting with ``{``: NDJSON when its first line is a complete JSON value."""
    with open_bytes(inp, encoding, bom) as f:
        first = f.readline(1 << 24)
    try:
        return isinstance(json.loads(first), dict)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return False


def _sniff_builtin(inp: Input) -> str | None:
    """``json`` / ``ndjson`` from the first non-blank byte, or None when it is not JSON-ish."""
    encoding, bom = sniff(inp)
    with open_bytes(inp, encoding, bom) as f:
        head = f.read(CHUNK).lstrip(WS)
        while not head:
            chunk = f.read(CHUNK)
            if not chunk:
                return "json"  # empty: let the JSON reader report it clearly
            head = chunk.lstrip(WS)
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
    sources = plugin_sources(plugins) if (plugins is not None and fmt not in BUILTIN_FORMATS) else {}
    if fmt is not None and fmt not in BUILTIN_FORMATS and fmt not in sources:
        known = ", ".join([*BUILTIN_FORMATS, *sorted(sources)])
        raise ConfigError(f"unknown input format {fmt!r}: expected one of {known}")

    if spec == "-":
        if fmt in sources:
            raise SourceError(f"-: the {fmt} format reads files, not stdin; give a path")
        stream = getattr(sys.stdin, "buffer", sys.stdin)
        inp = Input.spooled("-", stream)
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
        return _builtin(Input(spec, path), spec, kind, fmt)

    # Auto-detection.
    suffix = path.suffix.lower()
    if path.is_file() and suffix in _NDJSON_SUFFIXES:
        return _builtin(Input(spec, path), spec, kind, "ndjson")
    if path.is_file() and suffix == ".json":
        return _builtin(Input(spec, path), spec, kind, "json")
    if path.is_file() and suffix not in _PLUGIN_SUFFIXES:
        sniffed = _sniff_builtin(Input(spec, path))
        if sniffed is not None:
            return _builtin(Input(spec, path), spec, kind, sniffed)
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


def _builtin(inp: Input, name: str, kind: str, fmt: str) -> RecordSource:
    reader = JsonArray(inp) if fmt == "json" else Ndjson(inp)
    return RecordSource(name, kind, reader, inp=inp)


def _from_plugin(fmt: str, entry: tuple[Callable[..., Any], Any], path: Path, kind: str,
                 options: Mapping[str, Any], display: str) -> RecordSource:
    reader = PluginFormat(fmt, entry[0], path, kind, options, display)
    src = RecordSource(display, kind, reader)
    extract = getattr(entry[0], "extract_attachment", None)
    if extract is not None and kind == "messages":
        from .attachment_content import MimeParts

        src.attachment_content = MimeParts(extract)
    return src


def open_spooled(spool: IO[bytes] | Sequence[IO[bytes]], name: str, kind: str, **kwargs: Any) -> RecordSource:
    """Wrap already-written temporary files of JSON (the CLI runner's stdout) as one source.

    Several spools (one ``contacts list`` per contacts source) are read one after the other,
    as if they were one array; the source owns them and closes (deletes) them when closed.
    """
    spools = list(spool) if isinstance(spool, Sequence) else [spool]
    if len(spools) == 1:
        inp = Input.from_file_object(name, spools[0])
        return RecordSource(name, kind, JsonArray(inp), inp=inp, **kwargs)
    inputs = [Input.from_file_object(f"{name}#{n}", s) for n, s in enumerate(spools, 1)]
    return RecordSource(name, kind, Chain([JsonArray(i) for i in inputs]), inp=InputGroup(inputs), **kwargs)

