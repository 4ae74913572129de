"""A stand-in for :class:`mail2dataverse.pluginmanager.Plugins`, shared by the mapper tests.

Kept in its own uniquely named module (not conftest.py) so tests can import the class: several
test folders have a conftest.py, and ``from conftest import ...`` would pick any of them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from mail2dataverse.config import RunConfig
from mail2dataverse.model import DerivedAccount, RegardingTarget

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
