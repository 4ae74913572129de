"""An org that already holds some of the sample mailbox's records, for the preview's diff tests.

On top of the demo org (Dana as a system user, Northwind Traders with its open opportunity
"Q3 renewal – 40 seats", case CAS-01234-A1B2C3) it holds:

- Zoë Ångström with an older job title and phone: the preview shows an update of those columns;
- Tomás Herrera exactly as the export maps him: unchanged;
- two contacts holding procurement@northwind-traders.example and two holding
  soporte@herrera-hijos.example: ambiguous addresses (the oldest row wins, the others are
  listed as candidates);
- "Bluefin pilot" (an opportunity found by name) and an opportunity of Herrera & Hijos found by
  id, so that with :data:`SALES_RULES` each sales rule links one email: by id, by name, and the
  newest open opportunity of an account (Northwind's);
- the email of sample message 8 (same messageid): unchanged, already in the org.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from mail2dataverse.demo import sample_path, seed_org
from mail2dataverse.emulator import Emulator

HERRERA_OPPORTUNITY = "5e1f0a2b-3c4d-4e5f-8a9b-0c1d2e3f4a5b"
NORTHWIND = "1b2c3d4e-5f60-4718-a9b0-c1d2e3f4a5b6"

#: a config whose regarding rules each link one sample email (see the module docstring)
SALES_RULES = f"""\
profile: sales
owner_addresses: [dana@acme-widgets.example]
opportunity_domains:
  bluefin-robotics.co.uk: Bluefin pilot
  herrera-hijos.example: "{HERRERA_OPPORTUNITY}"
"""
SERVICE_RULES = """\
profile: service
owner_addresses: [dana@acme-widgets.example]
"""


def seed_diff_org(emu: Emulator) -> None:
    """Seed ``emu`` as described in the module docstring (fixed ids and dates: golden output)."""
    seed_org(emu)
    emu.seed("contact", {"contactid": "7a1b2c3d-0000-4000-8000-000000000001", "firstname": "Zoë", "lastname": "Ångström",
                         "emailaddress1": "zoe.angstrom@northwind-traders.example", "jobtitle": "Sales Associate",
                         "telephone1": "+44 20 7946 0000", "createdon": "2024-01-05T09:00:00Z",
                         "parentcustomerid_account@odata.bind": f"/accounts({NORTHWIND})"})
    emu.seed("contact", {"contactid": "7a1b2c3d-0000-4000-8000-000000000002", "firstname": "Tomás", "lastname": "Herrera",
                         "emailaddress1": "tomas@herrera-hijos.example", "createdon": "2024-01-06T09:00:00Z"})
    for i, (address, name, created) in enumerate([
        ("procurement@northwind-traders.example", "Procurement", "2023-05-01T08:00:00Z"),
        ("procurement@northwind-traders.example", "Northwind Purchasing", "2024-02-01T08:00:00Z"),
        ("soporte@herrera-hijos.example", "Soporte Herrera", "2023-07-01T08:00:00Z"),
        ("soporte@herrera-hijos.example", "Soporte (old)", "2024-03-01T08:00:00Z"),
    ], start=3):
        emu.seed("contact", {"contactid": f"7a1b2c3d-0000-4000-8000-00000000000{i}", "lastname": name,
                             "emailaddress1": address, "createdon": created})
    emu.seed("opportunity", {"opportunityid": "9f8e7d6c-5b4a-4392-8170-6f5e4d3c2b1a", "name": "Bluefin pilot"})
    emu.seed("opportunity", {"opportunityid": HERRERA_OPPORTUNITY, "name": "Herrera site rollout"})
    emu.seed("email", {"activityid": "4d3c2b1a-0000-4000-8000-000000000008", "subject": "Intro: warehouse automation pilot",
                       "messageid": "<nylas.5a1e7c2d-3b4f-4e6a-9c8d-0f1e2d3c4b5a.18f3a4d01c9e7b22@mail2dataverse.invalid>"})


@pytest.fixture
def diff_org():
    """A running emulator seeded by :func:`seed_diff_org`."""
    with Emulator(anonymous=True) as emu:
        seed_diff_org(emu)
        yield emu


@pytest.fixture
def sales_rules(tmp_path: Path) -> Path:
    path = tmp_path / "sales.yaml"
    path.write_text(SALES_RULES, encoding="utf-8")
    return path


@pytest.fixture
def service_rules(tmp_path: Path) -> Path:
    path = tmp_path / "service.yaml"
    path.write_text(SERVICE_RULES, encoding="utf-8")
    return path


def sample_args() -> list[str]:
    """The sample mailbox as preview arguments."""
    return ["--messages", str(sample_path("messages.json")), "--contacts", str(sample_path("contacts.json"))]
