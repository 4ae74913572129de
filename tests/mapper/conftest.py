"""Fixtures for the mapping-language tests.

The mapper is tested against :class:`mapper_fakes.FakePlugins`, a small stand-in with the surface of
:class:`mail2dataverse.pluginmanager.Plugins` (transforms, jmespath_functions, is_freemail,
account_for_address, regarding_target, registrable_domain, config), so these tests neither
depend on the built-in plugins' policies nor change when they do.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from mapper_fakes import FakePlugins

from mail2dataverse.config import RunConfig
from mail2dataverse.mapper import MappingSet, load_mappings

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture
def plugins() -> FakePlugins:
    """Fake plugins with an owner address, as a configured run would have."""
    return FakePlugins(RunConfig(profile="sales", owner_addresses=("dana@acme-widgets.example",)))


@pytest.fixture
def mappings(plugins: FakePlugins) -> MappingSet:
    """The shipped default mappings compiled against the fake plugins."""
    return load_mappings(plugins=plugins)


@pytest.fixture
def messages() -> list[dict]:
    """The three example messages of the Nylas reference (§7.1), exact CLI shape."""
    return json.loads((FIXTURES / "messages.json").read_text("utf-8"))


@pytest.fixture
def contacts() -> list[dict]:
    """The three example contacts of the Nylas reference (§7.2)."""
    return json.loads((FIXTURES / "contacts.json").read_text("utf-8"))


@pytest.fixture
def headers() -> list[dict]:
    """The ``headers`` array that ``nylas email read --headers --json`` adds to message 1."""
    return json.loads((FIXTURES / "headers.json").read_text("utf-8"))["headers"]
