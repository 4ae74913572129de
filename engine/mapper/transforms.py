"""Named transforms for mapping files, resolved to plain callables at load time.

A transform written in YAML as ``lower`` or ``{truncate: 100}`` is looked up here once, its
arguments are checked once, and the result is a one-argument function ``f(value) -> value``
stored in the compiled column. Per record only those functions run.

Conventions every transform follows:

* ``None`` in gives ``None`` out (except ``default``, whose job is to replace it);
* string transforms applied to an array work element by element, so
  ``emails[].email`` + ``[strip, lower]`` normalises every address;
* a value of the wrong type raises :class:`ValueError`; the mapper turns it into a skipped
  record whose reason names the mapping file, line and column.
"""

from __future__ import annotations

import html
import inspect
import re
import string
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from ..errors import PluginError, shown
from .functions import address_domain, address_local_part, describe, domain_or_self

Fn = Callable[[Any], Any]


class TransformArgumentError(ValueError):
    """A transform was given arguments it cannot take (raised at load time, never per record)."""


@dataclass(frozen=True, slots=True)
class TransformSpec:
    """A named transform: ``factory(*args)`` checks the YAML arguments and returns ``f(value)``."""

    name: str
    factory: Callable[..., Fn]
    usage: str
    doc: str
    example: str = ""
    builtin: bool = True

    def instantiate(self, args: tuple[Any, ...]) -> Fn:
        """Check ``args`` and return the one-argument function to run per record.

        :raises TransformArgumentError: wrong number or kind of arguments.
        """
        try:
            inspect.signature(self.factory).bind(*args)
        except TypeError:
            given = ", ".join(repr(a) for a in args) or "no arguments"
            raise TransformArgumentError(f"transform {self.usage} cannot take {given}") from None
        return self.factory(*args)


# ---------------------------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------------------------


def _stringwise(name: str, fn: Callable[[str], Any]) -> Fn:
    """Lift a ``str -> value`` function to None-passing, element-wise-on-arrays, type-checked."""

    def apply(value: Any) -> Any:
        if value.__class__ is str:
            return fn(value)
        if value is None:
            return None
        if isinstance(value, list):
            return [apply_one(v) for v in value]
        if isinstance(value, str):
            return fn(value)
        raise ValueError(f"{name} expects a string, got {describe(value)}")

    def apply_one(value: Any) -> Any:
        if isinstance(value, str):
            return fn(value)
        if value is None:
            return None
        raise ValueError(f"{name} expects strings, got {describe(value)} in the array")

    apply.inline_str_fn = fn  # type: ignore[attr-defined]  # what a string gets (.inline calls it directly)
    return apply


def _empty(value: Any) -> bool:
    return value is None or value == "" or value == [] or value == {}


def _require_int(name: str, n: Any, minimum: int | None = None) -> int:
    if not isinstance(n, int) or isinstance(n, bool) or (minimum is not None and n < minimum):
        bound = f" >= {minimum}" if minimum is not None else ""
        raise TransformArgumentError(f"transform {name} expects an integer{bound}, got {n!r}")
    return n


def _require_str(name: str, what: str, s: Any) -> str:
    if not isinstance(s, str):
        raise TransformArgumentError(f"transform {name} expects {what} to be a string, got {s!r}")
    return s


# ---------------------------------------------------------------------------------------------
# Date-times
# ---------------------------------------------------------------------------------------------


#: The earliest date-time Dataverse stores (SQL Server ``datetime``); sending one before it
#: fails on a real org on every run, so the mapper refuses it and the record is skipped.
EARLIEST = datetime(1753, 1, 1, tzinfo=UTC)


def parse_instant(value: Any) -> datetime:
    """Parse like :func:`_parse_instant`, and refuse a moment before 1753-01-01 (:data:`EARLIEST`).

    :raises ValueError: as :func:`_parse_instant`, or the moment lies before 1753-01-01 UTC.
    """
    moment = _parse_instant(value)
    if moment < EARLIEST:
        raise ValueError(f"date-time {shown(value)} is before 1753-01-01, the earliest Dataverse stores")
    return moment


