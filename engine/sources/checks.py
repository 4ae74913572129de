"""Checks on parsed records that the JSON parsers do not make: lone surrogates, huge numbers.

JSON may write any UTF-16 code unit as ``\\uXXXX``, so a damaged or hostile export can hold a
lone surrogate (``"\\ud800"``) or a reversed pair (``"\\udc00\\ud800"``): text no UTF-8 encoder,
state file or Dataverse column can hold. yajl's C parser raised ``UnicodeDecodeError`` (a
traceback) on a lone low surrogate and silently turned a lone high one into ``?``. Such a record
is now handed on as :class:`~mail2dataverse.model.UnreadableRecord`, which the mapper skips with
its reason; the rest of the export is written.

Numbers: an integer of 5,000 digits made Python's ``int`` raise (and crashed yajl's exact-number
path). JSON integers longer than :data:`MAX_NUMBER_CHARS` characters are refused with the file's
other structural damage, before anything is written: no Nylas field holds one. Reals are parsed
to a ``float`` whatever their length (that cannot fail), so they need no limit.
"""

from __future__ import annotations

import re
from decimal import Decimal
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
_SURROGATE = re.compile("[\ud800-\udfff]")


class NumberTooLong(SourceError):
    """Internal to the readers: a JSON integer over :data:`MAX_NUMBER_CHARS` (they add where)."""


def number_too_long(digits: int) -> str:
    """The reason a too-long number is refused (one wording for every reader)."""
    return f"an integer of {digits:,} characters (limit {MAX_NUMBER_CHARS}; a damaged or hostile export?)"


def parse_int(text: str) -> int:
    """``json.loads``'s ``parse_int``: refuses an integer longer than :data:`MAX_NUMBER_CHARS`."""
    if len(text) > MAX_NUMBER_CHARS:
        raise NumberTooLong(number_too_long(len(text)))
    return int(text)


def checked(record: Any) -> Any:
    """``record`` with ijson's ``Decimal`` reals as ``float``, or an :class:`UnreadableRecord`
    when one of its strings (keys included) holds a lone surrogate.

    :raises NumberTooLong: an integer longer than :data:`MAX_NUMBER_CHARS` characters.
    """
    stack: list[tuple[Any, Any, Any, str]] = [(None, None, record, "$")]
    while stack:
        parent, key, value, path = stack.pop()
        if isinstance(value, str):
            bad = _SURROGATE.search(value)
            if bad:
                return _unreadable(record, path, bad.group())
        elif isinstance(value, Decimal):
            if parent is not None:
                parent[key] = float(value)
        elif isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 300:
            # str() of an int over 4,300 digits raises: then its size from its bits, to within one
            chars = len(str(value)) if value.bit_length() < 14_000 else int(value.bit_length() * 0.30103) + 1
            if chars > MAX_NUMBER_CHARS:
                raise NumberTooLong(number_too_long(chars))
        elif isinstance(value, dict):
            for k, v in value.items():
                bad = _SURROGATE.search(k)
                if bad:
                    return _unreadable(record, f"{path}[{shown(k)}]", bad.group())
                stack.append((value, k, v, f"{path}.{k}"))
        elif isinstance(value, list):
            stack.extend((value, i, v, f"{path}[{i}]") for i, v in enumerate(value))
    if isinstance(record, Decimal):
        return float(record)
    return record


def _unreadable(record: Any, path: str, unit: str) -> UnreadableRecord:
    rid = record.get("id") if isinstance(record, dict) else None
    return UnreadableRecord(
        f"lone UTF-16 surrogate \\u{ord(unit):04x} in {shown(path, 80)[1:-1]}: not valid Unicode text, "
        "which the service cannot store (a damaged export?)",
        rid if isinstance(rid, str) and not _SURROGATE.search(rid) else None)
