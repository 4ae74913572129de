"""Plain-text pieces of a preview: the summary lines and one line of text per record.

Shared by the table format and the HTML page (which shows the same words in its cells).
"""

from __future__ import annotations

import json
from typing import Any

TITLES = {"account": "ACCOUNTS", "contact": "CONTACTS", "email": "EMAILS", "address": "ADDRESSES (resolution report)"}


def cut(text: str, width: int) -> str:
    """``text`` cut to ``width`` characters, an ellipsis marking the cut."""
    return text if len(text) <= width else text[: max(0, width - 1)] + "…"


def short(record: str) -> str:
    """``dir/messages.json record 3 (id x)`` → ``messages.json record 3 (id x)``."""
    head, sep, tail = record.partition(" record ")
    return head.replace("\\", "/").rsplit("/", 1)[-1] + sep + tail


def _value(value: Any, width: int = 40) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return cut(text.replace("\n", " "), width)


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
    for src in summary.get("sources", []):
        if src.get("rest_not_read"):
            lines.append(f"read: {src['name']} up to record {src['records']} only; "
                         "the rest was not read (nor checked for damage)")
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


def table_line(section: str, rec: dict[str, Any], width: int) -> str:
    """A record's line in the table format (newline included): outcome, record, details, cut to ``width``."""
    outcome = rec.get("status") if section == "address" else rec["outcome"]
    if section == "email" or outcome == "skipped":
        key = short(rec.get("record", ""))
    else:
        key = rec.get("address") or rec.get("key") or rec.get("record") or ""
    return cut(f"{outcome:<11} {cut(key, 40):<40} {record_text(section, rec)}", width) + "\n"


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
