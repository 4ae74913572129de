"""What ``mail2dataverse COMMAND --help`` says beyond the options: a description and examples.

Kept apart from :mod:`mail2dataverse.cli` so the parser stays a list of options and every
command's text can be read (and tested: tests/test_cli_help.py) in one place. Every example
runs as written against the emulator of the first ``emulator`` example (``mail2dataverse
emulator --port 8080``) in a folder holding the sample files (``messages.json``,
``contacts.json``, ``config.yaml``) and a ``my-mappings/`` folder; tests/test_cli_help.py runs
them so.
"""

from __future__ import annotations

import textwrap

__all__ = ["HELP", "help_for"]

_EMU = "http://127.0.0.1:8080"
_SAMPLE = "--messages messages.json --contacts contacts.json --config config.yaml"

#: command → (description, examples). ``--help`` prints the description above the options and
#: the examples below them.
HELP: dict[str, tuple[str, tuple[str, ...]]] = {
    "validate": (
        "Check mapping files (and a run configuration) against their schemas, the transforms "
        "and JMESPath functions the installed plugins provide, and the engine's rules. Every "
        "problem is printed as file:line:col with what to change; exit 2 when there is one.",
        ("mail2dataverse validate my-mappings/",
         "mail2dataverse validate my-mappings/contact.yaml --config config.yaml"),
    ),
    "preview": (
        "Print the Web API operations a sync would send to an org that holds none of these "
        "records: no network, no credentials. Use it to review a mapping change.",
        (f"mail2dataverse preview {_SAMPLE} --format table",
         f"mail2dataverse preview {_SAMPLE} --mappings my-mappings/ --summary"),
    ),
    "sync": (
        "Write contacts, accounts and emails to a Dataverse org: accounts and contacts first, "
        "then one change set per email with its parties and regarding link. A re-run with the "
        "same state file sends no writes for what is already there.",
        (f"mail2dataverse sync {_SAMPLE} --url {_EMU} --auth none --report report.json",
         f"mail2dataverse sync --from-nylas --limit 200 --url {_EMU} --auth none"),
    ),
    "doctor": (
        "Check everything a sync needs, each check passed or failed with how to fix it. "
        "Exit 0 when all pass, 1 when one fails, 2 for usage errors.",
        (f"mail2dataverse doctor --url {_EMU} --auth none --config config.yaml",
         f"mail2dataverse doctor --url {_EMU} --auth none --mappings my-mappings/ --format json"),
    ),
    "emulator": (
        "Run the local model of the Dataverse Web API (tables, rules, $batch, limits) on "
        "127.0.0.1, for trying mappings and plugins without an org. Stop it with Ctrl-C.",
        ("mail2dataverse emulator --port 8080",
         "mail2dataverse emulator --port 8080 --state org.json --latency-ms 20"),
    ),
    "plugins": (
        "List the plugins a run would load (built-in and installed), their versions and the "
        "hooks each implements, after the configuration's plugins.disable.",
        ("mail2dataverse plugins",
         "mail2dataverse plugins --hook regarding_target --format json"),
    ),
    "demo": (
        "Sync the bundled sample mailbox into an embedded emulator, show what landed, then "
        "run again to show that a re-run writes nothing.",
        ("mail2dataverse demo",
         "mail2dataverse demo --format json"),
    ),
    "scaffold": (
        "Write a deployment template: an Azure Functions app that runs sync on a timer, or a "
        "Power Automate flow (with a README beside it) that calls that function.",
        ("mail2dataverse scaffold azure-function ./m2d-func --mappings my-mappings/ --config config.yaml",
         "mail2dataverse scaffold power-automate ./flow/flow.json"),
    ),
    "schema": (
        "Say where the JSON Schemas of mapping files and of the run configuration are, so an "
        "editor (VS Code with the YAML extension, JetBrains) completes keys and checks values. "
        "--write DIR copies them beside your mappings, with the names of the transforms the "
        "installed plugins provide as completable choices.",
        ("mail2dataverse schema",
         "mail2dataverse schema --write my-mappings/ --config config.yaml"),
    ),
}


def help_for(command: str) -> dict[str, str]:
    """``description`` and ``epilog`` keyword arguments for ``add_parser(command, ...)``."""
    description, examples = HELP[command]
    lines = "\n".join(f"  {e}" for e in examples)
    # The parser keeps this text as written (examples must not be re-wrapped), so it is
    # wrapped here.
    return {"description": textwrap.fill(description, 88), "epilog": f"examples:\n{lines}"}
