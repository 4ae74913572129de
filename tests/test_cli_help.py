"""Every command's --help has a description and examples, and every example runs as written.

The examples (engine/clihelp.py) are run in a folder holding the sample files under the names
they use, against an emulator standing where they expect it; the long-running ``emulator``
command and the ones that need the Nylas CLI are the only ones left out.
"""

from __future__ import annotations

import shlex
import shutil

import pytest

from mail2dataverse.cli import build_parser, main
from mail2dataverse.clihelp import HELP
from mail2dataverse.demo import sample_path, seed_org
from mail2dataverse.emulator import Emulator


def commands() -> list[str]:
    parser = build_parser()
    sub = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
    return sorted(sub.choices)


def test_every_command_has_help_text():
    assert set(commands()) == set(HELP), "a command without help text, or help text without a command"


@pytest.mark.parametrize("command", commands())
def test_help_shows_a_description_and_examples(command, capsys):
    with pytest.raises(SystemExit) as done:
        main([command, "--help"])
    assert done.value.code == 0
    out = capsys.readouterr().out
    description, examples = HELP[command]
    assert description.split()[0] in out and len(description) > 60
    assert "examples:\n" in out
    for example in examples:
        assert f"  {example}" in out
        assert example.startswith(f"mail2dataverse {command}")


def runnable() -> list[tuple[str, str]]:
    return [(command, example) for command, (_d, examples) in sorted(HELP.items()) for example in examples
            if command != "emulator" and "--from-nylas" not in example]


@pytest.mark.parametrize(("command", "example"), runnable())
def test_examples_run_against_the_emulator(command, example, tmp_path, monkeypatch, capsys):
    for name in ("messages.json", "contacts.json", "config.yaml"):
        shutil.copy(sample_path(name), tmp_path / name)
    (tmp_path / "my-mappings").mkdir()
    (tmp_path / "my-mappings" / "contact.yaml").write_text(
        "entity: contact\nextends: default\ncolumns:\n  jobtitle:\n    from: job_title\n    transforms: [strip]\n",
        "utf-8")
    monkeypatch.chdir(tmp_path)
    with Emulator(port=8080) as emu:
        seed_org(emu)
        argv = shlex.split(example)[1:]
        code = main(argv)
    out = capsys.readouterr()
    assert code == 0, f"{example}\n{out.out[-2000:]}\n{out.err[-2000:]}"
