"""Fixtures: a scaffolded function app imported in-process, and settings pointing at the emulator."""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
from importlib import resources
from pathlib import Path

import pytest

from mail2dataverse import scaffold

SAMPLES = Path(str(resources.files("mail2dataverse.samples")))
SAMPLE_MESSAGES = len(json.loads((SAMPLES / "messages.json").read_text("utf-8")))
SAMPLE_CONTACTS = len(json.loads((SAMPLES / "contacts.json").read_text("utf-8")))
SAMPLE_MAILBOX = {"name": "sample", "messages": str(SAMPLES / "messages.json"), "contacts": str(SAMPLES / "contacts.json")}


def scaffold_args(target: str, path: Path, force: bool = False) -> argparse.Namespace:
    """The namespace the CLI passes to :func:`mail2dataverse.scaffold.run`."""
    return argparse.Namespace(target=target, path=str(path), force=force)


@pytest.fixture
def app_dir(tmp_path: Path) -> Path:
    """A freshly scaffolded Azure Functions app."""
    path = tmp_path / "app"
    assert scaffold.run(scaffold_args("azure-function", path)) == 0
    return path


@pytest.fixture
def function_app(app_dir: Path):
    """The generated function_app.py, imported from its folder like the Functions host does."""
    name = f"function_app_{abs(hash(app_dir))}"
    spec = importlib.util.spec_from_file_location(name, app_dir / "function_app.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    yield module
    sys.modules.pop(name, None)


def handlers(module) -> dict:
    """Function name → the user's Python function: each decorated name in the module is a
    FunctionBuilder, and ``.build().get_user_function()`` is what the worker calls."""
    from azure.functions.decorators.function_app import FunctionBuilder

    built = [v.build() for v in vars(module).values() if isinstance(v, FunctionBuilder)]
    return {f.get_function_name(): f.get_user_function() for f in built}


class OutBinding:
    """A stand-in for ``func.Out``: what the function set is what the runtime would write."""

    def __init__(self):
        self.value = None

    def set(self, value) -> None:
        self.value = value

    def get(self):
        return self.value


@pytest.fixture
def emu():
    """The strict emulator, seeded like the demo org (owner, account, opportunity, case)."""
    from mail2dataverse.demo import seed_org
    from mail2dataverse.emulator import Emulator

    with Emulator() as emulator:
        seed_org(emulator)
        yield emulator


@pytest.fixture
def settings(monkeypatch, emu, tmp_path) -> dict:
    """App settings for the emulator and the bundled sample mailbox, set in os.environ."""
    for name in ("AZURE_CLIENT_SECRET", "AZURE_CLIENT_CERTIFICATE", "AZURE_CLIENT_CERTIFICATE_PATH",
                 "DYNAMICS_ORG", "MAIL2DATAVERSE_INPUT_ROOT"):
        monkeypatch.delenv(name, raising=False)
    values = {
        "DATAVERSE_URL": emu.base_url,
        "MAIL2DATAVERSE_AUTH": "none",
        "MAIL2DATAVERSE_CONFIG": str(SAMPLES / "config.yaml"),
        "MAIL2DATAVERSE_STATE": str(tmp_path / "state" / "m2d.sqlite3"),
        "MAIL2DATAVERSE_MAILBOXES": json.dumps([SAMPLE_MAILBOX]),
        "MAIL2DATAVERSE_QUEUE": "mail2dataverse-mailboxes",
        "MAIL2DATAVERSE_MAX_DEQUEUE": "3",
        "MAIL2DATAVERSE_SCHEDULE": "0 0 * * * *",
    }
    for key, value in values.items():
        monkeypatch.setenv(key, value)
    return values