def _parse_instant(value: Any) -> datetime:
    """Parse an RFC 3339 string (any offset), Unix seconds, or an aware datetime → UTC datetime.

    :raises ValueError: unparseable text, a date-time without offset (naive: its instant is
        unknown), a boolean, or a timestamp out of range.
    """
    if value.__class__ is str:
        text = value.strip()
        if text.isdigit():
            if len(text) > 20:  # int() of 5,000 digits raises its own limit error; say it plainly
                raise ValueError(f"Unix timestamp out of range: {shown(value)}")
            return _from_unix(int(text), value)
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError:
            try:  # RFC 3339 allows lower-case "t" and "z"; fromisoformat does not
                parsed = datetime.fromisoformat(text.upper())
            except ValueError:
                raise ValueError(f"not an RFC 3339 date-time: {shown(value)}") from None
        if parsed.tzinfo is None:
            raise ValueError(
                f"date-time {shown(value)} has no UTC offset; expected RFC 3339 such as 2025-03-04T09:05:09-05:00"
            )
        return parsed.astimezone(UTC)
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError(f"date-time {value.isoformat()!r} has no UTC offset")
        return value.astimezone(UTC)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return _from_unix(value, value)
    raise ValueError(f"expected an RFC 3339 date-time or Unix seconds, got {describe(value)}")


def _from_unix(seconds: float, original: Any) -> datetime:
    try:
        return datetime.fromtimestamp(seconds, UTC)
    except (OverflowError, OSError, ValueError):
        raise ValueError(f"Unix timestamp out of range: {shown(original)}") from None


#: "00".."99": a moment's fields are formatted by lookup (see :func:`_iso_seconds`)
_TWO_DIGITS = tuple(f"{i:02d}" for i in range(100))


def _iso_seconds(moment: datetime) -> str:
    """``YYYY-MM-DDTHH:MM:SSZ`` of a UTC moment, what ``isoformat()[:19] + "Z"`` gives.

    ``isoformat`` goes through C ``printf`` and formats the offset only to have it cut off:
    three times the instructions of this, for the three date columns of every email.
    """
    year, two = moment.year, _TWO_DIGITS
    return (f"{year if year >= 1000 else f'{year:04d}'}-{two[moment.month]}-{two[moment.day]}"
            f"T{two[moment.hour]}:{two[moment.minute]}:{two[moment.second]}Z")


def format_utc(moment: datetime) -> str:
    """Format an aware datetime as ``YYYY-MM-DDTHH:MM:SSZ`` in UTC (fractions dropped)."""
    if moment.utcoffset():
        moment = moment.astimezone(UTC)
    return _iso_seconds(moment)


def _utc_iso(value: Any) -> Any:
    if value is None:
        return None
    if value.__class__ is datetime and value.tzinfo is UTC:  # the email's `let.date`: no re-parse
        return _iso_seconds(value)
    if value.__class__ is str and len(value) == 20 and value[19] == "Z":
        parse_instant(value)  # validates; the text is already in the target form
        return value
    return format_utc(parse_instant(value))


def _utc_datetime(value: Any) -> Any:
    if value.__class__ is str:
        # The usual RFC 3339 text, parsed as parse_instant parses it (which strips blanks first,
        # reads digits as Unix seconds, and tries upper case): fromisoformat reads neither blanks
        # nor bare digits with an offset, so what it reads aware here, parse_instant reads alike.
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            moment = None
        if moment is not None and moment.tzinfo is not None:
            moment = moment.astimezone(UTC)
            if moment >= EARLIEST:
                return moment
    return None if value is None else parse_instant(value)


# ---------------------------------------------------------------------------------------------
# Text
# ---------------------------------------------------------------------------------------------

