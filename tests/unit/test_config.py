"""Run configuration: defaults, the shipped sample, and every problem reported at once."""

from pathlib import Path

import pytest

from mail2dataverse.config import RunConfig, load_config
from mail2dataverse.errors import ConfigError, MappingError

GOLDEN = Path(__file__).parent / "golden"


def test_no_file_gives_defaults():
    assert load_config(None) == RunConfig()


def test_sample_config_loads(tmp_path):
    cfg_file = tmp_path / "c.yaml"
    cfg_file.write_text(
        "profile: service\nowner_addresses: [' Dana@Acme-Widgets.example ']\n"
        "freemail: {extra: [ISP.example], exclude: [partner.example]}\n"
        "opportunity_domains: {Northwind.example: Q3}\nplugins: {disable: [freemail]}\n",
        encoding="utf-8",
    )
    cfg = load_config(cfg_file)
    assert cfg.profile == "service"
    assert cfg.owner_addresses == ("dana@acme-widgets.example",)
    assert cfg.freemail_extra == ("isp.example",)
    assert cfg.freemail_exclude == ("partner.example",)
    assert cfg.opportunity_domains == {"northwind.example": "Q3"}
    assert cfg.plugins_disable == ("freemail",)


def test_every_problem_is_reported_with_its_line_and_column():
    path = GOLDEN / "bad_config.yaml"
    with pytest.raises(MappingError) as info:
        load_config(path)
    expected = (GOLDEN / "bad_config.err").read_text(encoding="utf-8").replace("{path}", str(path))
    assert str(info.value) + "\n" == expected


def test_invalid_regular_expression_is_located(tmp_path):
    cfg_file = tmp_path / "c.yaml"
    cfg_file.write_text("profile: service\ncase_number_pattern: 'CAS-(\\d'\n", encoding="utf-8")
    with pytest.raises(MappingError) as info:
        load_config(cfg_file)
    assert str(info.value).startswith(f"{cfg_file}:2:22: $.case_number_pattern: invalid regular expression: ")


def test_unreadable_file_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="cannot read configuration"):
        load_config(tmp_path / "missing.yaml")
