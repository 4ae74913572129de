"""Percent-encoding of raw OData paths: the one place the planner's readable OData text becomes a URL.

Used for single requests and ``$batch`` request lines alike (:mod:`.batch` re-exports
:func:`quote_path`).
"""

from __future__ import annotations

import functools

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

    Absolute URLs (``https://...``, e.g. an ``@odata.nextLink``) are already encoded by the
    service and are returned unchanged.
    """
    if raw.startswith(("http://", "https://")):
        return raw
    out: list[str] = []
    quote: str | None = None  # the delimiter of the literal we are in, if any
    in_query = False
    i, n = 0, len(raw)
    while i < n:
        ch = raw[i]
        if quote is None:
            if ch in ("'", '"'):
                quote = ch
                out.append(ch if ch == "'" else "%22")
            elif ch == "?" and not in_query:
                in_query = True
                out.append(ch)
            elif ch == "&" and in_query:
                out.append(ch)
            else:
                out.append(ch if ch in _SYNTAX_SAFE else _pct(ch))
        elif quote == "'":
            if ch == "'":
                if i + 1 < n and raw[i + 1] == "'":  # '' is an escaped quote, still inside
                    out.append("''")
                    i += 2
                    continue
                quote = None
                out.append("'")
            else:
                out.append(ch if ch in _LITERAL_SAFE else _pct(ch))
        else:  # inside a JSON string
            if ch == "\\" and i + 1 < n:  # keep escapes (\" \\ \uXXXX) inside the string
                out.append(_pct(ch))
                nxt = raw[i + 1]
                out.append(nxt if nxt in _LITERAL_SAFE else _pct(nxt))
                i += 2
                continue
            if ch == '"':
                quote = None
                out.append("%22")
            else:
                out.append(ch if ch in _LITERAL_SAFE else _pct(ch))
        i += 1
    return "".join(out)


_quote_cached = functools.lru_cache(maxsize=8192)(_quote_path)