_BLOCK_END = re.compile(r"<\s*(br|/p|/div|/li|/tr|/h[1-6])\b[^>]*>", re.IGNORECASE)
_DROP = re.compile(r"<\s*(script|style|head)\b.*?<\s*/\s*\1\s*>", re.IGNORECASE | re.DOTALL)
_TAG = re.compile(r"<[^>]*>")
_SPACES = re.compile(r"[ \t\r\f\v\u00a0]+")
_BLANK_LINES = re.compile(r"\n\s*\n+")


def html_to_text(markup: str) -> str:
    """Reduce an HTML body to readable plain text (line breaks kept, entities decoded)."""
    text = _DROP.sub("", markup)
    text = _BLOCK_END.sub("\n", text)
    text = html.unescape(_TAG.sub("", text))
    text = _SPACES.sub(" ", text)
    lines = [line.strip() for line in text.split("\n")]
    return _BLANK_LINES.sub("\n\n", "\n".join(lines)).strip()


def split_name(full: str, part: str) -> str | None:
    """Split a display name into first/last: ``"Zoë Ångström"`` → Zoë / Ångström.

    ``"Last, First"`` is understood; otherwise the first word is the first name and the rest
    the last name (so particles stay with it: ``Ludwig van Beethoven`` → ``van Beethoven``).
    A single word is a last name (Dataverse requires lastname, not firstname).
    """
    name = full.strip()
    if "," in name:
        last, _, first = name.partition(",")
        first, last = first.strip(), last.strip()
    else:
        words = name.split()
        if not words:
            return None
        first, last = (" ".join(words[:1]), " ".join(words[1:])) if len(words) > 1 else ("", words[0])
    result = first if part == "first" else last
    return result or None


# ---------------------------------------------------------------------------------------------
# Factories (one per transform; arguments are checked here, at load time)
# ---------------------------------------------------------------------------------------------


def _t_lower() -> Fn:
    return _stringwise("lower", str.lower)


def _t_upper() -> Fn:
    return _stringwise("upper", str.upper)


def _t_strip() -> Fn:
    return _stringwise("strip", str.strip)


def utf16_length(text: str) -> int:
    """The length Dataverse checks MaxLength against: UTF-16 code units (an emoji counts 2)."""
    return len(text) + sum(1 for ch in text if ord(ch) > 0xFFFF)


def truncate_utf16(text: str, limit: int) -> str:
    """Cut ``text`` to at most ``limit`` UTF-16 code units, never through a surrogate pair.

    Slicing by Python characters would let a subject full of emoji through at up to twice the
    column's MaxLength, and the service refuses it with ``0x80044331``.
    """
    if len(text) * 2 <= limit or utf16_length(text) <= limit:
        return text
    units = 0
    for index, ch in enumerate(text):
        units += 2 if ord(ch) > 0xFFFF else 1
        if units > limit:
            return text[:index]
    return text


def _t_truncate(n: Any) -> Fn:
    limit = _require_int("truncate", n, 1)
    apply = _stringwise("truncate", lambda s: truncate_utf16(s, limit))
    apply.inline_max_chars = limit // 2  # type: ignore[attr-defined]  # no longer than this: never cut (.inline)
    return apply


def _t_default(fallback: Any) -> Fn:
    return lambda value: fallback if _empty(value) else value


def _t_utc_iso() -> Fn:
    return _utc_iso


def _t_utc_datetime() -> Fn:
    return _utc_datetime


def _t_split_name(part: Any) -> Fn:
    if part not in ("first", "last"):
        raise TransformArgumentError(f"transform split_name expects 'first' or 'last', got {part!r}")
    return _stringwise("split_name", lambda s: split_name(s, part))


def _t_domain() -> Fn:
    return _stringwise("domain", address_domain)


def _t_local_part() -> Fn:
    return _stringwise("local_part", address_local_part)


