"""An org that already holds some of the sample mailbox's records, for the preview's diff tests.

It is ``samples/preview-org.json``, the org of docs/preview.md's worked example. On top of the demo org (Dana as a system user, Northwind Traders with its open opportunity
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

from mail2dataverse.demo import sample_path
from mail2dataverse.emulator import Emulator


#: a config whose regarding rules each link one sample email (see the module docstring)
SALES_RULES = sample_path("preview-config.yaml").read_text("utf-8")
SERVICE_RULES = """\
profile: service
owner_addresses: [dana@acme-widgets.example]
"""


def seed_diff_org(emu: Emulator) -> None:
    """Seed ``emu`` from ``samples/preview-org.json`` (the worked example's org; fixed ids and dates)."""
    from mail2dataverse.emulator.orgfiles import load_seed_file

    for table, row in load_seed_file(sample_path("preview-org.json"), emu.store.tables):
        emu.seed(table, row)


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
