"""Entry-point discovery, without installing anything.

Installing a package into a throwaway venv is slow, so these tests write a ``*.dist-info``
folder (METADATA + entry_points.txt) into ``tmp_path``: to ``importlib.metadata`` that *is* an
installed distribution. ``importlib.metadata.distributions`` is narrowed to ``tmp_path`` so
whatever else is installed (including our own distribution's entry points, whose modules may
be mid-development) cannot change the result.
"""

from __future__ import annotations

import importlib.metadata
import sys
import tomllib
from pathlib import Path

import pytest

from mail2dataverse.config import RunConfig
from mail2dataverse.errors import PluginError
from mail2dataverse.pluginlist import list_plugins
from mail2dataverse.pluginmanager import (
    AUTOLOAD_ENV,
    DISABLE_ENV,
    ENTRY_POINT_GROUP,
    Plugins,
    make_plugin_manager,
)
from mail2dataverse.plugins import accounts, freemail, regarding

EXAMPLE_DIR = Path(__file__).resolve().parents[2] / "plugins" / "example_plugin"

PARTNER_SOURCE = '''
"""A fake installed plugin: gmail.com is a partner's company domain here."""
from mail2dataverse import hookimpl

@hookimpl
def is_freemail(domain):
    return False if domain == "gmail.com" else None
'''


def write_distribution(root: Path, name: str, version: str, entry_points: dict[str, str]) -> None:
    """Write ``<name>-<version>.dist-info`` with METADATA and a mail2dataverse entry-point group."""
    info = root / f"{name.replace('-', '_')}-{version}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n", "utf-8")
    lines = [f"[{ENTRY_POINT_GROUP}]"] + [f"{k} = {v}" for k, v in entry_points.items()]
    (info / "entry_points.txt").write_text("\n".join(lines) + "\n", "utf-8")


@pytest.fixture
def site(tmp_path, monkeypatch):
    """A private site-packages: importable, and the only place distributions are looked for."""
    monkeypatch.syspath_prepend(str(tmp_path))
    only_here = [str(tmp_path)]
    real = importlib.metadata.distributions
    monkeypatch.setattr(importlib.metadata, "distributions", lambda **kw: real(path=only_here, **kw))
    yield tmp_path
    for module in ("m2d_partner", "m2d_example"):
        sys.modules.pop(module, None)


@pytest.fixture
def partner(site):
    (site / "m2d_partner.py").write_text(PARTNER_SOURCE, "utf-8")
    write_distribution(site, "m2d-partner", "1.2.3", {"partner": "m2d_partner"})
    return site


def test_entry_point_discovery_and_listing(partner):
    pm = make_plugin_manager(extra=[freemail, accounts, regarding])
    assert pm.get_plugin("partner") is sys.modules["m2d_partner"]
    rows = {r["name"]: r for r in list_plugins(pm)}
    assert rows["partner"]["package"] == "m2d-partner"
    assert rows["partner"]["version"] == "1.2.3"
    assert rows["partner"]["builtin"] is False
    assert rows["partner"]["hooks"] == ["is_freemail"]
    assert rows["partner"]["file"] == str(partner / "m2d_partner.py")
    # the installed plugin was loaded first, the built-in last: trylast still lets it win
    assert Plugins(pm, RunConfig()).is_freemail("gmail.com") is False


def test_entry_point_blocked_by_name(partner):
    pm = make_plugin_manager(disable=["partner"], extra=[freemail])
    assert pm.get_plugin("partner") is None
    assert Plugins(pm, RunConfig()).is_freemail("gmail.com") is True


def test_entry_point_blocked_by_env(partner, monkeypatch):
    monkeypatch.setenv(DISABLE_ENV, "partner")
    pm = make_plugin_manager()
    assert pm.get_plugin("partner") is None
    # still listed, from its entry point, so the user sees it is installed but disabled
    (row,) = list_plugins(pm)
    assert row == {
        "name": "partner", "package": "m2d-partner", "version": "1.2.3", "module": "m2d_partner",
        "file": None, "hooks": [], "builtin": False, "disabled": True,
    }


def test_autoload_off_by_argument_and_env(partner, monkeypatch):
    assert make_plugin_manager(autoload=False).get_plugin("partner") is None
    monkeypatch.setenv(AUTOLOAD_ENV, "0")
    assert make_plugin_manager().get_plugin("partner") is None
    assert make_plugin_manager(autoload=True).get_plugin("partner") is not None


def test_broken_entry_point_is_a_plugin_error(site):
    write_distribution(site, "m2d-broken", "0.1", {"broken": "m2d_does_not_exist"})
    with pytest.raises(PluginError) as info:
        make_plugin_manager()
    assert str(info.value) == (
        "could not load plugin 'broken': No module named 'm2d_does_not_exist' "
        "(block it with MAIL2DATAVERSE_DISABLE_PLUGINS=broken)"
    )
    assert make_plugin_manager(disable=["broken"]).get_plugin("broken") is None


def test_example_package_through_its_declared_entry_point(site, monkeypatch):
    """The example's pyproject entry point, as pip would install it, overrides the built-in."""
    project = tomllib.loads((EXAMPLE_DIR / "pyproject.toml").read_text("utf-8"))["project"]
    monkeypatch.syspath_prepend(str(EXAMPLE_DIR))
    write_distribution(site, project["name"], project["version"], project["entry-points"][ENTRY_POINT_GROUP])
    config = RunConfig(plugin_settings={"example": {"parents": {"acme-labs.com": "acme.com"}}})
    pm = make_plugin_manager(extra=[freemail, accounts, regarding])
    (row,) = list_plugins(pm, include_builtin=False)
    assert (row["name"], row["package"], row["version"]) == ("example", "mail2dataverse-example-plugin", "0.1.0")
    plugins = Plugins(pm, config)
    assert plugins.account_for_address("a@acme-labs.com", None).domain == "acme.com"


def test_our_distribution_declares_the_builtins():
    # Reads the installed metadata of mail2dataverse itself (pip install -e . writes it).
    dist = importlib.metadata.distribution("mail2dataverse")
    declared = {ep.name: ep.value for ep in dist.entry_points if ep.group == ENTRY_POINT_GROUP}
    for name in ("freemail", "accounts", "regarding"):
        assert declared[name] == f"mail2dataverse.plugins.{name}"


def test_builtins_loaded_from_our_entry_points_are_builtin(monkeypatch):
    """Autoload our own distribution only; ``mbox`` belongs to the sources work and is blocked."""
    real = importlib.metadata.distributions
    ours = [d for d in real() if d.metadata["Name"] == "mail2dataverse"]
    monkeypatch.setattr(importlib.metadata, "distributions", lambda **kw: iter(ours))
    pm = make_plugin_manager(disable=["mbox"])
    rows = {r["name"]: r for r in list_plugins(pm)}
    for name in ("freemail", "accounts", "regarding"):
        assert rows[name]["builtin"] is True
        assert rows[name]["package"] == "mail2dataverse"
    assert list_plugins(pm, include_builtin=False) == []
    pm = make_plugin_manager(disable=["mbox", "freemail"])
    assert pm.get_plugin("freemail") is None and pm.get_plugin("accounts") is accounts
