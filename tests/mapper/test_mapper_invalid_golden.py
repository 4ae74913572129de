"""Golden error output for invalid mapping files: the WHOLE text is under regression test.

Each ``invalid/<case>.yaml`` has an ``invalid/<case>.err`` holding exactly what
``mail2dataverse validate <case>.yaml`` prints (one ``file:line:col: $.path: message`` per
line). Set ``M2D_UPDATE_GOLDEN=1`` to rewrite the .err files after an intended change, then
review the diff.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from mail2dataverse.mapper import validate_paths

from mapper_fakes import FakePlugins

INVALID = Path(__file__).parent / "invalid"
CASES = sorted(p.stem for p in INVALID.glob("*.yaml"))


def test_every_case_has_a_golden_file():
    assert CASES, "no invalid cases found"
    missing = [c for c in CASES if not (INVALID / f"{c}.err").exists()]
    assert not missing or os.environ.get("M2D_UPDATE_GOLDEN"), f"no .err file for {missing}"


@pytest.mark.parametrize("case", CASES)
def test_invalid_mapping(case, monkeypatch):
    monkeypatch.chdir(INVALID)  # file names in messages are as given: relative, stable
    problems = validate_paths([Path(f"{case}.yaml")], plugins=FakePlugins())
    text = "".join(f"{p}\n" for p in problems)
    golden = INVALID / f"{case}.err"
    if os.environ.get("M2D_UPDATE_GOLDEN"):
        golden.write_text(text, "utf-8")
    assert problems, "an invalid file must produce problems"
    assert text == golden.read_text("utf-8")


def test_shipped_mappings_are_valid():
    shipped = Path(__file__).parents[2] / "mappings"
    assert validate_paths([shipped], plugins=FakePlugins()) == []


def test_a_folder_is_checked_file_by_file(tmp_path):
    (tmp_path / "a.yaml").write_text("entity: contact\nextends: default\ncolumns:\n  x: 'lowr(a)'\n", "utf-8")
    (tmp_path / "b.yml").write_text("entity: email\nextends: default\n", "utf-8")
    (tmp_path / "notes.txt").write_text("not a mapping", "utf-8")
    problems = validate_paths([tmp_path], plugins=FakePlugins())
    assert [str(p) for p in problems] == [
        f"{tmp_path / 'a.yaml'}:4:7: $.columns.x: unknown JMESPath function lowr() (did you mean lower()?)"
    ]


def test_missing_path():
    assert [str(p) for p in validate_paths([Path("/nonexistent/x.yaml")], plugins=FakePlugins())] == [
        "/nonexistent/x.yaml: $: no such file or folder"
    ]


def test_a_second_file_for_an_entity_is_still_checked(tmp_path):
    # The duplicate is an error, but the user also wants that file's own mistakes now.
    (tmp_path / "a.yaml").write_text("entity: contact\nextends: default\n", "utf-8")
    (tmp_path / "b.yaml").write_text("entity: contact\nextends: default\ncolumns:\n  x: 'lowr(a)'\n", "utf-8")
    problems = validate_paths([tmp_path], plugins=FakePlugins())
    assert [str(p) for p in problems] == [
        f"{tmp_path / 'b.yaml'}:1:9: $.entity: {tmp_path / 'a.yaml'} already maps entity 'contact'; one file per entity per folder",
        f"{tmp_path / 'b.yaml'}:4:7: $.columns.x: unknown JMESPath function lowr() (did you mean lower()?)",
    ]


def test_problems_come_in_the_order_files_were_named(tmp_path):
    # Compiler problems are found after every file is read; they must not sort after the
    # reading problems of files named later.
    (tmp_path / "a.yaml").write_text("entity: account\nextends: default\ncolumns:\n  x: 'nope(a)'\n", "utf-8")
    (tmp_path / "b.yaml").write_text("entity: contact\ncolums: {}\n", "utf-8")
    paths = [tmp_path / "a.yaml", tmp_path / "b.yaml", tmp_path / "missing.yaml"]
    files = [p.location.file for p in validate_paths(paths, plugins=FakePlugins())]
    assert list(dict.fromkeys(files)) == [str(p) for p in paths]
