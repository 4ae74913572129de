"""What the JSON-array reader checks itself, around the C decoder: nesting depth, refused tokens.

The reader (:mod:`.json_array`) hands each record to the stdlib's C scanner, which is fast but
recursive and lenient in two ways this project does not want: it recurses once per nesting
level (Python's recursion limit is its only bound) and it accepts ``NaN``/``Infinity``. So:

- **nesting** deeper than :data:`MAX_DEPTH` is refused. A record can only be that deep if it
  holds at least :data:`MAX_DEPTH` - 1 opening brackets, which two ``str.count`` calls tell
  for free; only then does :func:`deep_at` follow the nesting exactly. It runs in C too:
  escaped backslashes and quotes are removed (``bytes.replace``), everything but quotes and
  brackets is deleted (``bytes.translate``), empty strings (``""``, what most strings become)
  are removed, and what is left splits on ``"`` into structure (even parts) and string content
  (odd parts). A byte loop runs only to find the offending bracket of a refused file.
- **refused tokens** (``NaN``, an integer over the length limit, a real beyond a float): the
  decoder's callbacks raise without a position, so :func:`refused_token` finds the first such
  token of the record again (a regular expression that steps over strings; only on refusal).
"""

from __future__ import annotations

import re
from itertools import accumulate

#: Deepest nesting accepted in a JSON export (a Nylas record nests about 4 levels). The
#: top-level array is level 1, so a record may nest MAX_DEPTH - 1 levels.
MAX_DEPTH = 256

_KEEP = b'"[]{}'
_DELETE = bytes(b for b in range(256) if b not in _KEEP)
_STEP = {ord("["): 1, ord("{"): 1, ord("]"): -1, ord("}"): -1}


def may_be_too_deep(text: str, start: int, stop: int) -> bool:
    """Could ``text[start:stop]`` (a record, at level 1) nest deeper than :data:`MAX_DEPTH`?

    A cheap over-estimate (brackets inside strings count too): False means certainly not.
    """
    return text.count("[", start, stop) + text.count("{", start, stop) >= MAX_DEPTH


def deep_at(data: bytes, depth: int = 1) -> int | None:
    """The index in ``data`` of the bracket that goes deeper than :data:`MAX_DEPTH`, or None.

    ``data`` is UTF-8 JSON text that starts outside any string at nesting ``depth`` (a record
    starts at level 1, inside the top-level array); it may end anywhere, even inside a string.
    """
    text = data
    if b"\\" in text:
        # pairs first: "\\\\" is an escaped backslash, then "\\\"" an escaped quote
        text = text.replace(b"\\\\", b"").replace(b'\\"', b"")
    # removing two adjacent quotes keeps every other mark inside or outside its string
    marks = text.translate(None, _DELETE).replace(b'""', b"")
    parts = marks.split(b'"')
    structure = b"".join(parts[0::2]) if len(parts) > 1 else marks
    if depth + structure.count(b"[") + structure.count(b"{") <= MAX_DEPTH:
        return None  # cannot have gone deeper even without the closing brackets
    if max(accumulate(map(_STEP.__getitem__, structure), initial=depth)) <= MAX_DEPTH:
        return None
    return _locate_deep(data, depth)


def _locate_deep(data: bytes, depth: int) -> int:
    """The index in ``data`` of the bracket that goes too deep (a byte loop: only on refusal)."""
    in_string = escaped = False
    for i, byte in enumerate(data):
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:
                escaped = True
            elif byte == 0x22:
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in (0x5B, 0x7B):
            depth += 1
            if depth > MAX_DEPTH:
                return i
        elif byte in (0x5D, 0x7D):
            depth -= 1
    return len(data)  # pragma: no cover - the C count above found it: the loop does too


#: A string (stepped over), else a number or a constant, the way the C scanner tells them apart:
#: an integer has neither fraction nor exponent (it goes to parse_int, the others to parse_float)
_TOKEN = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"|(-?(?:0|[1-9][0-9]*))((?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?)'
                    r"|(NaN|-?Infinity)", re.DOTALL)


def refused_token(text: str, start: int, refuse: str, limit: int = 0) -> tuple[int, int] | None:
    """``(start, end)`` in ``text`` of the first token from ``text[start]`` that the decoder refused.

    ``refuse`` says which kind it refused: ``"int"`` (longer than ``limit`` characters),
    ``"float"`` (beyond a float's range) or ``"constant"`` (``NaN``, ``Infinity``).
    """
    for match in _TOKEN.finditer(text, start):
        integer, rest, constant = match.groups()
        if refuse == "constant" and constant:
            return match.span()
        if integer is None:
            continue
        if refuse == "int" and not rest and len(integer) > limit:
            return match.span()
        if refuse == "float" and rest and float(integer + rest) in (float("inf"), float("-inf")):
            return match.span()
    return None
