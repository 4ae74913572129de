"""--mappings folders: replace, extend (merge by name, null removes), several folders, errors."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from mail2dataverse.errors import MappingError
from mail2dataverse.mapper import load_mappings
from mail2dataverse.model import MappedContact, MappedEmail, RecordRef, Skip

REF = RecordRef("x.json", 0)


def write(folder: Path, name: str, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(textwrap.dedent(text), "utf-8")
    return path


def test_extend_adds_replaces_and_removes_columns(tmp_path, plugins, contacts):
    write(
        tmp_path,
        "contact.yaml",
        """\
        entity: contact
        extends: default
        columns:
          nickname: {from: nickname, transforms: [{truncate: 100}]}
          jobtitle: {from: job_title, transforms: [upper]}
          middlename: null
          telephone2: null
        """,
    )
    out = load_mappings([tmp_path], plugins=plugins).map_contact(contacts[0], REF)
    assert isinstance(out, MappedContact)
    assert out.columns["nickname"] == "Shiv"
    assert out.columns["jobtitle"] == "HEAD OF PROCUREMENT"
    assert "middlename" not in out.columns and "telephone2" not in out.columns
    assert out.columns["lastname"] == "O'Brien"  # untouched defaults stay
    assert out.account is not None  # the inherited bind column still binds


def test_extend_keeps_column_order_of_the_default(tmp_path, plugins, contacts):
    write(tmp_path, "contact.yaml", "entity: contact\nextends: default\ncolumns:\n  firstname: {value: X}\n")
    out = load_mappings([tmp_path], plugins=plugins).map_contact(contacts[0], REF)
    assert list(out.columns)[:2] == ["firstname", "middlename"]
    assert out.columns["firstname"] == "X"


def test_extend_replaces_lists_and_adds_skip_rules(tmp_path, plugins, messages):
    write(
        tmp_path,
        "email.yaml",
        """\
        entity: email
        extends: default
        skip_record_when:
          - when: "contains(folders || `[]`, 'SENT')"
            reason: sent mail is not imported
        parties:
          - {from: from, role: from}
        regarding: false
        """,
    )
    ms = load_mappings([tmp_path], plugins=plugins)
    assert ms.map_message(messages[1], REF) == Skip(REF, "sent mail is not imported")
    out = ms.map_message(messages[0], REF)
    assert [p.mask for p in out.parties] == [1]
    assert out.regarding is None
    assert out.columns["subject"].startswith("Re: Q3")


def test_extend_overrides_a_let_value_used_by_columns(tmp_path, plugins, messages):
    write(
        tmp_path,
        "email.yaml",
        """\
        entity: email
        extends: default
        let:
          identity:
            from: "join('', ['<', id, '@example.invalid>'])"
        """,
    )
    out = load_mappings([tmp_path], plugins=plugins).map_message(messages[0], REF)
    assert out.identity == "<18f3a9c2b7d41e05@example.invalid>" == out.columns["messageid"]


def test_file_without_extends_replaces_the_default(tmp_path, plugins, contacts):
    write(
        tmp_path,
        "people.yaml",  # any file name: `entity` says what it maps
        """\
        entity: contact
        let:
          emails: {from: "emails[].email", transforms: [lower]}
        columns:
          lastname: {from: surname}
        """,
    )
    out = load_mappings([tmp_path], plugins=plugins).map_contact(contacts[0], REF)
    assert out.columns == {"lastname": "O'Brien"}
    assert out.account is None and out.account_nav is None


def test_later_folders_apply_over_earlier_ones(tmp_path, plugins, contacts):
    a, b = tmp_path / "a", tmp_path / "b"
    write(a, "contact.yaml", "entity: contact\nextends: default\ncolumns:\n  jobtitle: {value: A}\n")
    write(b, "contact.yaml", "entity: contact\nextends: default\ncolumns:\n  firstname: {value: B}\n")
    out = load_mappings([a, b], plugins=plugins).map_contact(contacts[0], REF)
    assert (out.columns["jobtitle"], out.columns["firstname"]) == ("A", "B")


def test_a_single_file_can_be_given(tmp_path, plugins, contacts):
    path = write(tmp_path, "mine.yaml", "entity: contact\nextends: default\ncolumns:\n  jobtitle: null\n")
    out = load_mappings([path], plugins=plugins).map_contact(contacts[0], REF)
    assert "jobtitle" not in out.columns


def test_extending_file_without_required_let_still_valid(tmp_path, plugins, messages):
    write(tmp_path, "email.yaml", "entity: email\nextends: default\ncolumns:\n  description: {from: snippet}\n")
    out = load_mappings([tmp_path], plugins=plugins).map_message(messages[0], REF)
    assert isinstance(out, MappedEmail) and out.columns["description"] == messages[0]["snippet"]


def test_removing_a_required_let_is_reported(tmp_path, plugins):
    path = write(tmp_path, "email.yaml", "entity: email\nextends: default\nlet:\n  identity: null\n")
    with pytest.raises(MappingError) as err:
        load_mappings([tmp_path], plugins=plugins)
    lines = (Path(__file__).parents[2] / "mappings" / "email.yaml").read_text("utf-8").splitlines()
    use_line = lines.index("  messageid:") + 2  # `use: identity` on the next line
    assert str(err.value) == (
        f"{path}:3:1: $.let: an email mapping needs let value 'identity': the email's identity (Message-ID), "
        "written to messageid and looked up before creating\n"
        f"mappings/email.yaml:{use_line}:10: $.columns.messageid.use: unknown let value 'identity' "
        "(let values: outgoing, date, date_utc, mailbox, in_reply_to, references, thread, attachments)"
    )


def test_every_problem_of_every_file_in_one_error(tmp_path, plugins):
    c = write(tmp_path, "contact.yaml", "entity: contact\nextends: default\ncolumns:\n  firstname: {from: 'lowr(given_name)'}\n")
    e = write(tmp_path, "email.yaml", "entity: email\nextends: default\ncolumns:\n  subject: {from: subject, transforms: [titlecase]}\n")
    with pytest.raises(MappingError) as err:
        load_mappings([tmp_path], plugins=plugins)
    assert [str(p) for p in err.value.problems] == [
        f"{c}:4:22: $.columns.firstname.from: unknown JMESPath function lowr() (did you mean lower()?)",
        f"{e}:4:41: $.columns.subject.transforms[0]: unknown transform 'titlecase'",
    ]


def test_two_files_for_one_entity_in_a_folder(tmp_path, plugins):
    write(tmp_path, "a.yaml", "entity: account\nextends: default\n")
    b = write(tmp_path, "b.yaml", "entity: account\nextends: default\n")
    with pytest.raises(MappingError) as err:
        load_mappings([tmp_path], plugins=plugins)
    assert str(err.value) == f"{b}:1:9: $.entity: {tmp_path / 'a.yaml'} already maps entity 'account'; one file per entity per folder"


def test_missing_folder(tmp_path, plugins):
    with pytest.raises(MappingError, match="mapping folder does not exist"):
        load_mappings([tmp_path / "nope"], plugins=plugins)


def test_plugin_transforms_and_functions_usable_in_mappings(tmp_path, contacts):
    from mail2dataverse.config import RunConfig

    from mapper_fakes import FakePlugins

    plugins = FakePlugins(
        RunConfig(),
        extra_transforms={"initials": lambda v: None if v is None else "".join(w[0] for w in v.split())},
        extra_functions={"shout": (lambda s: None if s is None else s.upper() + "!", [["string", "null"]])},
    )
    write(
        tmp_path,
        "contact.yaml",
        "entity: contact\nextends: default\ncolumns:\n  nickname: {from: 'shout(nickname)'}\n  salutation: {from: company_name, transforms: [initials]}\n",
    )
    out = load_mappings([tmp_path], plugins=plugins).map_contact(contacts[0], REF)
    assert out.columns["nickname"] == "SHIV!"
    assert out.columns["salutation"] == "HL"
