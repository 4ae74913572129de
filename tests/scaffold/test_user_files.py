"""The app carries the user's mappings, configuration and wheels; the flow gets a README."""

from __future__ import annotations

import argparse
import json
import zipfile
from pathlib import Path

import pytest

from mail2dataverse import hosting, scaffold
from mail2dataverse.demo import sample_path

MAPPING = "entity: contact\nextends: default\ncolumns:\n  jobtitle: {from: job_title, transforms: [upper]}\n"


def _wheel(path: Path, name: str) -> Path:
    with zipfile.ZipFile(path / name, "w") as zf:
        zf.writestr("placeholder.txt", "a wheel for the test")
    return path / name


def args(target: str, path: Path, **extra) -> argparse.Namespace:
    return argparse.Namespace(target=target, path=str(path), force=False, mappings=None, config=None, wheel=[], **extra)


def test_app_carries_mappings_config_and_wheels(tmp_path):
    mine = tmp_path / "my-mappings"
    mine.mkdir()
    (mine / "contact.yaml").write_text(MAPPING, "utf-8")
    tool = _wheel(tmp_path, "mail2dataverse-0.1.0-py3-none-any.whl")
    plugin = _wheel(tmp_path, "m2d_po-1.0-py3-none-any.whl")
    app = tmp_path / "app"
    a = args("azure-function", app)
    a.mappings, a.config, a.wheel = str(mine), str(sample_path("config.yaml")), [str(tool), str(plugin)]
    assert scaffold.run(a) == 0
    assert (app / "m2d/mappings/contact.yaml").read_text("utf-8") == MAPPING
    assert (app / "m2d/config.yaml").read_bytes() == sample_path("config.yaml").read_bytes()
    requirements = (app / "requirements.txt").read_text("utf-8").splitlines()
    assert "./wheels/mail2dataverse-0.1.0-py3-none-any.whl" in requirements
    assert "./wheels/m2d_po-1.0-py3-none-any.whl" in requirements
    assert not any(r.startswith("mail2dataverse>=") for r in requirements)  # the wheel replaces the index line
    assert (app / "wheels" / tool.name).read_bytes() == tool.read_bytes()
    values = json.loads((app / "local.settings.json").read_text("utf-8"))["Values"]
    assert values["MAIL2DATAVERSE_MAPPINGS"] == "m2d/mappings" and values["MAIL2DATAVERSE_CONFIG"] == "m2d/config.yaml"


def test_hosted_runs_use_the_mappings_setting(tmp_path, monkeypatch):
    mine = tmp_path / "m2d" / "mappings"
    mine.mkdir(parents=True)
    (mine / "contact.yaml").write_text(MAPPING, "utf-8")
    monkeypatch.chdir(tmp_path)  # the function app's folder
    assert hosting.mapping_dirs({"MAIL2DATAVERSE_MAPPINGS": "m2d/mappings, more"}) == ["m2d/mappings", "more"]
    assert hosting.mapping_dirs({}) == []
    seen = {}

    def fake_sync(inputs, config, **kwargs):
        seen.update(kwargs)
        from mail2dataverse.report import Report
        return Report()

    monkeypatch.setattr(hosting, "sync", fake_sync)
    env = {"DATAVERSE_URL": "http://127.0.0.1:9", "MAIL2DATAVERSE_AUTH": "none", "MAIL2DATAVERSE_MAPPINGS": "m2d/mappings",
           "MAIL2DATAVERSE_MAILBOXES": json.dumps([{"name": "s", "messages": str(sample_path("messages.json"))}])}
    hosting.sync_mailboxes(hosting.mailboxes_from_settings(env), env)
    assert seen["mappings_dirs"] == ["m2d/mappings"]


def test_bad_user_files_are_a_usage_error(tmp_path, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    a = args("azure-function", tmp_path / "app")
    a.mappings = str(empty)
    assert scaffold.run(a) == 2
    assert "holds no mapping files" in capsys.readouterr().err
    a = args("azure-function", tmp_path / "app2")
    a.wheel = [str(sample_path("config.yaml"))]
    assert scaffold.run(a) == 2
    assert not (tmp_path / "app2").exists()  # nothing half-written


def test_power_automate_writes_a_readme_beside_the_flow(tmp_path):
    assert scaffold.run(args("power-automate", tmp_path / "flow" / "m2d-flow.json")) == 0
    readme = (tmp_path / "flow" / "README.md").read_text("utf-8")
    assert "FunctionUrl" in readme and "FunctionKey" in readme and "NotifyTo" in readme
    assert json.loads((tmp_path / "flow" / "m2d-flow.json").read_text("utf-8"))


def test_app_readme_documents_nylas_and_the_user_folder():
    text = scaffold.planned_files("azure-function", "app")[Path("app/README.md")].decode("utf-8")
    for needed in ("NYLAS_API_KEY", "custom container", "MAIL2DATAVERSE_MAPPINGS", "--wheel", "m2d/mappings"):
        assert needed in text, needed


def test_user_files_only_for_the_function_app(tmp_path):
    with pytest.raises(ValueError):
        scaffold.planned_files("power-automate", tmp_path / "f.json", config="x.yaml")