def _t_join(sep: Any = " ") -> Fn:
    separator = _require_str("join", "the separator", sep)

    def join(value: Any) -> Any:
        if value is None:
            return None
        if not isinstance(value, list):
            raise ValueError(f"join expects an array, got {describe(value)}")
        parts = []
        for item in value:
            if _empty(item):
                continue
            if isinstance(item, (dict, list)):
                raise ValueError(f"join expects an array of strings, got {describe(item)} in it")
            parts.append(item if isinstance(item, str) else str(item))
        return separator.join(parts)

    return join


def _t_first_non_empty() -> Fn:
    def first_non_empty(value: Any) -> Any:
        if not isinstance(value, list):
            return None if _empty(value) or (isinstance(value, str) and not value.strip()) else value
        for item in value:
            if not _empty(item) and not (isinstance(item, str) and not item.strip()):
                return item
        return None

    return first_non_empty


def _t_html_to_text() -> Fn:
    return _stringwise("html_to_text", html_to_text)


def _t_item(n: Any) -> Fn:
    index = _require_int("item", n)

    def item(value: Any) -> Any:
        if value is None:
            return None
        if not isinstance(value, list):
            raise ValueError(f"item expects an array, got {describe(value)}")
        return value[index] if -len(value) <= index < len(value) else None

    return item


def _t_compact() -> Fn:
    def compact(value: Any) -> Any:
        if value is None:
            return None
        if not isinstance(value, list):
            raise ValueError(f"compact expects an array, got {describe(value)}")
        return [v for v in value if not _empty(v)]

    return compact


def _t_unique() -> Fn:
    def unique(value: Any) -> Any:
        if value is None:
            return None
        if not isinstance(value, list):
            raise ValueError(f"unique expects an array, got {describe(value)}")
        out: list[Any] = []
        seen: set[Any] = set()
        for v in value:
            try:
                if v in seen:
                    continue
                seen.add(v)
            except TypeError:  # unhashable (object/array): fall back to equality
                if v in out:
                    continue
            out.append(v)
        return out

    return unique


def _t_format(template: Any) -> Fn:
    text = _require_str("format", "the template", template)
    fields = [f for _, f, _, _ in string.Formatter().parse(text) if f is not None]
    # Only "{}" / "{0}" placeholders: attribute and item access ("{0.__class__}") are refused so
    # a mapping file can never reach into Python objects.
    if not fields or any(f and not f.isdigit() for f in fields):
        raise TransformArgumentError(
            f"transform format expects a template with {{}} or {{0}}, {{1}} placeholders, got {template!r}"
        )

    def fmt(value: Any) -> Any:
        if value is None:
            return None
        args = value if isinstance(value, list) else [value]
        if any(a is None for a in args):
            return None
        try:
            return text.format(*args)
        except IndexError:
            raise ValueError(f"format template {text!r} needs more values than {describe(value)}") from None

    return fmt


