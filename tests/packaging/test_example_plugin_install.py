"""The example plugin package really builds, installs and overrides a built-in.

tests/plugins registers the example through a hand-written ``dist-info``; this test builds its
wheel with its own ``pyproject.toml`` and installs it with pip, so a broken build
configuration or a wrong entry point in the real package shows up here. Offline and without
touching the test environment: ``--no-isolation`` builds with the installed setuptools, and
``pip install --target`` puts the plugin in a private folder that only the subprocesses below
see (through PYTHONPATH).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "plugins" / "example_plugin"
SAMPLES = ROOT / "engine" / "samples"


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    """A folder holding the pip-installed example plugin (and nothing else)."""
    work = tmp_path_factory.mktemp("example")
    # Build from a copy: a build writes build/ and *.egg-info next to the sources.
    source = shutil.copytree(EXAMPLE, work / "src")
    dist = work / "dist"
    subprocess.run(
        [sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(dist), str(source)],
        check=True,
        capture_output=True,
    )
    (wheel,) = dist.glob("mail2dataverse_example_plugin-*.whl")
    target = work / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-index", "--target", str(target), str(wheel)],
        check=True,
        capture_output=True,
    )
    return target


def run_cli(site: Path, *args: str) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAIL2DATAVERSE_")}
    env["PYTHONPATH"] = str(site)
    exe = Path(sys.executable).parent / "mail2dataverse"
    done = subprocess.run([str(exe), *args], env=env, capture_output=True, text=True, check=True)
    return done.stdout


def test_installed_example_is_listed_with_its_distribution(site):
    rows = {r["name"]: r for r in json.loads(run_cli(site, "plugins", "--format", "json"))}
    example = rows["example"]
    assert (example["package"], example["version"], example["builtin"]) == (
        "mail2dataverse-example-plugin",
        "0.1.0",
        False,
    )
    assert example["hooks"] == ["configure", "derive_account", "is_freemail", "register_transforms"]
    assert example["file"].startswith(str(site))
    assert rows["freemail"]["builtin"] is True


def test_installed_example_overrides_the_builtin_in_a_preview(site):
    args = ["preview", "--messages", str(SAMPLES / "messages.json"), "--contacts", str(SAMPLES / "contacts.json"),
            "--format", "json"]
    def account_names(stdout: str) -> set[str]:
        ops = json.loads(stdout)
        return {r["payload"]["name"] for r in ops if r["kind"] == "account" and r["outcome"] == "create"}

    env = {k: v for k, v in os.environ.items() if not k.startswith("MAIL2DATAVERSE_")}
    exe = Path(sys.executable).parent / "mail2dataverse"
    without = subprocess.run([str(exe), *args], env=env, capture_output=True, text=True, check=True).stdout
    assert "Harbor Logistics" in account_names(without)
    # The example says the reserved *.example domains are freemail (its is_freemail runs before
    # the trylast built-in): only the .co.uk company keeps an account.
    assert account_names(run_cli(site, *args)) == {"Bluefin Robotics"}
