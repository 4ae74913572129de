"""Percent-encoding of raw OData paths: the one place the planner's readable OData text becomes a URL.

Used for single requests and ``$batch`` request lines alike (:mod:`.batch` re-exports
:func:`quote_path`).
"""

from __future__ import annotations

import functools
import re

# --------------------------------------------------------------------------------------------

_UNRESERVED = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
# OData syntax stays readable: $select, In(...), 'literals', key=value, lists, nav/paths.
# Every character kept here is also in requests' requote_uri safe set, so requests never
# re-encodes what we produce (the URL sent alone equals the request line inside $batch).
_SYNTAX_SAFE = _UNRESERVED | frozenset("$()'=,:@/*!;[]")
# Inside a quoted literal the value is data: '/', '?', '&', '#', '+', '%', '[', ']' are
# encoded so no server-side parser can read them as syntax ('+' would become a space).
_LITERAL_SAFE = _UNRESERVED | frozenset("$()'=,:@*!;")


def _pct(ch: str) -> str:
    return "".join(f"%{b:02X}" for b in ch.encode("utf-8"))


class _Table(dict):
    """A ``str.translate`` table filled on first use: code point → itself when ``safe``, else
    its percent-encoding. Translating runs in C; a character-by-character loop in Python cost a
    tenth of the client's CPU at W10k (the lookup queries are long: hundreds of quoted values)."""

    def __init__(self, safe: frozenset[str]):
        super().__init__()
        self.safe = safe

    def __missing__(self, code: int) -> str:
        ch = chr(code)
        value = ch if ch in self.safe else _pct(ch)
        if len(self) < 4096:  # every ASCII character and the usual accented ones; never unbounded
            self[code] = value
        return value


_PATH = _Table(_SYNTAX_SAFE)  # outside literals, before the query ('?' and '&' encoded)
_QUERY = _Table(_SYNTAX_SAFE | {"&"})  # outside literals, in the query ('&' separates options)
_LITERAL = _Table(_LITERAL_SAFE)  # inside a literal (its quotes included: "'" stays, '"' is %22)

# A whole literal: '...' with '' escapes, or a JSON "..." with backslash escapes; possessive, so
# a literal that is never closed falls to the lone quote alternative (and then runs to the end,
# the same reading as scanning character by character). Captured: split() alternates
# outside-text, literal, outside-text...
_LITERAL_RE = re.compile(r"""('(?:[^']|'')*+'|"(?:[^"\\]|\\.)*+"|['"])""", re.DOTALL)


#: Paths up to this length are cached: the write paths (``contacts(...)``, ``emails``) repeat all
#: run long. A lookup's ``$filter`` over a chunk's addresses is many KB and never repeats:
#: caching those held up to 8,192 of them (tens of MB, growing with the run: issue 13).
_CACHED_UP_TO = 512


def quote_path(raw: str) -> str:
    """Percent-encode a raw OData path (see :func:`_quote_path`); short paths are cached."""
    return _quote_cached(raw) if len(raw) <= _CACHED_UP_TO else _quote_path(raw)


def _quote_path(raw: str) -> str:
    """Percent-encode a raw OData path (+ query) relative to the service root.

    The planner hands over readable OData text; this is the single place it becomes a URL.

    * ``A-Z a-z 0-9 - . _ ~`` and the OData syntax characters ``$ ( ) ' = , : @ / * ! ; [ ]``
      stay readable.
    * Inside a quoted literal (``'...'`` with ``''`` escapes, or a JSON ``"..."`` string in
      ``PropertyValues=[...]``) the value is data, so ``/ ? & # + % [ ]`` are encoded too:
      ``'a+b@x.com'`` → ``'a%2Bb@x.com'``, ``'r&d@x.com'`` → ``'r%26d@x.com'``.
    * ``"``, space, ``#``, ``+``, ``%``, ``\\``, ``<``, ``>``, control and non-ASCII characters are
      always encoded (UTF-8), so a ``%`` in the input is data, never a pre-encoded escape.
    * Outside literals the first ``?`` starts the query and ``&`` separates query options.
    * A literal that is never closed runs to the end of the text.

    Absolute URLs (``https://...``, e.g. an ``@odata.nextLink``) are already encoded by the
    service and are returned unchanged.
    """
    if raw.startswith(("http://", "https://")):
        return raw
    parts = _LITERAL_RE.split(raw)
    literals = parts[1::2]
    if "'" in literals or '"' in literals:  # an opening quote never closed: the rest is its literal
        k = 2 * next(i for i, lit in enumerate(literals) if len(lit) == 1) + 1
        parts[k:] = ["".join(parts[k:]), ""]
        literals = parts[1::2]
    outside = parts[0::2]
    if "\0" in raw:  # the separator below would be ambiguous: one part at a time
        outside, literals = _outside_parts(outside), [lit.translate(_LITERAL) for lit in literals]
    else:
        # Few, long calls: every literal in one translate, every outside part in one or two
        # (a lookup query holds hundreds of quoted values). NUL, absent from raw, separates the
        # parts and comes back as %00, which nothing else can produce ('%' itself is %25).
        outside = _outside_text("\0".join(outside)).split("%00")
        literals = "\0".join(literals).translate(_LITERAL).split("%00") if literals else []
    parts[0::2] = outside
    parts[1::2] = literals
    return "".join(parts)


def _outside_text(text: str) -> str:
    """Text outside literals, encoded: the first ``?`` starts the query, where ``&`` stays."""
    q = text.find("?")
    if q < 0:
        return text.translate(_PATH)
    return text[:q].translate(_PATH) + "?" + text[q + 1 :].translate(_QUERY)


def _outside_parts(parts: list[str]) -> list[str]:
    """:func:`_outside_text` of each part, the query starting at the first ``?`` of them all."""
    out, in_query = [], False
    for part in parts:
        if in_query:
            out.append(part.translate(_QUERY))
        else:
            out.append(_outside_text(part))
            in_query = "?" in part
    return out


_quote_cached = functools.lru_cache(maxsize=8192)(_quote_path)
