"""The built-in ``freemail`` plugin and the ``is_freemail`` wrapper."""

from __future__ import annotations

import pytest

from mail2dataverse.config import RunConfig
from mail2dataverse.errors import PluginError
from mail2dataverse.hookspecs import hookimpl
from mail2dataverse.plugins import freemail


@pytest.mark.parametrize(
    "domain, expected",
    [
        ("gmail.com", True),
        ("GMAIL.COM", True),  # the wrapper lower-cases
        (" outlook.com. ", True),  # and strips spaces and the root dot
        ("yahoo.co.uk", True),
        ("mail.yahoo.co.uk", True),  # a subdomain of a listed registrable domain
        ("mailinator.com", True),  # disposable list
        ("acme.co.uk", False),
        ("mail.acme.co.uk", False),
        ("x.github.io", False),  # private suffix: never inherits from github.io
    ],
)
def test_hook_is_freemail(make_plugins, domain, expected):
    assert make_plugins().is_freemail(domain) is expected


def test_listed_subdomain_entries_count():
    # The list itself holds some hosts below a registrable domain (plus.google.com);
    # their own subdomains are freemail, the registrable domain is not made freemail by them.
    policy = freemail.FreemailPolicy()
    assert "plus.google.com" in freemail.known_freemail_domains()
    assert policy.decide("a.plus.google.com") is True


def test_extra_domains_and_their_subdomains(make_plugins):
    plugins = make_plugins(RunConfig(freemail_extra=("corpmail.example",)))
    assert plugins.is_freemail("corpmail.example") is True
    assert plugins.is_freemail("eu.corpmail.example") is True
    assert plugins.is_freemail("other.example") is False


def test_excluded_domain_is_a_company_even_if_listed(make_plugins):
    plugins = make_plugins(RunConfig(freemail_exclude=("btinternet.com",)))
    assert "btinternet.com" in freemail.known_freemail_domains()
    assert plugins.is_freemail("btinternet.com") is False
    assert plugins.is_freemail("mail.btinternet.com") is False  # by registrable domain
    assert plugins.is_freemail("gmail.com") is True


def test_exclude_answers_false_so_later_trylast_plugins_are_not_asked():
    assert freemail.FreemailPolicy(exclude=["gmail.com"]).decide("gmail.com") is False
    assert freemail.FreemailPolicy().decide("acme.com") is None  # no opinion, not "company"


def test_configuration_does_not_leak_between_runs(make_plugins):
    first = make_plugins(RunConfig(freemail_extra=("leak.example",)))
    assert first.is_freemail("leak.example") is True
    second = make_plugins(RunConfig())
    assert second.is_freemail("leak.example") is False


def test_ip_literal_and_single_label_are_not_freemail(make_plugins):
    plugins = make_plugins()
    assert plugins.is_freemail("127.0.0.1") is False
    assert plugins.is_freemail("localhost") is False


def test_policy_instance_is_a_plugin_for_hosts_with_several_configs(make_plugins):
    plugins = make_plugins(
        extra=[("freemail", freemail.FreemailPolicy(extra=["only-here.example"]))], builtins=False
    )
    assert plugins.is_freemail("only-here.example") is True
    assert plugins.is_freemail("gmail.com") is True


def test_nobody_answers_means_company(make_plugins):
    assert make_plugins(builtins=False).is_freemail("gmail.com") is False


def test_external_false_beats_builtin_true(make_plugins):
    class Partner:
        @hookimpl
        def is_freemail(self, domain):
            return False if domain == "gmail.com" else None

    plugins = make_plugins(extra=[Partner()])
    assert plugins.is_freemail("gmail.com") is False
    assert plugins.is_freemail("yahoo.com") is True  # None falls through to the built-in


def test_external_plugin_registered_after_builtins_still_wins(make_plugins):
    from mail2dataverse.pluginmanager import Plugins, make_plugin_manager
    from mail2dataverse.plugins import accounts, regarding

    class Partner:
        @hookimpl
        def is_freemail(self, domain):
            return False

    # Registration order is LIFO in pluggy, trylast on the built-in is what makes this hold.
    pm = make_plugin_manager(autoload=False, extra=[freemail, Partner(), accounts, regarding])
    assert Plugins(pm, RunConfig()).is_freemail("gmail.com") is False


def test_answers_are_cached_per_domain(make_plugins):
    calls = []

    class Counting:
        @hookimpl
        def is_freemail(self, domain):
            calls.append(domain)
            return None

    plugins = make_plugins(extra=[Counting()])
    for _ in range(3):
        plugins.is_freemail("Acme.com")
        plugins.is_freemail("acme.com")
    assert calls == ["acme.com"]


def test_wrong_answer_type_is_a_plugin_error(make_plugins):
    class Sloppy:
        @hookimpl
        def is_freemail(self, domain):
            return "yes"

    with pytest.raises(PluginError, match=r"is_freemail\('acme.com'\) returned 'yes'"):
        make_plugins(extra=[Sloppy()]).is_freemail("acme.com")


def test_plugin_exception_becomes_plugin_error(make_plugins):
    class Broken:
        @hookimpl
        def is_freemail(self, domain):
            raise KeyError(domain)

    with pytest.raises(PluginError, match="plugin hook is_freemail failed: KeyError"):
        make_plugins(extra=[Broken()]).is_freemail("acme.com")
