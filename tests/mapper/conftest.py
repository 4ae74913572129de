"""Fixtures for the mapping-language tests.

The mapper is tested against :class:`FakePlugins`, a small stand-in with the surface of
:class:`mail2dataverse.plugins.Plugins` (transforms, jmespath_functions, is_freemail,
account_for_address, regarding_target, registrable_domain, config), so these tests neither
depend on the built-in plugins' policies nor change when they do.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from mail2dataverse.config import RunConfig
from mail2dataverse.mapper import MappingSet, load_mappings
from mail2dataverse.model import DerivedAccount, RegardingTarget

FIXTURES = Path(__file__).parent / "fixtures"
FREEMAIL = frozenset({"gmail.com", "yahoo.com", "outlook.com"})


@dataclass
class FakePlugins:
    """Deterministic plugins: a fixed freemail list, ``a.b.example`` → ``b.example`` registrable
    domains, one account per registrable domain, and a regarding answer that echoes the context.
    """

    config: RunConfig = field(default_factory=RunConfig)
    extra_transforms: dict[str, Callable[..., Any]] = field(default_factory=dict)
    extra_functions: dict[str, tuple[Callable[..., Any], list]] = field(default_factory=dict)
    calls: list[tuple[str, Any]] = field(default_factory=list)

    def transforms(self) -> dict[str, Callable[..., Any]]:
        return dict(self.extra_transforms)

    def jmespath_functions(self) -> dict[str, tuple[Callable[..., Any], list]]:
        return dict(self.extra_functions)

    def is_freemail(self, domain: str) -> bool:
        self.calls.append(("is_freemail", domain))
        return domain.lower() in FREEMAIL

    def registrable_domain(self, domain: str) -> str:
        parts = domain.lower().split(".")
        if parts[-2:-1] == ["co"]:  # good enough for .co.uk in tests
            return ".".join(parts[-3:])
        return ".".join(parts[-2:])

    def account_for_address(self, address: str, contact: dict | None) -> DerivedAccount | None:
        self.calls.append(("account_for_address", address))
        domain = address.rpartition("@")[2].lower()
        if not domain or self.is_freemail(domain):
            return None
        reg = self.registrable_domain(domain)
        name = (contact or {}).get("company_name") or reg.split(".")[0].title()
        return DerivedAccount(reg, {"domain": reg, "name": name, "website": f"https://{reg}"})

    def regarding_target(self, message: dict, context: dict) -> RegardingTarget | None:
        self.calls.append(("regarding_target", context))
        if not context["external_domains"]:
            return None
        return RegardingTarget("opportunity", "account_newest_open", context["external_domains"][0], reason="test")


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
