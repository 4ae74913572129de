"""``--format html``: one self-contained page a CRM admin can send for approval.

The page holds everything itself (inline CSS and a few lines of inline JavaScript, no fonts,
images, scripts or styles from anywhere else, so it opens the same offline and in a mail
client's viewer): the summary, then one table per entity with a text filter and an outcome
filter, changed columns highlighted (before struck through, after marked), each email's parties
with what they resolve to, and its regarding link with the rule and reason. Without JavaScript
every row is simply shown.

Each row is formatted (:func:`html_row`) as its record is settled and spooled; the page is
written around the spooled rows once the plan is complete.
"""

from __future__ import annotations

import json
from html import escape
from json.encoder import encode_basestring as _string  # the JSON of a str, as json.dumps writes it
from typing import IO, Any

from .text import party_text, regarding_text, summary_lines
from .spool import SECTIONS, Spool

_TITLES = {"account": "Accounts", "contact": "Contacts", "email": "Emails", "address": "Addresses (resolution report)"}

_CSS = """
body{font:14px/1.4 system-ui,-apple-system,'Segoe UI',sans-serif;margin:1.5em;color:#1b1b1b}
h1{font-size:1.4em}h2{font-size:1.15em;margin-top:2em}
table{border-collapse:collapse;width:100%;margin:.5em 0}
th,td{border:1px solid #ccd;padding:.3em .5em;vertical-align:top;text-align:left}
th{background:#eef1f7}
td.n{text-align:right;font-variant-numeric:tabular-nums}
.o-create{color:#0a6b2e;font-weight:600}.o-update{color:#8a5a00;font-weight:600}
.o-unchanged{color:#666}.o-skipped{color:#555;font-style:italic}
.o-would-fail,.o-failed{color:#b00020;font-weight:700}
del{color:#a33;background:#fde4e4}ins.changed{text-decoration:none;background:#fff0a8;font-weight:600}
ul.parties{margin:0;padding-left:1.1em}
li.unresolved{color:#8a5a00}li.ambiguous{color:#b00020}
.regarding{margin-top:.3em;color:#234}
.filters{margin:.3em 0}.filters input{width:22em}
details pre{white-space:pre-wrap;max-width:60em;font-size:12px}
.problems{color:#b00020}
pre.facts{white-space:pre-wrap}
"""

_JS = """
(function(){
  // #q=TEXT in the address pre-fills every filter: a link that opens the page on what matters.
  var m=/[#&]q=([^&]*)/.exec(location.hash), preset=m?decodeURIComponent(m[1]):'';
  document.querySelectorAll('section[data-section]').forEach(function(sec){
    var text=sec.querySelector('input.filter'), sel=sec.querySelector('select.outcome');
    var rows=sec.querySelectorAll('tbody tr'), shown=sec.querySelector('.shown');
    function apply(){
      var q=text.value.toLowerCase(), o=sel.value, n=0;
      rows.forEach(function(r){
        var ok=(!q||r.textContent.toLowerCase().indexOf(q)>=0)&&(!o||r.getAttribute('data-outcome')===o);
        r.style.display=ok?'':'none'; if(ok)n++;
      });
      shown.textContent=n+' of '+rows.length+' shown';
    }
    if(preset)text.value=preset;
    text.addEventListener('input',apply); sel.addEventListener('change',apply); apply();
  });
})();
"""


_scalar = json.JSONEncoder(ensure_ascii=False).encode


def _e(value: Any) -> str:
    if value is None:
        return ""
    return escape(value if isinstance(value, str) else json.dumps(value, ensure_ascii=False))


def _outcome(rec: dict[str, Any], section: str) -> str:
    return rec.get("status", "") if section == "address" else rec.get("outcome", "")


def _columns_cell(rec: dict[str, Any]) -> str:
    if rec.get("changes"):
        items = [f"<div><b>{_e(k)}</b>: <del>{_e(v['before'])}</del> → <ins class=\"changed\">{_e(v['after'])}</ins></div>"
                 for k, v in rec["changes"].items()]
        return "".join(items)
    if rec.get("payload"):
        shown = [f"<div><b>{_e(k)}</b> = {_e(v)}</div>" for k, v in rec["payload"].items() if k != "description"]
        return "".join(shown)
    return ""


def _email_cell(rec: dict[str, Any]) -> str:
    out = []
    parties = rec.get("parties") or []
    if parties:
        items = []
        for p in parties:
            cands = ""
            if p.get("candidates"):
                cands = " — candidates: " + ", ".join(f"{_e(c.get('name'))} ({_e(c['id'])})" for c in p["candidates"])
            items.append(f"<li class=\"{_e(p.get('status'))}\">{_e(party_text(p))}{cands}</li>")
        out.append("<ul class=\"parties\">" + "".join(items) + "</ul>")
    if rec.get("regarding") is not None:
        out.append(f"<div class=\"regarding\">{_e(regarding_text(rec['regarding']))}"
                   f"{' — plugin ' + _e(rec['regarding'].get('plugin')) if rec['regarding'].get('plugin') else ''}</div>")
    for name in ("thread", "attachments"):
        if rec.get(name):
            out.append(f"<div class=\"{name}\"><b>{name}</b>: {_e(rec[name])}</div>")
    return "".join(out)


