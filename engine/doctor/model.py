"""One doctor check's result."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

STATUSES = ("pass", "warn", "fail", "skip")


@dataclass(frozen=True)
class Check:
    """A check: ``id`` (stable, for machines), ``title``, ``status`` and what was found.

    ``status`` is ``pass``, ``warn`` (works, with a caveat), ``fail`` (a sync would fail or do
    harm) or ``skip`` (not run: an earlier check failed or it does not apply). ``hint`` says how
    to fix a ``warn`` or ``fail``. Nothing here ever holds a secret.
    """

    id: str
    title: str
    status: str
    detail: str = ""
    hint: str = ""

    def to_dict(self) -> dict[str, Any]:
        """The check as JSON-ready data."""
        return asdict(self)
