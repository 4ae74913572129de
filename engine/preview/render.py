"""Streaming renderers: the summary first, then each section's records, read back from the spool.

Every format writes as it reads, one record at a time, so a preview of any size needs the
memory of one record:

``ndjson``  one JSON object per line: the summary, then one per record;
``json``    one array: the summary, then the records (one per line, so it also greps well);
``yaml``    a stream of YAML documents (``---``), the summary first;
``table``   a summary table, then per section one line per record with the columns that are
            set (create) or changed (update, ``before → after``), cut to the terminal width;
``html``    one self-contained page (:mod:`.html`).
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from typing import IO, Any

import yaml

from .html import write_html
from .spool import SECTIONS, Spool
from .text import TITLES, cut, record_text, short, summary_lines

FORMATS = ("json", "ndjson", "yaml", "table", "html")


def render(fmt: str, summary: dict[str, Any], spool: Spool, out: IO[str], *, width: int | None = None) -> None:
    """Write ``summary`` and the spooled sections to ``out`` in ``fmt``."""
    writers: dict[str, Callable[..., None]] = {"json": _json, "ndjson": _ndjson, "yaml": _yaml, "table": _table}
    if fmt == "html":
        write_html(summary, spool, out)
        return
    if fmt not in writers:
        raise ValueError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    if fmt == "table":
        _table(summary, spool, out, width or shutil.get_terminal_size((120, 24)).columns)
    else:
        writers[fmt](summary, spool, out)


def _dump(record: dict[str, Any]) -> str:
    return json.dumps(record, ensure_ascii=False, separators=(",", ":"), default=str)


def _ndjson(summary: dict[str, Any], spool: Spool, out: IO[str]) -> None:
    out.write(_dump(summary) + "\n")
    write = out.write
    for section in SECTIONS:
        for line in spool.lines(section):
            write(line)
            write("\n")


def _json(summary: dict[str, Any], spool: Spool, out: IO[str]) -> None:
    out.write("[\n" + _dump(summary))
    write = out.write
    for section in SECTIONS:
        for line in spool.lines(section):
            write(",\n")
            write(line)
    out.write("\n]\n")


def _yaml(summary: dict[str, Any], spool: Spool, out: IO[str]) -> None:
    dump = yaml.CSafeDumper if hasattr(yaml, "CSafeDumper") else yaml.SafeDumper

    def doc(record: dict[str, Any]) -> None:
        out.write(yaml.dump(record, Dumper=dump, sort_keys=False, allow_unicode=True, width=100,
                            explicit_start=True))

    doc(summary)
    for section in SECTIONS:
        for record in spool.records(section):
            doc(record)


def _table(summary: dict[str, Any], spool: Spool, out: IO[str], width: int) -> None:
    for line in summary_lines(summary):
        out.write(cut(line, width) + "\n")
    for section in SECTIONS:
        if not spool.counts.get(section):
            continue
        out.write(f"\n{TITLES[section]} ({spool.counts[section]})\n")
        label = "status" if section == "address" else "outcome"
        out.write(cut(f"{label:<11} {'record':<40} columns set or changed / why", width) + "\n")
        for rec in spool.records(section):
            outcome = rec.get("status") if section == "address" else rec["outcome"]
            key = rec.get("address") or rec.get("key") or rec.get("record") or ""
            if section == "email" or outcome == "skipped":
                key = short(rec.get("record", ""))
            out.write(cut(f"{outcome:<11} {cut(key, 40):<40} {record_text(section, rec)}", width) + "\n")
