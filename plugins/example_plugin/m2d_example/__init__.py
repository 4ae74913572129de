"""Example mail2dataverse plugin (entry point ``example``).

It shows the three things a plugin usually does:

1. **Override a built-in policy.** ``derive_account`` maps subsidiaries to their parent, so
   mail from ``acme-labs.com`` lands on the ``acme.com`` account instead of a new "Acme Labs".
   The map comes from the run configuration::

       plugins:
         settings:
           example:
             parents: {acme-labs.com: acme.com, acme.de: acme.com}
             parent_names: {acme.com: "Acme Corporation"}

   For any other domain it answers ``None``, so the built-in ``accounts`` plugin (``trylast``)
   decides as usual.
2. **Refine another one.** ``is_freemail`` answers True for the reserved test and
   documentation domains of RFC 2606 / RFC 6761 (``*.example``, ``*.test``, ``*.invalid``,
   ``*.localhost`` and ``example.com/.net/.org``): sample data never creates accounts. Other
   domains get ``None`` and fall through to the built-in lists.
3. **Add a transform.** ``redact_digits`` replaces every digit with ``#`` (phone numbers or
   order numbers in a subject), usable in a mapping as ``transforms: [redact_digits]``.

Hooks are plain module functions decorated with ``mail2dataverse.hookimpl``; no class is
needed. ``configure`` is called once per run before any other hook.
"""

from __future__ import annotations

import re
from typing import Any

from mail2dataverse import hookimpl
from mail2dataverse.model import DerivedAccount
from mail2dataverse.plugins.accounts import account_from_domain

__all__ = ["configure", "derive_account", "is_freemail", "redact_digits", "register_transforms"]

#: Reserved by RFC 2606 / RFC 6761 for tests and documentation: never a real company.
RESERVED_SUFFIXES = ("example", "test", "invalid", "localhost")
RESERVED_DOMAINS = frozenset({"example.com", "example.net", "example.org"})

_DIGIT = re.compile(r"\d")

# Settings of the run being configured; replaced (never mutated) by configure().
_parents: dict[str, str] = {}
_parent_names: dict[str, str] = {}


@hookimpl
def configure(config: Any) -> None:
    """Read ``plugins.settings.example`` (``parents``, ``parent_names``) from the run config."""
    global _parents, _parent_names
    settings = (getattr(config, "plugin_settings", None) or {}).get("example") or {}
    _parents = {k.lower(): v.lower() for k, v in (settings.get("parents") or {}).items()}
    _parent_names = {k.lower(): v for k, v in (settings.get("parent_names") or {}).items()}


@hookimpl
def is_freemail(domain: str) -> bool | None:
    """True for reserved test/documentation domains; None (no opinion) for everything else."""
    if domain in RESERVED_DOMAINS or domain.rsplit(".", 1)[-1] in RESERVED_SUFFIXES:
        return True
    return None


@hookimpl
def derive_account(domain: str, contact: dict[str, Any] | None) -> DerivedAccount | None:
    """A configured subsidiary (or any host under it) makes its parent's account; else None."""
    for subsidiary, parent in _parents.items():
        if domain == subsidiary or domain.endswith("." + subsidiary):
            return account_from_domain(parent, _parent_names.get(parent))
    return None


def redact_digits(value: Any) -> Any:
    """Replace each digit of a string with ``#``; other values pass through unchanged."""
    if isinstance(value, str):
        return _DIGIT.sub("#", value)
    return value


@hookimpl
def register_transforms(register: Any) -> None:
    """Register the ``redact_digits`` transform."""
    register("redact_digits", redact_digits)
