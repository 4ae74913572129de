"""``mail2dataverse doctor``: check a set-up before the first sync, each check with how to fix it.

:func:`~.checks.run_checks` returns :class:`~.checks.Check` rows in order: the URL answers and
is a Dataverse org; a token can be had; ``WhoAmI``; the application user's privileges
(:mod:`.privileges`); each mapping column against the org's metadata (the sync's pre-flight);
the navigation properties the profile binds; alternate keys and their index state; the bulk
messages on contact and account; the Nylas CLI (:mod:`.nylas`). Every query is a read.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .checks import Check, run_checks

__all__ = ["Check", "run_checks"]


def __getattr__(name: str) -> Any:
    """``Check`` and ``run_checks``, imported on first use (PEP 562): every command of the CLI
    declares the doctor's flags (:mod:`.cli`), and the checks behind them need the HTTP client."""
    if name in __all__:
        from . import checks

        return getattr(checks, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
