"""Checks on parsed records that the JSON parsers do not make: lone surrogates, huge numbers.

JSON may write any UTF-16 code unit as ``\\uXXXX``, so a damaged or hostile export can hold a
lone surrogate (``"\\ud800"``) or a reversed pair (``"\\udc00\\ud800"``): text no UTF-8 encoder,
state file or Dataverse column can hold. yajl's C parser (which read JSON arrays before the
stdlib's scanner did) raised ``UnicodeDecodeError`` on a lone low surrogate and silently turned a
lone high one into ``?``; the stdlib keeps it as a lone surrogate. Such a record
is now handed on as :class:`~mail2dataverse.model.UnreadableRecord`, which the mapper skips with
its reason; the rest of the export is written.

Numbers: an integer of 5,000 digits made Python's ``int`` raise (and crashed yajl's exact-number
path). JSON integers longer than :data:`MAX_NUMBER_CHARS` characters are refused with the file's
other structural damage, before anything is written: no Nylas field holds one. Reals are parsed
to a ``float`` whatever their length (that cannot fail), so they need no limit; the JSON-array
and NDJSON readers refuse one beyond a float's range (``1e400``, which would become infinity)
and the ``NaN``/``Infinity`` literals, which are not JSON (:func:`parse_float`,
:func:`parse_constant`; NDJSON used to keep json.loads' defaults and let them through).
"""

from __future__ import annotations

import re
from typing import Any

from ..errors import SourceError, shown
from ..model import UnreadableRecord

#: The longest JSON integer accepted, in characters (a Unix timestamp in milliseconds has 13).
MAX_NUMBER_CHARS = 100

_HIGH = rb"\\u[dD][89abAB][0-9a-fA-F]{2}"
_LOW = rb"\\u[dD][c-fC-F][0-9a-fA-F]{2}"
#: A ``\\u`` escape of a surrogate that is not half of a high-low pair. A ``\\\\ud800`` (an
#: escaped backslash, then text) also matches: the record check then finds nothing wrong.
LONE_SURROGATE_ESCAPE = re.compile(rb"(?:" + _HIGH + rb"(?!" + _LOW + rb"))|(?:(?<!" + _HIGH + rb")" + _LOW + rb")")
LONE_SURROGATE_ESCAPE_TEXT = re.compile(LONE_SURROGATE_ESCAPE.pattern.decode("ascii"))
#: Any \u escape of a surrogate, lone or not: cheaper to look for (a record holding one is then
#: looked at with :data:`LONE_SURROGATE_ESCAPE_TEXT`)
SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")
SURROGATE_ESCAPE_TEXT = re.compile(SURROGATE_ESCAPE.pattern.decode("ascii"))
_SURROGATE = re.compile("[\ud800-\udfff]")


class NumberTooLong(SourceError):
    """Internal to the readers: a JSON integer over :data:`MAX_NUMBER_CHARS` (they add where)."""


def number_too_long(digits: int) -> str:
    """The reason a too-long number is refused (one wording for every reader)."""
    return f"an integer of {digits:,} characters (limit {MAX_NUMBER_CHARS}; a damaged or hostile export?)"


def parse_int(text: str) -> int:
    """``json.loads``'s ``parse_int``: refuses an integer longer than :data:`MAX_NUMBER_CHARS`
    (before ``int()`` sees it: past 4,300 digits that raises a bare ValueError)."""
    if len(text) > MAX_NUMBER_CHARS:
        raise NumberTooLong(number_too_long(len(text)))
    return int(text)


class NotJson(SourceError):
    """Internal to the JSON readers: a token they refuse (``NaN``, a float overflow); the
    reader finds where it is and says so (``kind`` is what :func:`~.json_scan.refused_token`
    looks for)."""

    def __init__(self, kind: str, reason: str):
        super().__init__(reason)
        self.kind = kind


def parse_float(text: str) -> float:
    """``parse_float`` of the JSON readers: refuses a real beyond a float's range, as yajl
    did (``1e400`` would silently become infinity, which no column holds)."""
    value = float(text)
    if value in _INFINITIES:
        raise NotJson("float", "a number beyond the range of a float (a damaged or hostile export?)")
    return value


def parse_constant(text: str) -> Any:
    """``parse_constant`` of the JSON readers: ``NaN`` and ``Infinity`` are not JSON (Python
    and JavaScript write them); yajl refused them, and so do both readers."""
    raise NotJson("constant", f"{text} is not a JSON value (JSON has no NaN or Infinity)")


_INFINITIES = (float("inf"), float("-inf"))


def checked(record: Any) -> Any:
    """``record`` itself, or an :class:`UnreadableRecord` when one of its strings (keys
    included) holds a lone surrogate. The readers call it only for a record whose text holds a
    surrogate escape (integers were limited as they were parsed, by :func:`parse_int`).
    """
    stack: list[tuple[Any, str]] = [(record, "$")]
    while stack:
        value, path = stack.pop()
        if isinstance(value, str):
            bad = _SURROGATE.search(value)
            if bad:
                return _unreadable(record, path, bad.group())
        elif isinstance(value, dict):
            for k, v in value.items():
                bad = _SURROGATE.search(k)
                if bad:
                    return _unreadable(record, f"{path}[{shown(k)}]", bad.group())
                stack.append((v, f"{path}.{k}"))
        elif isinstance(value, list):
            stack.extend((v, f"{path}[{i}]") for i, v in enumerate(value))
    return record


def _unreadable(record: Any, path: str, unit: str) -> UnreadableRecord:
    rid = record.get("id") if isinstance(record, dict) else None
    return UnreadableRecord(
        f"lone UTF-16 surrogate \\u{ord(unit):04x} in {shown(path, 80)[1:-1]}: not valid Unicode text, "
        "which the service cannot store (a damaged export?)",
        rid if isinstance(rid, str) and not _SURROGATE.search(rid) else None)
