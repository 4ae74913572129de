"""After compilation, mapping a record parses nothing: no YAML, no schema, no JMESPath."""

from __future__ import annotations

import jmespath
import jmespath.parser
import jsonschema
import pytest
import yaml

import mail2dataverse.yamlio
from mail2dataverse.mapper import load_mappings
from mail2dataverse.model import DerivedAccount, MappedContact, MappedEmail, RecordRef


def _forbidden(*args, **kwargs):
    raise AssertionError("parsing after compilation")


def test_map_does_no_parsing(monkeypatch, plugins, messages, contacts, headers):
    mappings = load_mappings(plugins=plugins)

    for module, names in (
        (yaml, ["compose", "load", "safe_load", "SafeLoader", "CSafeLoader"]),
        (mail2dataverse.yamlio, ["load_yaml", "schema_problems", "_Loader"]),
        (jmespath, ["compile", "search"]),
        (jmespath.parser.Parser, ["parse", "_do_parse"]),
        (jsonschema, ["validate", "Draft202012Validator"]),
        (jsonschema.Draft202012Validator, ["iter_errors", "validate", "is_valid"]),
    ):
        for name in names:
            if hasattr(module, name):
                monkeypatch.setattr(module, name, _forbidden)

    records = [*messages, dict(messages[0], headers=headers), dict(messages[0], date=1741097109)]
    for i, m in enumerate(records):
        assert isinstance(mappings.map_message(m, RecordRef("m", i)), MappedEmail)
    for i, c in enumerate(contacts[:2]):
        assert isinstance(mappings.map_contact(c, RecordRef("c", i)), MappedContact)
    mappings.map_contact(contacts[2], RecordRef("c", 2))  # a Skip, still no parsing
    mappings.map_message({"id": 5, "to": 5}, RecordRef("m", 9))  # failure path too
    mappings.map_account(DerivedAccount("acme.example", {"name": "Acme"}))


def test_compiled_objects_are_frozen(mappings):
    import dataclasses

    column = mappings.email.columns[0]
    with pytest.raises(dataclasses.FrozenInstanceError):
        column.name = "x"  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        mappings.email.regarding = False  # type: ignore[misc]
    assert isinstance(mappings.email.columns, tuple) and isinstance(mappings.email.lets, tuple)
