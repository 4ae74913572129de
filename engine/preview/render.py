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

from .spool import SECTIONS, Spool

FORMATS = ("json", "ndjson", "yaml", "table", "html")
_TITLES = {"account": "ACCOUNTS", "contact": "CONTACTS", "email": "EMAILS", "address": "ADDRESSES (resolution report)"}


def render(fmt: str, summary: dict[str, Any], spool: Spool, out: IO[str], *, width: int | None = None) -> None:
    """Write ``summary`` and the spooled sections to ``out`` in ``fmt``."""
    writers: dict[str, Callable[..., None]] = {"json": _json, "ndjson": _ndjson, "yaml": _yaml, "table": _table}
    if fmt == "html":
        from .html import write_html

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


# ---------------------------------------------------------------------------------------------
# table
# ---------------------------------------------------------------------------------------------


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[: max(0, width - 1)] + "…"


def _short(record: str) -> str:
    """``dir/messages.json record 3 (id x)`` → ``messages.json record 3 (id x)``."""
    head, sep, tail = record.partition(" record ")
    return head.replace("\\", "/").rsplit("/", 1)[-1] + sep + tail


def _value(value: Any, width: int = 40) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return _cut(text.replace("\n", " "), width)


def summary_lines(summary: dict[str, Any]) -> list[str]:
    """The summary as the table format (and the HTML page's plain-text fallback) prints it."""
    outcomes = summary["outcomes"]
    lines = [f"{'table':<8} " + " ".join(f"{o:>10}" for o in outcomes)]
    for table, counts in summary["tables"].items():
        lines.append(f"{table:<8} " + " ".join(f"{counts.get(o, 0):>10}" for o in outcomes))
    lines.append(f"against: {summary['against'] or 'an empty org (no --url)'}")
    inputs = summary["inputs"]
    lines.append(f"inputs: {inputs.get('contacts', 0)} contacts, {inputs.get('messages', 0)} messages planned")
    if summary.get("selection"):
        lines.append("selection: " + ", ".join(f"{k} {v}" for k, v in summary["selection"].items()))
    if summary.get("addresses"):
        lines.append("addresses: " + ", ".join(f"{n} {k}" for k, n in summary["addresses"].items()))
    if summary.get("requests"):
        lines.append("requests sent: " + ", ".join(f"{k} {v}" for k, v in summary["requests"].items()))
    if summary.get("writes_not_sent"):
        lines.append("writes not sent: " + ", ".join(f"{n} × {k}" for k, n in summary["writes_not_sent"].items()))
    for w in summary.get("warnings", []):
        lines.append(f"warning: {w}")
    return lines


def columns_text(rec: dict[str, Any]) -> str:
    """The columns a record sets (create) or changes (update), or its reason."""
    if rec.get("changes"):
        return ", ".join(f"{k}: {_value(v['before'], 30)} → {_value(v['after'], 30)}" for k, v in rec["changes"].items())
    payload = rec.get("payload")
    if payload:
        return ", ".join(f"{k}={_value(v, 30)}" for k, v in payload.items()
                         if not k.endswith("id") or k.endswith("@odata.bind"))
    return rec.get("reason", "")


def party_text(p: dict[str, Any]) -> str:
    """One party: ``role address → table name`` (or unresolved / ambiguous)."""
    if p.get("status") in ("resolved", "ambiguous"):
        what = f"{p['table']} {p.get('name') or p.get('id')}"
        if p["status"] == "ambiguous":
            what += f" (ambiguous: {len(p.get('candidates', []))} candidates)"
        return f"{p['role']} {p['address']} → {what}"
    return f"{p['role']} {p['address']} → unresolved"


def regarding_text(r: dict[str, Any] | None) -> str:
    """The regarding link in a few words."""
    if not r or r.get("status") == "none":
        return "regarding: none"
    name = f" {r['name']!r}" if r.get("name") else ""
    return f"regarding: {r['rule']}{name} [{r['status']}] ({r.get('reason', '')})"


def record_text(section: str, rec: dict[str, Any]) -> str:
    """A record's detail column in the table format."""
    if section == "email":
        if rec.get("outcome") != "create" and rec.get("outcome") != "would fail":
            return f"{_value(rec.get('subject') or '', 40)!s} · {rec.get('reason', '')}"
        parts = [f"subject={_value(rec.get('subject') or '', 40)}"]
        parts += [party_text(p) for p in rec.get("parties", [])]
        parts.append(regarding_text(rec.get("regarding")))
        if rec.get("problems"):
            parts.append("PROBLEMS: " + "; ".join(rec["problems"]))
        return " · ".join(parts)
    if section == "address":
        if rec["status"] in ("resolved", "ambiguous"):
            text = f"{rec['table']} {rec.get('name') or ''} ({rec['id']}, {rec['via']})"
            if rec.get("candidates"):
                text += " candidates: " + ", ".join(f"{c.get('name') or ''} ({c['id']})" for c in rec["candidates"])
            return f"{rec['emails']} email(s) · {text}"
        return f"{rec['emails']} email(s) · kept as addressused only"
    text = columns_text(rec)
    if section == "contact" and rec.get("account"):
        text += f" · account {rec['account']['domain']} from {rec['account'].get('from_address')}"
    if rec.get("found", {}).get("candidates"):
        text += f" · ambiguous: {len(rec['found']['candidates'])} rows hold this address"
    if rec.get("problems"):
        text += " · PROBLEMS: " + "; ".join(rec["problems"])
    return text


def _table(summary: dict[str, Any], spool: Spool, out: IO[str], width: int) -> None:
    for line in summary_lines(summary):
        out.write(_cut(line, width) + "\n")
    for section in SECTIONS:
        if not spool.counts.get(section):
            continue
        out.write(f"\n{_TITLES[section]} ({spool.counts[section]})\n")
        label = "status" if section == "address" else "outcome"
        out.write(_cut(f"{label:<11} {'record':<40} columns set or changed / why", width) + "\n")
        for rec in spool.records(section):
            outcome = rec.get("status") if section == "address" else rec["outcome"]
            key = rec.get("address") or rec.get("key") or rec.get("record") or ""
            if section == "email" or outcome == "skipped":
                key = _short(rec.get("record", ""))
            out.write(_cut(f"{outcome:<11} {_cut(key, 40):<40} {record_text(section, rec)}", width) + "\n")