def html_row(section: str, rec: dict[str, Any]) -> str:
    """A record's row (``<tr>``, newline included) in its section's table."""
    outcome = _outcome(rec, section)
    cls = "o-" + outcome.replace(" ", "-")
    why = _e(rec.get("reason", ""))
    if rec.get("problems"):
        why += "<div class=\"problems\">" + "<br>".join(_e(p) for p in rec["problems"]) + "</div>"
    if section == "address":
        record = f"{_e(rec.get('table'))} {_e(rec.get('name'))} {_e(rec.get('id'))}"
        if rec.get("candidates"):
            record += "<br>candidates: " + ", ".join(f"{_e(c.get('name'))} ({_e(c['id'])})" for c in rec["candidates"])
        cells = [_e(rec["address"]), record, str(rec.get("emails", 0))]
    elif section == "email":
        cells = [_e(rec.get("record")), _e(rec.get("subject")), _email_cell(rec) + _columns_detail(rec), why]
    else:
        extra = ""
        if section == "contact" and rec.get("account"):
            a = rec["account"]
            extra = f"<div>account <b>{_e(a['domain'])}</b> from {_e(a.get('from_address'))}</div>"
        found = rec.get("found") or {}
        if found.get("candidates"):
            extra += ("<div class=\"problems\">ambiguous: " + ", ".join(
                f"{_e(c.get('name'))} ({_e(c['id'])})" for c in found["candidates"]) + "</div>")
        cells = [_e(rec.get("key") or rec.get("record")), _columns_cell(rec) + extra, why]
    return (f"<tr data-outcome=\"{_e(outcome)}\"><td class=\"{cls}\">{_e(outcome)}</td>"
            + "".join(f"<td>{c}</td>" for c in cells) + "</tr>\n")


def _columns_detail(rec: dict[str, Any]) -> str:
    if not rec.get("payload"):
        return ""
    return f"<details><summary>payload</summary><pre>{_e(_indented(rec['payload']))}</pre></details>"


_SCALARS = (str, int, float, bool, type(None))


def _indented(payload: Any) -> str:
    """``json.dumps(payload, ensure_ascii=False, indent=1)``; a payload is a flat dict of column
    values, which is put together here from each value's JSON (the indenting encoder is
    Python code, and cost half of an email's row)."""
    if payload and type(payload) is dict and all(type(k) is str and type(v) in _SCALARS for k, v in payload.items()):
        return "{\n" + ",\n".join(f" {_string(k)}: {_string(v) if type(v) is str else _scalar(v)}"
                                   for k, v in payload.items()) + "\n}"
    return json.dumps(payload, ensure_ascii=False, indent=1)


_HEADERS = {
    "account": ("outcome", "domain", "columns set or changed", "why"),
    "contact": ("outcome", "address", "columns set or changed", "why"),
    "email": ("outcome", "record", "subject", "parties, regarding, payload", "why"),
    "address": ("status", "address", "resolves to", "emails"),
}


def write_html(summary: dict[str, Any], spool: Spool, out: IO[str]) -> None:
    """Write the whole page to ``out``."""
    title = "mail2dataverse preview" + (f" against {summary['against']}" if summary.get("against") else " (empty org)")
    out.write(f"<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
              f"<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; "
              f"script-src 'unsafe-inline'\">\n<title>{_e(title)}</title>\n<style>{_CSS}</style></head><body>\n")
    out.write(f"<h1>{_e(title)}</h1>\n<section id=\"summary\"><h2>Summary</h2>\n<table class=\"summary\"><thead><tr><th>table</th>"
              + "".join(f"<th>{_e(o)}</th>" for o in summary["outcomes"]) + "</tr></thead><tbody>\n")
    for table, counts in summary["tables"].items():
        out.write(f"<tr><th>{_e(table)}</th>" + "".join(f"<td class=\"n\">{counts.get(o, 0)}</td>" for o in summary["outcomes"])
                  + "</tr>\n")
    out.write("</tbody></table>\n<pre class=\"facts\">" + _e("\n".join(summary_lines(summary)[len(summary["tables"]) + 1:]))
              + "</pre></section>\n")
    for section in SECTIONS:
        if not spool.counts.get(section):
            continue
        options = "".join(f"<option>{_e(o)}</option>" for o in (summary["statuses"] if section == "address" else summary["outcomes"]))
        out.write(f"<section data-section=\"{section}\" id=\"{section}\"><h2>{_TITLES[section]} ({spool.counts[section]})</h2>\n"
                  f"<div class=\"filters\"><input class=\"filter\" type=\"search\" placeholder=\"filter {section} rows\"> "
                  f"<select class=\"outcome\"><option value=\"\">any {'status' if section == 'address' else 'outcome'}</option>"
                  f"{options}</select> <span class=\"shown\"></span></div>\n<table><thead><tr>"
                  + "".join(f"<th>{h}</th>" for h in _HEADERS[section]) + "</tr></thead><tbody>\n")
        spool.copy(section, out)  # the rows, formatted by html_row as the records were settled
        out.write("</tbody></table></section>\n")
    out.write(f"<script>{_JS}</script>\n</body></html>\n")
