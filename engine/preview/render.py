"""Streaming renderers: each record formatted once as it is settled, the summary first at the end.

Every format writes one record at a time, so a preview of any size needs the memory of one
record. :func:`record_format` gives the text of one record in a format (what the
:class:`~.spool.Spool` keeps); :func:`render` writes the summary, then copies each section's
spooled text out:

``ndjson``  one JSON object per line: the summary, then one per record;
``json``    one array: the summary, then the records (one per line, so it also greps well);
``yaml``    a stream of YAML documents (``---``), the summary first;
``table``   a summary table, then per section one line per record with the columns that are
            set (create) or changed (update, ``before → after``), cut to the terminal width;
``html``    one self-contained page (:mod:`.html`).
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from typing import IO, Any

import yaml

from ..jsontext import dumps_bytes
from .html import html_row, write_html
from .spool import SECTIONS, Spool, dumps, plain
from .text import TITLES, cut, summary_lines, table_line
from .yamldoc import Documents

FORMATS = ("json", "ndjson", "yaml", "table", "html")

#: ``(section, record) → text`` of one record in the output
RecordFormat = Callable[[str, dict[str, Any]], bytes]


def terminal_width(width: int | None) -> int:
    """The width the table format cuts its lines to: ``width``, else the terminal's (``COLUMNS``)."""
    return width or shutil.get_terminal_size((120, 24)).columns


def record_format(fmt: str, width: int | None = None) -> RecordFormat:
    """How ``fmt`` shows one record, as UTF-8 (``width``: the table's, see :func:`terminal_width`)."""
    if fmt == "json":
        return lambda section, rec: b",\n" + dumps_bytes(rec)
    if fmt == "ndjson":
        return lambda section, rec: dumps_bytes(rec) + b"\n"
    if fmt == "yaml":
        documents = Documents()
        return lambda section, rec: documents(rec).encode("utf-8")
    if fmt == "table":
        cols = terminal_width(width)
        return _as_read_back(lambda section, rec: table_line(section, rec, cols))
    if fmt == "html":
        return _as_read_back(html_row)
    raise ValueError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")


def _as_read_back(text: Callable[[str, dict[str, Any]], str]) -> RecordFormat:
    """``text`` as UTF-8, shown for a record holding values that are not plain JSON data (which
    the text functions do not expect) as for the record read back from its JSON."""

    def safe(section: str, rec: dict[str, Any]) -> bytes:
        try:
            return text(section, rec).encode("utf-8")
        except (TypeError, AttributeError, ValueError):
            return text(section, plain(rec)).encode("utf-8")

    return safe


def render(fmt: str, summary: dict[str, Any], spool: Spool, out: IO[str], *, width: int | None = None) -> None:
    """Write ``summary`` and the spooled sections (formatted by :func:`record_format` of ``fmt``) to ``out``."""
    if fmt == "html":
        write_html(summary, spool, out)
    elif fmt == "table":
        _table(summary, spool, out, terminal_width(width))
    elif fmt in ("json", "ndjson", "yaml"):
        if fmt == "json":
            out.write("[\n" + dumps(summary))
        elif fmt == "ndjson":
            out.write(dumps(summary) + "\n")
        else:
            dump = yaml.CSafeDumper if hasattr(yaml, "CSafeDumper") else yaml.SafeDumper
            out.write(yaml.dump(summary, Dumper=dump, sort_keys=False, allow_unicode=True, width=100,
                                explicit_start=True))
        for section in SECTIONS:
            spool.copy(section, out)
        if fmt == "json":
            out.write("\n]\n")
    else:
        raise ValueError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")


def _table(summary: dict[str, Any], spool: Spool, out: IO[str], width: int) -> None:
    for line in summary_lines(summary):
        out.write(cut(line, width) + "\n")
    for section in SECTIONS:
        if not spool.counts.get(section):
            continue
        out.write(f"\n{TITLES[section]} ({spool.counts[section]})\n")
        label = "status" if section == "address" else "outcome"
        out.write(cut(f"{label:<11} {'record':<40} columns set or changed / why", width) + "\n")
        spool.copy(section, out)
