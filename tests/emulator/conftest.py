"""Fixtures for the emulator conformance tests: a running emulator and a raw HTTP client."""

from __future__ import annotations

import pytest
import requests

from mail2dataverse.emulator import Emulator

AUTH = {"Authorization": "Bearer test-token", "Accept": "application/json", "OData-MaxVersion": "4.0",
        "OData-Version": "4.0"}


class Client:
    """A thin ``requests`` wrapper that talks to one emulator with a bearer token."""

    def __init__(self, emu: Emulator):
        self.emu = emu
        self.root = emu.service_root
        self.session = requests.Session()
        self.session.headers.update(AUTH)

    def url(self, path: str) -> str:
        return path if "://" in path else self.root + path

    def get(self, path, **kw):
        return self.session.get(self.url(path), **kw)

    def post(self, path, json=None, **kw):
        return self.session.post(self.url(path), json=json, **kw)

    def patch(self, path, json=None, **kw):
        return self.session.patch(self.url(path), json=json, **kw)

    def put(self, path, json=None, **kw):
        return self.session.put(self.url(path), json=json, **kw)

    def delete(self, path, **kw):
        return self.session.delete(self.url(path), **kw)

    def create(self, entity_set: str, body: dict) -> str:
        """POST and return the new id (asserting the documented 204 + OData-EntityId)."""
        r = self.post(entity_set, body)
        assert r.status_code == 204, r.text
        return r.headers["OData-EntityId"].rsplit("(", 1)[1].rstrip(")")


def error_of(resp) -> tuple[str, str]:
    """(code, message) of a Dataverse error body."""
    err = resp.json()["error"]
    return err["code"], err["message"]


@pytest.fixture
def emu():
    with Emulator() as e:
        yield e


@pytest.fixture
def emu_keyed():
    with Emulator(alternate_keys=(("contact", "emailaddress1"), ("account", "accountnumber"))) as e:
        yield e


@pytest.fixture
def client(emu):
    c = Client(emu)
    yield c
    c.session.close()


@pytest.fixture
def kclient(emu_keyed):
    c = Client(emu_keyed)
    yield c
    c.session.close()
