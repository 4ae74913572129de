"""E-mail address and domain helpers: the one place that says what an address and a usable
domain are.

:func:`canonical_address` is the one form an address is compared, looked up and stored in
(contacts' ``emailaddress1..3``, activity parties, the mailbox owners, the accounts derived from
domains): lower case, the domain in Unicode (``xn--`` labels decoded) without trailing dots.
:func:`parse_addresses` reads a raw field into that form: display-name forms, lists, and the
control characters that refuse a field (docs/sync.md, "Addresses").

The typed hook wrappers (:mod:`mail2dataverse.pluginmanager`), the mapper's transforms and the
built-in ``freemail``, ``accounts`` and ``regarding`` plugins all reduce addresses to domains
and domains to registrable domains through these functions, so the answer to "which company is
this address from" is the same everywhere.

Importing this module is cheap: the public suffix list is loaded on first use, once per
process.
"""

from __future__ import annotations

import email.utils
import functools
import ipaddress
import re
import unicodedata
from dataclasses import dataclass
from typing import Any

from .errors import shown

__all__ = ["SHARED_TENANT_SUFFIXES", "ParsedAddresses", "canonical_address", "domain_of", "normalize_domain",
           "parse_addresses", "registrable_domain"]


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

    # Without the punycoded copy of every rule (a quarter of the parse's cost, 80 ms a run):
    # domains reach the list in their Unicode form (_domain_form decodes every valid xn--
    # label), and a label that is not valid punycode cannot equal the encoding of a rule.
    return PublicSuffixList(accept_encoded_idn=False)


def normalize_domain(domain: str) -> str:
    """Return ``domain`` in its canonical form: stripped of blanks and outer dots, lower-cased,
    IDNA labels in Unicode (``" Acme.COM. "`` → ``acme.com``, ``xn--bcher-kva.example`` →
    ``bücher.example``; see :func:`_domain_form`). Freemail answers are looked up and cached
    under this form."""
    return _domain_form(domain)


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



# ---------------------------------------------------------------------------------------------
# The canonical form of an address
# ---------------------------------------------------------------------------------------------

#: Characters an address never holds: C0/C1 controls (CR and LF above all: a header injection
#: waiting to happen), DEL and the Unicode line and paragraph separators.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_ANGLE = re.compile(r"^(?P<name>[^<>]*)<(?P<address>[^<>]*)>\s*$", re.DOTALL)


@dataclass(frozen=True, slots=True)
class ParsedAddresses:
    """What one address field held, in canonical form (:func:`parse_addresses`).

    :ivar addresses: the canonical addresses, in order, once each (several when the field held
        a list such as ``"a@x, b@y"``); empty when nothing usable was there.
    :ivar names: the display name that came with each address (``"Ana Silva <ana@x>"``), or None.
    :ivar problem: why (part of) the field was refused, for a warning or a skip reason; None
        when everything in it was used.
    """

    addresses: tuple[str, ...]
    names: tuple[str | None, ...] = ()
    problem: str | None = None


def _domain_form(domain: str) -> str:
    """The stored form of a domain: Unicode (IDNA labels ``xn--...`` decoded), NFC, lower case,
    without outer dots. ``xn--bcher-kva.example.`` and ``Bücher.example`` both give
    ``bücher.example``; a label that is not valid punycode is kept as it is."""
    labels = []
    for label in domain.strip().strip(".").split("."):
        if label[:4].lower() == "xn--":
            try:
                label = label[4:].encode("ascii").decode("punycode")
            except (UnicodeError, ValueError):
                pass
        labels.append(label)
    return unicodedata.normalize("NFC", ".".join(labels)).lower()


@functools.lru_cache(maxsize=65536)
def canonical_address(address: str) -> str:
    """The one form an address is compared, looked up and stored in: stripped, lower-cased, its
    domain in Unicode without trailing dots (:func:`_domain_form`), NFC. Text without an ``@``
    is only stripped and lower-cased. Assumes a single address without control characters (see
    :func:`parse_addresses` for raw input)."""
    text = address.strip()
    local, at, domain = text.rpartition("@")
    if not at:
        return unicodedata.normalize("NFC", text).lower()
    return f"{unicodedata.normalize('NFC', local).lower()}@{_domain_form(domain)}"


def _one(text: str) -> tuple[str | None, str | None]:
    """``(canonical address, display name)`` of one ``name <address>`` or bare address."""
    angle = _ANGLE.match(text)
    if angle and "@" in angle["address"]:
        name = angle["name"].strip().strip('"').strip() or None
        return canonical_address(angle["address"]), name
    return canonical_address(text), None


@functools.lru_cache(maxsize=65536)
def parse_addresses(field: str) -> ParsedAddresses:
    """Read an address field as exports hold it, into canonical addresses.

    * ``"Ana Silva <Ana@X.example>"`` → ``ana@x.example`` (name ``Ana Silva``);
    * ``"a@x, b@y"`` (or ``;``) → both, in order, once each; a comma inside a quoted display name
      (``"Silva, Ana" <a@x>``) is part of the name;
    * ``jo@xn--bcher-kva.example.`` → ``jo@bücher.example`` (:func:`canonical_address`);
    * control characters (CR, LF, NUL...) refuse the field: ``problem`` says so, no address.

    Cached: the same fields recur in every message.
    """
    text = field.strip()  # a trailing newline is sloppiness; one inside is an injection
    bad = _CONTROL.search(text)
    if bad:
        return ParsedAddresses((), (), f"address {shown(field, 60)} holds a control character "
                                        f"{repr(bad.group())[1:-1]}: refused")
    if not text:
        return ParsedAddresses(())
    parts = [text]
    if ("," in text or ";" in text) and text.count("@") > 1:
        pairs = email.utils.getaddresses([text.replace(";", ",")])
        if len(pairs) > 1 and all("@" in a for _, a in pairs):
            parts = [f"{n} <{a}>" if n else a for n, a in pairs]
    seen: dict[str, str | None] = {}
    for part in parts:
        address, name = _one(part)
        if address and address not in seen:
            seen[address] = name
    return ParsedAddresses(tuple(seen), tuple(seen.values()))