def _builtins(plugins: Any) -> list[TransformSpec]:
    def _t_registrable_domain() -> Fn:
        def registrable(s: str) -> str | None:
            d = domain_or_self(s)
            return plugins.registrable_domain(d) if d else None

        return _stringwise("registrable_domain", registrable)

    return [
        TransformSpec("lower", _t_lower, "lower", "Lower-case a string.", "lower"),
        TransformSpec("upper", _t_upper, "upper", "Upper-case a string.", "upper"),
        TransformSpec("strip", _t_strip, "strip", "Remove surrounding whitespace.", "strip"),
        TransformSpec(
            "truncate", _t_truncate, "truncate(n)",
            "Cut a string to at most n UTF-16 code units, as Dataverse counts a column's max length (an emoji is 2).",
            "{truncate: 100}",
        ),
        TransformSpec(
            "default", _t_default, "default(value)", "Replace null, \"\", [] or {} with value.",
            "{default: \"(unknown)\"}",
        ),
        TransformSpec(
            "utc_iso", _t_utc_iso, "utc_iso",
            "RFC 3339 string with any offset, Unix seconds or a date-time → \"YYYY-MM-DDTHH:MM:SSZ\" (UTC). "
            "A date-time without offset is rejected.", "utc_iso",
        ),
        TransformSpec(
            "utc_datetime", _t_utc_datetime, "utc_datetime",
            "Like utc_iso but gives a date-time object (for the email's `date` value).", "utc_datetime",
        ),
        TransformSpec(
            "split_name", _t_split_name, "split_name(part)",
            "First or last name of a display name; part is 'first' or 'last'.", "{split_name: last}",
        ),
        TransformSpec("domain", _t_domain, "domain", "Domain of an address, lower-cased.", "domain"),
        TransformSpec("local_part", _t_local_part, "local_part", "Part of an address before the '@'.", "local_part"),
        TransformSpec(
            "registrable_domain", _t_registrable_domain, "registrable_domain",
            "Registrable domain of an address or domain (mail.acme.co.uk → acme.co.uk), via the plugins.",
            "registrable_domain",
        ),
        TransformSpec(
            "join", _t_join, "join(separator)", "Join the non-empty items of an array with separator.",
            "{join: \", \"}",
        ),
        TransformSpec(
            "first_non_empty", _t_first_non_empty, "first_non_empty",
            "First item of an array that is not null, blank or empty.", "first_non_empty",
        ),
        TransformSpec("html_to_text", _t_html_to_text, "html_to_text", "HTML to plain text.", "html_to_text"),
        TransformSpec(
            "item", _t_item, "item(n)", "The n-th item of an array (0-based, negative from the end), else null.",
            "{item: 0}",
        ),
        TransformSpec("compact", _t_compact, "compact", "Drop null and empty items from an array.", "compact"),
        TransformSpec("unique", _t_unique, "unique", "Drop repeated items from an array, keeping order.", "unique"),
        TransformSpec(
            "format", _t_format, "format(template)",
            "Insert the value (or an array's items) into a template with {} / {0} placeholders.",
            "{format: \"https://{}\"}",
        ),
    ]


def builtin_transform_docs() -> list[TransformSpec]:
    """The built-in transforms' specs, for documentation (no plugins needed)."""
    return _builtins(None)


def _plugin_spec(name: str, fn: Callable[..., Any]) -> TransformSpec:
    """Wrap a plugin's ``fn(value, *args)`` so its arguments are checked at load time too."""
    try:
        sig: inspect.Signature | None = inspect.signature(fn)
    except (TypeError, ValueError):  # builtins without a signature: accept any arguments
        sig = None

    def factory(*args: Any) -> Fn:
        if sig is not None:
            try:
                sig.bind(None, *args)
            except TypeError as exc:
                raise TransformArgumentError(f"transform {name}: {exc}") from None
        if not args:
            return fn
        return lambda value: fn(value, *args)

    usage = f"{name}{'' if sig is None else str(sig).replace('(value, ', '(').replace('(value)', '')}"
    doc = (inspect.getdoc(fn) or "").split("\n")[0]
    return TransformSpec(name, factory, usage, doc, builtin=False)


def transform_registry(plugins: Any) -> dict[str, TransformSpec]:
    """Return every transform a mapping can name: the built-ins plus the plugins' transforms.

    :param plugins: the :class:`mail2dataverse.pluginmanager.Plugins` wrapper.
    :raises PluginError: a plugin registers a name that is built in.
    """
    registry = {spec.name: spec for spec in _builtins(plugins)}
    extra: Mapping[str, Callable[..., Any]] = plugins.transforms() if plugins is not None else {}
    for name, fn in extra.items():
        if name in registry:
            raise PluginError(f"a plugin registers transform {name!r}, which is built in; choose another name")
        if not callable(fn):
            raise PluginError(f"transform {name!r} registered by a plugin is not callable")
        # The plugin form: the factory takes the YAML arguments, the callable takes the value.
        registry[name] = _plugin_spec(name, fn)
    return registry
