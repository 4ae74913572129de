"""One exception tree for the whole engine.

    Mail2DataverseError                 base; ``str(e)`` is a one-line, user-facing message
    ├── ConfigError                     bad run configuration, CLI usage, plugin set-up (exit 2)
    │   ├── MappingError                a mapping file is invalid; carries every problem found
    │   └── PluginError                 a plugin failed to load or broke the hook contract
    ├── SourceError                     an input export is unreadable or malformed (names file,
    │                                   byte offset or record number)
    ├── RecordError                     one record cannot be mapped; the run skips it with a reason
    ├── AuthError                       msal could not get a token (never carries the secret)
    └── WebApiError                     the service answered with an error (status, code, message)

Every message names *where*: a file with line and column, a record number or id, or the
request that failed. Nothing here ever formats a secret, token or Authorization header.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

#: The longest skip reason or warning the report keeps (docs/reliability.md, "Limits"): a
#: reason quoting a 1 MB field would make a 1 MB report line.
MAX_REASON_CHARS = 500
#: The longest ``repr`` of a record value quoted in a reason.
MAX_VALUE_CHARS = 40


def shown(value: Any, limit: int = MAX_VALUE_CHARS) -> str:
    """A record value as a reason quotes it: its ``repr`` (newlines and control characters
    escaped, never raw), cut to ``limit`` characters with ``...``."""
    if isinstance(value, int) and value.bit_length() > 64:
        # repr() of an int over 4,300 digits raises; no reason needs more than its size
        text = f"<integer of about {int(value.bit_length() * 0.30103):,} digits>"
    else:
        text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def one_line(text: str, limit: int = MAX_REASON_CHARS) -> str:
    """``text`` on one line and at most ``limit`` characters: every character that does not
    print (newline, CR, tab, NUL, U+2028...) is written as its escape, and the rest is cut with
    a count of what was left out. Skip reasons and warnings pass through here, so a record value
    that slipped into one unquoted still cannot break the report's one-reason-per-line shape."""
    if not text.isprintable():
        text = "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in text)
    if len(text) > limit:
        suffix = f"... ({len(text):,} characters, cut)"
        text = text[: limit - len(suffix)] + suffix
    return text


@dataclass(frozen=True, slots=True)
class SourceLocation:
    """Where something came from: ``file:line:col`` plus the JSON path inside the document."""

    file: str
    line: int = 0
    column: int = 0
    json_path: str = "$"

    def __str__(self) -> str:
        if self.line:
            return f"{self.file}:{self.line}:{self.column}"
        return self.file


class Mail2DataverseError(Exception):
    """Base of every error the engine raises on purpose."""


class ConfigError(Mail2DataverseError):
    """The run cannot start: bad configuration, bad CLI usage or a broken plugin set-up."""


@dataclass(frozen=True, slots=True)
class Problem:
    """One problem in a mapping or config file, formatted ``file:line:col: $.path: message``."""

    location: SourceLocation
    message: str

    def __str__(self) -> str:
        return f"{self.location}: {self.location.json_path}: {self.message}"


class MappingError(ConfigError):
    """A mapping (or config) file is invalid. ``problems`` holds every problem, not just the first."""

    def __init__(self, problems: list[Problem]):
        self.problems = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


class PluginError(ConfigError):
    """A plugin could not be loaded, or broke the hook contract (e.g. returned a wrong type)."""


class SourceError(Mail2DataverseError):
    """An input export cannot be read. The message names the file and the byte offset or record."""


class RecordError(Mail2DataverseError):
    """One input record cannot be mapped. The run records it as skipped with this reason."""

    def __init__(self, message: str, *, record_ref: str = "", location: SourceLocation | None = None):
        self.record_ref = record_ref
        self.location = location
        where = f"{record_ref}: " if record_ref else ""
        at = f" (mapping {location})" if location else ""
        super().__init__(f"{where}{message}{at}")


class AuthError(Mail2DataverseError):
    """Entra ID refused to issue a token. Carries msal's error code and description only."""

    def __init__(self, error: str, description: str = ""):
        self.error = error
        self.description = description
        super().__init__(f"authentication failed: {error}: {description}".rstrip(": "))


class WebApiError(Mail2DataverseError):
    """The Dataverse Web API answered with an error.

    ``status`` is the HTTP status, ``code`` and ``message`` come from the ``{"error": {...}}``
    body, ``request`` is ``METHOD path`` (never headers, never the token).
    """

    def __init__(self, status: int, code: str, message: str, request: str = ""):
        self.status = status
        self.code = code
        self.message = message
        self.request = request
        where = f" ({request})" if request else ""
        super().__init__(f"HTTP {status} {code}: {message}{where}")
