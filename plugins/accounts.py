"""Built-in plugin ``accounts``: which account does a company domain make?

The account's identity is the **registrable domain** from the public suffix list, so every
host of one organisation lands on one account: ``mail.acme.co.uk`` and ``acme.co.uk`` both
make ``acme.co.uk``, while ``alice.github.io`` and ``bob.github.io`` stay two accounts.

The account record handed to the account mapping is::

    {"domain": "acme.co.uk", "name": "Acme", "website": "https://acme.co.uk"}

``name`` is the contact's ``company_name`` when the domain came from a contact whose own
addresses are on the same registrable domain (a contact's company says nothing about a
different domain it happens to mention); otherwise it is made from the domain's first label
(``acme-widgets.com`` → ``Acme Widgets``, IDN ``xn--mller-kva.de`` → ``Müller``).

The implementation is ``trylast``: a plugin that answers first (e.g. mapping subsidiaries to
a parent domain) wins. It never answers False or None for a usable domain.
"""

from __future__ import annotations

from typing import Any

from ..addresses import domain_of, registrable_domain
from ..hookspecs import hookimpl
from ..model import DerivedAccount

__all__ = ["account_from_domain", "derive_account", "name_from_domain"]


def name_from_domain(domain: str) -> str:
    """Make a display name from a domain's registrable label.

    ``acme-widgets.co.uk`` → ``Acme Widgets``; ``mail.acme.co.uk`` → ``Acme``;
    ``xn--mller-kva.de`` → ``Müller``. Falls back to the domain itself when nothing is left.
    """
    base = registrable_domain(domain)
    label = base.split(".", 1)[0]
    if label.startswith("xn--"):
        try:
            label = label.encode("ascii").decode("idna")
        except (UnicodeError, ValueError):
            pass  # an invalid punycode label is still a usable (if ugly) name
    words = [w for w in label.replace("_", "-").split("-") if w]
    return " ".join(w[:1].upper() + w[1:] for w in words) or base


def account_from_domain(domain: str, name: str | None = None) -> DerivedAccount:
    """Build the default :class:`~mail2dataverse.model.DerivedAccount` for ``domain``.

    :param domain: any host of the organisation; the registrable domain is used.
    :param name: the account name; None derives one with :func:`name_from_domain`.

    Public so that plugins which only change *which* domain makes the account (a subsidiary
    → its parent) can reuse the default record shape.
    """
    base = registrable_domain(domain)
    return DerivedAccount(
        domain=base,
        data={"domain": base, "name": name or name_from_domain(base), "website": f"https://{base}"},
    )


def _company_name(domain_base: str, contact: dict[str, Any] | None) -> str | None:
    if not isinstance(contact, dict):
        return None
    company = contact.get("company_name")
    if not isinstance(company, str) or not company.strip():
        return None
    for entry in contact.get("emails") or ():
        address = entry.get("email") if isinstance(entry, dict) else None
        d = domain_of(address) if isinstance(address, str) else None
        if d is not None and registrable_domain(d) == domain_base:
            return company.strip()
    return None


@hookimpl(trylast=True)
def derive_account(domain: str, contact: dict[str, Any] | None) -> DerivedAccount | None:
    """Derive the account of ``domain``: its registrable domain, a name and a website.

    Uses the contact's ``company_name`` as the name when the contact has an address on the
    same registrable domain; otherwise a name made from the domain.
    """
    base = registrable_domain(domain)
    return account_from_domain(base, _company_name(base, contact))
