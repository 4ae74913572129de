"""E-mail address and domain helpers: the one place that says what a usable domain is.

The typed hook wrappers (:mod:`mail2dataverse.pluginmanager`), the mapper's transforms and the
built-in ``freemail``, ``accounts`` and ``regarding`` plugins all reduce addresses to domains
and domains to registrable domains through these functions, so the answer to "which company is
this address from" is the same everywhere.

Importing this module is cheap: the public suffix list is loaded on first use, once per
process.
"""

from __future__ import annotations

import functools
import ipaddress
import re
from typing import Any

__all__ = ["SHARED_TENANT_SUFFIXES", "domain_of", "normalize_domain", "registrable_domain"]


#: Domains under which each first-level label is a separate organisation although the public
#: suffix list does not say so. ``contoso.onmicrosoft.com`` is one Microsoft 365 tenant and
#: ``fabrikam.onmicrosoft.com`` another; folding both into ``onmicrosoft.com`` would merge
#: unrelated companies into one account.
SHARED_TENANT_SUFFIXES = frozenset({"onmicrosoft.com", "mail.onmicrosoft.com"})


@functools.cache
def _psl() -> Any:
    # Loaded on first use: the bundled list takes tens of milliseconds to parse and most
    # commands (validate, plugins) never need it.
    from publicsuffixlist import PublicSuffixList

    return PublicSuffixList()


def normalize_domain(domain: str) -> str:
    """Return ``domain`` stripped of blanks and outer dots, lower-cased: ``" Acme.COM. "`` →
    ``acme.com``. Freemail answers are looked up and cached under this form."""
    return domain.strip().strip(".").lower()


def _is_ip_literal(domain: str) -> bool:
    if not (domain.startswith("[") or ":" in domain or domain.rpartition(".")[2].isdigit()):
        return False  # fast path: a hostname's last label is never all digits
    text = domain[1:-1] if domain.startswith("[") and domain.endswith("]") else domain
    if text.lower().startswith("ipv6:"):
        text = text[5:]
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


@functools.lru_cache(maxsize=65536)
def registrable_domain(domain: str) -> str:
    """Return the registrable domain (public suffix + one label) of ``domain``, lower-cased.

    ``mail.acme.co.uk`` → ``acme.co.uk``; ``a.b.foo.github.io`` → ``foo.github.io`` (private
    suffixes of the public suffix list count); ``x.contoso.onmicrosoft.com`` →
    ``contoso.onmicrosoft.com`` (see :data:`SHARED_TENANT_SUFFIXES`).

    Falls back to the (normalised) domain itself when there is no registrable part: IP
    literals (``127.0.0.1``, ``[::1]``), single labels (``localhost``) and bare suffixes
    (``co.uk``). Unknown TLDs follow the list's default rule (``x.unknowntld`` stays itself,
    ``a.x.unknowntld`` → ``x.unknowntld``).
    """
    d = normalize_domain(domain)
    if not d or "." not in d or _is_ip_literal(d):
        return d
    for suffix in SHARED_TENANT_SUFFIXES:
        if d.endswith("." + suffix):
            head = d[: -len(suffix) - 1]
            return f"{head.rsplit('.', 1)[-1]}.{suffix}"
    return _psl().privatesuffix(d) or d


# Letters (any script) and digits, hyphens only inside a label; at least two labels.
_LABEL = r"[^\W_]+(?:-+[^\W_]+)*"
_DOMAIN = re.compile(rf"{_LABEL}(?:\.{_LABEL})+")


@functools.lru_cache(maxsize=65536)
def domain_of(address: str) -> str | None:
    """Return the lower-cased domain of an e-mail address, or None when it has no usable one.

    Usable means: something before the last ``@``, and a domain of two or more non-empty
    labels made of letters (any script), digits and inner hyphens. Address literals
    (``user@[10.0.0.1]``), IPv4 hosts and single-label hosts (``root@localhost``) return None:
    no company is derived from them. Cached: the same addresses recur in every message.
    """
    if not isinstance(address, str):
        return None
    local, at, domain = address.strip().rpartition("@")
    if not at or not local:
        return None
    d = normalize_domain(domain)
    # A top-level label is never all digits, so that test alone rules out IPv4 hosts
    # (ipaddress.ip_address raising for every ordinary domain would cost microseconds).
    if _DOMAIN.fullmatch(d) is None or d.rpartition(".")[2].isdigit():
        return None
    return d

