"""Shared helpers for syncing into the in-process emulator."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from mail2dataverse.auth import StaticToken
from mail2dataverse.config import RunConfig, load_config
from mail2dataverse.demo import sample_path, seed_org
from mail2dataverse.emulator import Emulator
from mail2dataverse.sync import Inputs, sync

SAMPLE_INPUTS = Inputs(messages=str(sample_path("messages.json")), contacts=str(sample_path("contacts.json")))


@pytest.fixture
def sample_config() -> RunConfig:
    return load_config(sample_path("config.yaml"))


@pytest.fixture
def emulator():
    with Emulator() as emu:
        yield emu


@pytest.fixture
def seeded(emulator):
    seed_org(emulator)
    return emulator


def run_sync(emu: Emulator, config: RunConfig, inputs: Inputs = SAMPLE_INPUTS, *, state: Path | None = None,
             auth: Any = None, **kwargs: Any):
    """Sync into ``emu`` with fast retries (tests never sleep for real)."""
    options = {"backoff_base": 0.001, "backoff_cap": 0.01, **kwargs.pop("client_options", {})}
    return sync(inputs, config, url=emu.base_url, auth=auth or StaticToken("test"), state_path=state,
                client_options=options, **kwargs)


def snapshot(emu: Emulator) -> dict[str, Any]:
    """The org's content in a comparable form: ids replaced by what they point at."""
    accounts = {r["accountid"]: r for r in emu.records("account")}
    contacts = {r["contactid"]: r for r in emu.records("contact")}
    users = {r["systemuserid"]: r for r in emu.records("systemuser")}

    def who(rid: str | None) -> str | None:
        if rid is None:
            return None
        if rid in contacts:
            return "contact:" + str(contacts[rid]["emailaddress1"])
        if rid in accounts:
            return "account:" + str(accounts[rid]["name"])
        if rid in users:
            return "systemuser:" + str(users[rid]["internalemailaddress"])
        return "other:" + rid

    parties: dict[str, list] = {}
    for p in emu.records("activityparty"):
        parties.setdefault(p["activityid"], []).append((p["participationtypemask"], p["addressused"], who(p["partyid"])))
    emails = sorted(
        (
            r["messageid"], r["subject"], r["directioncode"], r["statecode"], r["statuscode"],
            r.get("actualstart"), r.get("regardingobjectid"), tuple(sorted(parties.get(r["activityid"], []))),
        )
        for r in emu.records("email")
    )
    return {
        "accounts": sorted((r["name"], r["websiteurl"]) for r in accounts.values()),
        "contacts": sorted(
            (r["emailaddress1"], r["firstname"], r["lastname"], who(r.get("parentcustomerid"))) for r in contacts.values()
        ),
        "emails": emails,
    }
