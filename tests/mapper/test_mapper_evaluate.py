"""The generated evaluators (mapper/evaluate.py): the mapping's text is data, never code, and
every kind of entry keeps the semantics of the loop it replaced."""

from __future__ import annotations

import textwrap
from pathlib import Path

from mail2dataverse.mapper import load_mappings
from mail2dataverse.model import MappedEmail, RecordRef, Skip

REF = RecordRef("x.json", 0)


def _email_mapping(folder: Path, body: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "email.yaml").write_text("entity: email\nextends: default\n" + textwrap.dedent(body), "utf-8")
    return folder


def test_reasons_and_names_that_look_like_code_stay_text(tmp_path, plugins, messages):
    # Quotes, braces and newlines of the mapping are bound as values, never pasted into the source.
    folder = _email_mapping(tmp_path, """\
        let:
          odd:
            from: "contains(subject, 'zzz-never') && subject || null"
            skip_record_if_empty: "it's {notes[0]} \\"odd\\"\\n'); raise SystemExit('"
        """)
    out = load_mappings([folder], plugins=plugins).map_message(messages[0], REF)
    assert out == Skip(REF, "it's {notes[0]} \"odd\"\n'); raise SystemExit('")  # Skip folds it to one line


def test_when_guard_use_constant_and_skip_rules(tmp_path, plugins, messages):
    folder = _email_mapping(tmp_path, """\
        let:
          loud: {from: subject, transforms: [upper]}
        columns:
          category: {value: "CRM", when: "contains(subject, 'Q3')"}
          title: {use: loud, transforms: [{truncate: 5}]}
          never: {value: "x", when: "subject == 'no such subject'"}
        skip_record_when:
          - {when: "subject == 'skip me'", reason: "told to"}
        """)
    mappings = load_mappings([folder], plugins=plugins)
    message = dict(messages[0], subject="Q3 pricing")
    out = mappings.map_message(message, REF)
    assert isinstance(out, MappedEmail)
    assert out.columns["category"] == "CRM" and out.columns["title"] == "Q3 PR" and "never" not in out.columns
    assert mappings.map_message(dict(message, subject="skip me"), REF) == Skip(REF, "told to")
    no_q3 = mappings.map_message(dict(message, subject="pricing"), REF)
    assert "category" not in no_q3.columns  # a false guard leaves the column out


def test_a_failure_names_the_entry_that_raised(tmp_path, plugins, messages):
    folder = _email_mapping(tmp_path, "columns:\n  subject: {from: subject, transforms: [upper]}\n")
    out = load_mappings([folder], plugins=plugins).map_message(dict(messages[0], subject=5), REF)
    assert isinstance(out, Skip)
    assert out.reason.startswith("$.columns.subject") and "upper expects a string, got number 5" in out.reason
    assert "email.yaml:4:" in out.reason  # the subject entry, below entity, extends, columns


def test_generated_source_holds_names_only(mappings):
    source = "\n".join(mappings._evaluate_email.source_lines)
    assert "subject" not in source and "Message-ID" not in source  # fields and literals are bound names
    assert "record.get(" in source  # top-level fields are read directly
