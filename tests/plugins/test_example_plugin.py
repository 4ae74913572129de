"""The example external plugin (plugins/example_plugin) overrides the trylast built-ins."""

from __future__ import annotations

import tomllib
from pathlib import Path

from mail2dataverse.config import RunConfig
from mail2dataverse.pluginlist import list_plugins

EXAMPLE_DIR = Path(__file__).resolve().parents[2] / "plugins" / "example_plugin"

SETTINGS = RunConfig(
    plugin_settings={
        "example": {
            "parents": {"Acme-Labs.com": "acme.com", "acme.de": "acme.com"},
            "parent_names": {"acme.com": "Acme Corporation"},
        }
    }
)


def test_packaging_contract():
    project = tomllib.loads((EXAMPLE_DIR / "pyproject.toml").read_text("utf-8"))
    assert project["project"]["name"] == "mail2dataverse-example-plugin"
    assert project["project"]["entry-points"]["mail2dataverse"] == {"example": "m2d_example"}
    assert (EXAMPLE_DIR / "m2d_example" / "__init__.py").is_file()
    assert (EXAMPLE_DIR / "README.md").is_file()


def test_derive_account_override_wins_over_builtin(make_plugins, example_module):
    plugins = make_plugins(SETTINGS, extra=[example_module])
    account = plugins.account_for_address("dr.who@eu.acme-labs.com", None)
    assert account.domain == "acme.com"
    assert account.data == {"domain": "acme.com", "name": "Acme Corporation", "website": "https://acme.com"}
    assert plugins.account_for_address("x@acme.de", None).domain == "acme.com"
    # Not a subsidiary: the example answers None and the built-in decides.
    other = plugins.account_for_address("x@mail.other.co.uk", None)
    assert (other.domain, other.data["name"]) == ("other.co.uk", "Other")


def test_without_the_example_subsidiaries_get_their_own_account(make_plugins):
    account = make_plugins(SETTINGS).account_for_address("x@acme-labs.com", None)
    assert (account.domain, account.data["name"]) == ("acme-labs.com", "Acme Labs")


def test_is_freemail_override_for_reserved_domains(make_plugins, example_module):
    with_example = make_plugins(extra=[example_module])
    without = make_plugins()
    for domain in ("shop.example", "qa.test", "example.com", "x.localhost"):
        assert with_example.is_freemail(domain) is True, domain
        assert with_example.account_for_address(f"a@{domain}", None) is None
    assert without.is_freemail("shop.example") is False
    assert with_example.is_freemail("gmail.com") is True  # falls through to the built-in
    assert with_example.is_freemail("acme.com") is False


def test_example_transform(make_plugins, example_module):
    transforms = make_plugins(extra=[example_module]).transforms()
    assert set(transforms) == {"redact_digits"}
    redact = transforms["redact_digits"]
    assert redact("Call +44 20 7946 0000") == "Call +## ## #### ####"
    assert redact(None) is None
    assert redact(42) == 42


def test_example_registered_after_builtins_still_wins(example_module):
    from mail2dataverse.pluginmanager import Plugins, make_plugin_manager
    from mail2dataverse.plugins import accounts, freemail, regarding

    pm = make_plugin_manager(autoload=False, extra=[example_module, freemail, accounts, regarding])
    plugins = Plugins(pm, SETTINGS)
    assert plugins.account_for_address("x@acme-labs.com", None).domain == "acme.com"

    pm = make_plugin_manager(autoload=False, extra=[freemail, accounts, regarding, example_module])
    plugins = Plugins(pm, SETTINGS)
    assert plugins.account_for_address("x@acme-labs.com", None).domain == "acme.com"


def test_example_is_listed_as_external(make_plugins, example_module):
    pm = make_plugins(extra=[("example", example_module)]).pm
    (row,) = list_plugins(pm, include_builtin=False)
    assert row["name"] == "example"
    assert row["builtin"] is False
    assert row["hooks"] == ["configure", "derive_account", "is_freemail", "register_transforms"]
