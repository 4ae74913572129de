"""The built-in ``accounts`` plugin, registrable domains and ``account_for_address``."""

from __future__ import annotations

import pytest

from mail2dataverse.errors import PluginError
from mail2dataverse.hookspecs import hookimpl
from mail2dataverse.model import DerivedAccount
from mail2dataverse.addresses import domain_of, registrable_domain
from mail2dataverse.plugins import accounts


@pytest.mark.parametrize(
    "domain, expected",
    [
        ("acme.co.uk", "acme.co.uk"),
        ("mail.acme.co.uk", "acme.co.uk"),
        ("MAIL.Acme.CO.UK.", "acme.co.uk"),
        ("a.b.c.example.com", "example.com"),
        ("foo.github.io", "foo.github.io"),  # private suffix: each site is its own domain
        ("a.b.foo.github.io", "foo.github.io"),
        ("x.contoso.onmicrosoft.com", "contoso.onmicrosoft.com"),  # M365 tenants stay apart
        ("contoso.onmicrosoft.com", "contoso.onmicrosoft.com"),
        ("127.0.0.1", "127.0.0.1"),  # IP literal: the list would say "0.1"
        ("[10.0.0.1]", "[10.0.0.1]"),
        ("[IPv6:2001:db8::1]", "[ipv6:2001:db8::1]"),
        ("localhost", "localhost"),  # no dot
        ("co.uk", "co.uk"),  # a bare public suffix
        ("x.unknowntld", "x.unknowntld"),  # unknown TLD: default rule
        ("mail.x.unknowntld", "x.unknowntld"),
        ("mail.bücher.de", "bücher.de"),
    ],
)
def test_registrable_domain(make_plugins, domain, expected):
    assert registrable_domain(domain) == expected
    assert make_plugins().registrable_domain(domain) == expected


@pytest.mark.parametrize(
    "address, expected",
    [
        ("Alice@Mail.Acme.co.uk", "mail.acme.co.uk"),
        ("o'brien+tag@acme.com", "acme.com"),
        ('"odd@local"@acme.com', "acme.com"),  # the last @ separates the domain
        ("no-at-sign", None),
        ("@acme.com", None),
        ("user@", None),
        ("root@localhost", None),
        ("user@[10.0.0.1]", None),
        ("user@10.0.0.1", None),
        ("user@acme_tools.com", None),
        ("user@acme.com-", None),
        ("user@acme..com", None),
        ("user@-acme.com", None),
        ("user@ac me.com", None),
        ("user@müller.de", "müller.de"),
    ],
)
def test_domain_of(address, expected):
    assert domain_of(address) == expected


@pytest.mark.parametrize(
    "domain, expected",
    [
        ("acme.com", "Acme"),
        ("acme-widgets.co.uk", "Acme Widgets"),
        ("mail.acme_tools.com", "Acme Tools"),
        ("xn--mller-kva.de", "Müller"),
        ("3m.com", "3m"),
    ],
)
def test_name_from_domain(domain, expected):
    assert accounts.name_from_domain(domain) == expected


def test_hook_derive_account(make_plugins):
    account = make_plugins().account_for_address("bob@mail.acme.co.uk", None)
    assert account == DerivedAccount(
        domain="acme.co.uk",
        data={"domain": "acme.co.uk", "name": "Acme", "website": "https://acme.co.uk"},
    )


def test_company_name_used_when_contact_is_on_the_domain(make_plugins):
    contact = {"company_name": " Acme Widgets Ltd ", "emails": [{"email": "Bob@acme-widgets.com", "type": "work"}]}
    account = make_plugins().account_for_address("bob@eu.acme-widgets.com", contact)
    assert account.data["name"] == "Acme Widgets Ltd"
    assert account.domain == "acme-widgets.com"


def test_company_name_ignored_when_contact_is_elsewhere():
    contact = {"company_name": "Other Corp", "emails": [{"email": "bob@other.com"}]}
    assert accounts.derive_account("acme.com", contact).data["name"] == "Acme"
    assert accounts.derive_account("acme.com", {"emails": None}).data["name"] == "Acme"


def test_freemail_and_invalid_addresses_make_no_account(make_plugins):
    plugins = make_plugins()
    assert plugins.account_for_address("someone@gmail.com", None) is None
    assert plugins.account_for_address("not-an-address", None) is None
    assert plugins.account_for_address("root@localhost", None) is None
    assert plugins.account_for_address("x@[10.0.0.1]", None) is None


def test_two_hosts_share_one_identity(make_plugins):
    plugins = make_plugins()
    a = plugins.account_for_address("a@acme.co.uk", None)
    b = plugins.account_for_address("b@mail.acme.co.uk", None)
    assert a.domain == b.domain == "acme.co.uk"


def test_answers_are_cached_per_domain(make_plugins):
    calls = []

    class Counting:
        @hookimpl
        def derive_account(self, domain, contact):
            calls.append(domain)
            return None

    plugins = make_plugins(extra=[Counting()])
    for address in ("a@acme.com", "b@ACME.com", "c@acme.com"):
        assert plugins.account_for_address(address, None).domain == "acme.com"
    assert calls == ["acme.com"]


def test_false_means_no_account(make_plugins):
    class NoAccounts:
        @hookimpl
        def derive_account(self, domain, contact):
            return False

    assert make_plugins(extra=[NoAccounts()]).account_for_address("a@acme.com", None) is None


def test_nobody_answers_means_no_account(make_plugins):
    assert make_plugins(builtins=False).account_for_address("a@acme.com", None) is None


@pytest.mark.parametrize(
    "answer",
    [
        {"domain": "acme.com"},
        "acme.com",
        True,
        DerivedAccount(domain="", data={}),
        DerivedAccount(domain="acme.com", data=None),
    ],
)
def test_wrong_answer_type_is_a_plugin_error(make_plugins, answer):
    class Sloppy:
        @hookimpl
        def derive_account(self, domain, contact):
            return answer

    with pytest.raises(PluginError, match=r"derive_account\('acme.com'\) returned"):
        make_plugins(extra=[Sloppy()]).account_for_address("a@acme.com", None)
