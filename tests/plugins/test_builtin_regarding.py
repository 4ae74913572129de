"""The built-in ``regarding`` plugin and the ``regarding_target`` wrapper."""

from __future__ import annotations

import pytest

from mail2dataverse.config import RunConfig
from mail2dataverse.errors import PluginError
from mail2dataverse.hookspecs import hookimpl
from mail2dataverse.model import RegardingTarget
from mail2dataverse.plugins import regarding

GUID = "3F2504E0-4F89-11D3-9A0C-0305E82C3301"


def target(plugins, subject="", external=()):
    return plugins.regarding_target({"id": "m1", "subject": subject}, {"external_domains": list(external)})


def test_hook_regarding_target(make_plugins):
    plugins = make_plugins(RunConfig(profile="service"))
    assert target(plugins, "Re: [CAS-01234-A1B2C3] printer on fire") == RegardingTarget(
        table="incident",
        by="column",
        column="ticketnumber",
        value="CAS-01234-A1B2C3",
        reason="case number CAS-01234-A1B2C3 in the subject",
    )


def test_service_without_case_number_is_unlinked(make_plugins):
    plugins = make_plugins(RunConfig(profile="service"))
    assert target(plugins, "Hello") is None
    assert target(plugins, "CAS-1234-A1B2C3 too short") is None
    assert plugins.regarding_target({"subject": None}, {}) is None


def test_service_pattern_override(make_plugins):
    plugins = make_plugins(RunConfig(profile="service", case_number_pattern=r"TKT-\d+"))
    assert target(plugins, "about TKT-42 and TKT-43").value == "TKT-42"  # first match
    assert target(plugins, "CAS-01234-A1B2C3") is None


def test_sales_mapped_domain_by_name(make_plugins):
    config = RunConfig(profile="sales", opportunity_domains={"acme.com": "Acme renewal 2026"})
    got = target(make_plugins(config), external=["other.com", "acme.com"])
    assert (got.table, got.by, got.column, got.value) == ("opportunity", "column", "name", "Acme renewal 2026")


def test_sales_mapped_domain_by_guid(make_plugins):
    config = RunConfig(profile="sales", opportunity_domains={"acme.com": "{" + GUID + "}"})
    got = target(make_plugins(config), external=["acme.com"])
    assert (got.table, got.by, got.column, got.value) == ("opportunity", "id", None, GUID.lower())


def test_sales_mapped_domain_matches_a_host_by_registrable_domain(make_plugins):
    config = RunConfig(profile="sales", opportunity_domains={"acme.co.uk": GUID})
    assert target(make_plugins(config), external=["mail.acme.co.uk"]).by == "id"


def test_sales_first_mapped_domain_wins(make_plugins):
    config = RunConfig(profile="sales", opportunity_domains={"b.com": "B deal", "c.com": "C deal"})
    assert target(make_plugins(config), external=["a.com", "c.com", "b.com"]).value == "C deal"


def test_sales_unmapped_means_newest_open_opportunity_of_first_party(make_plugins):
    got = target(make_plugins(RunConfig(profile="sales")), external=["mail.acme.co.uk", "other.com"])
    assert got == RegardingTarget(
        table="opportunity",
        by="account_newest_open",
        value="acme.co.uk",
        reason="newest open opportunity of the account for acme.co.uk, the first external party",
    )
    assert got.describe() == "newest open opportunity of the account for acme.co.uk"


def test_sales_without_external_party_is_unlinked(make_plugins):
    assert target(make_plugins(RunConfig(profile="sales"))) is None


def test_profile_none_is_unlinked(make_plugins):
    plugins = make_plugins(RunConfig(profile="none", opportunity_domains={"acme.com": GUID}))
    assert target(plugins, "CAS-01234-A1B2C3", external=["acme.com"]) is None


def test_context_profile_overrides_config(make_plugins):
    plugins = make_plugins(RunConfig(profile="none"))
    msg = {"subject": "CAS-01234-A1B2C3"}
    assert plugins.regarding_target(msg, {"profile": "service", "config": plugins.config, "owner_addresses": ()})
    assert plugins.regarding_target(msg, {}) is None


def test_builtin_without_config_in_context_uses_defaults():
    got = regarding.regarding_target({"subject": "CAS-01234-A1B2C3"}, {"profile": "service"})
    assert got.value == "CAS-01234-A1B2C3"


def test_plugin_override_and_fallthrough(make_plugins):
    class Projects:
        """Link mail about a project code to that project; leave the rest to the built-in."""

        @hookimpl
        def regarding_target(self, message, context):
            if "PRJ-7" in (message.get("subject") or ""):
                return RegardingTarget(table="msdyn_project", by="column", column="msdyn_subject", value="PRJ-7")
            if "internal" in (message.get("subject") or ""):
                return False
            return None

    plugins = make_plugins(RunConfig(profile="service"), extra=[Projects()])
    assert target(plugins, "PRJ-7 CAS-01234-A1B2C3").table == "msdyn_project"
    assert target(plugins, "internal CAS-01234-A1B2C3") is None  # False stops the built-in
    assert target(plugins, "CAS-01234-A1B2C3").table == "incident"


@pytest.mark.parametrize("answer", [True, "incident", {"table": "incident"}])
def test_wrong_answer_type_is_a_plugin_error(make_plugins, answer):
    class Sloppy:
        @hookimpl
        def regarding_target(self, message, context):
            return answer

    with pytest.raises(PluginError, match=r"regarding_target\(message 'm1'\) returned"):
        target(make_plugins(extra=[Sloppy()]))


def test_hook_regarding_target_matches_a_case_number_typed_in_lower_case():
    from mail2dataverse.config import RunConfig
    from mail2dataverse.pluginmanager import Plugins, make_plugin_manager
    from mail2dataverse.plugins import regarding as builtin

    plugins = Plugins(make_plugin_manager(autoload=False, extra=[("regarding", builtin)]), RunConfig(profile="service"))
    target = plugins.regarding_target({"subject": "re: cas-01234-a1b2c3 still broken"}, {"external_domains": []})
    assert (target.table, target.column, target.value) == ("incident", "ticketnumber", "CAS-01234-A1B2C3")
