"""Deployment templates: an Azure Functions app and a Power Automate flow (``mail2dataverse scaffold``).

The templates live in ``templates/`` as package data and are copied verbatim: everything
site-specific is an app setting or a flow parameter, so nothing needs filling in and nothing
secret is ever written. A template whose installed name would be skipped or misread as
package code (``.funcignore``, ``function_app.py``) is stored under another name, see
:data:`AZURE_FUNCTION_FILES`.
"""

from __future__ import annotations

import argparse
import sys
from importlib import resources
from pathlib import Path

#: template name in ``templates/azure-function/`` → file name written into the app folder.
AZURE_FUNCTION_FILES = {
    "function_app.py.tmpl": "function_app.py",
    "host.json": "host.json",
    "requirements.txt": "requirements.txt",
    "local.settings.json": "local.settings.json",
    "funcignore": ".funcignore",
    "README.md": "README.md",
}
FLOW_TEMPLATE = "flow.json"

EXIT_OK, EXIT_USAGE = 0, 2


def _template(folder: str, name: str) -> bytes:
    return resources.files("mail2dataverse.scaffold.templates").joinpath(folder).joinpath(name).read_bytes()


def planned_files(target: str, path: str | Path) -> dict[Path, bytes]:
    """What ``scaffold target path`` writes: destination path → content."""
    path = Path(path)
    if target == "azure-function":
        return {path / dest: _template("azure-function", src) for src, dest in AZURE_FUNCTION_FILES.items()}
    if target == "power-automate":
        return {path: _template("power-automate", FLOW_TEMPLATE)}
    raise ValueError(f"unknown scaffold target {target!r}")


def write(target: str, path: str | Path, *, force: bool = False) -> list[Path]:
    """Write the templates of ``target`` (``azure-function`` folder or ``power-automate`` file).

    Nothing is written when any destination exists and ``force`` is false, so a second run
    never leaves a half-updated app behind.

    :raises FileExistsError: a destination exists (and ``force`` is false).
    :raises IsADirectoryError: the power-automate destination is a folder.
    """
    files = planned_files(target, path)
    for dest in files:
        if dest.is_dir():
            raise IsADirectoryError(f"{dest} is a folder; give a file name such as {dest / 'mail2dataverse-flow.json'}")
        if dest.exists() and not force:
            raise FileExistsError(f"{dest} exists; use --force to overwrite")
    for dest, content in files.items():
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_bytes(content)
    return list(files)


def run(args: argparse.Namespace) -> int:
    """``mail2dataverse scaffold {azure-function,power-automate} PATH [--force]``.

    :returns: 0 when written, 2 (with a one-line error on stderr) when a file exists without
        ``--force`` or the path is unusable.
    """
    try:
        written = write(args.target, args.path, force=args.force)
    except (FileExistsError, IsADirectoryError, NotADirectoryError, PermissionError) as exc:
        print(f"mail2dataverse: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    for dest in written:
        print(f"wrote {dest}")
    if args.target == "azure-function":
        print(f"next: fill {Path(args.path) / 'local.settings.json'} to run locally (func start); "
              f"deploying: {Path(args.path) / 'README.md'}")
    else:
        print("next: import it into Power Automate with the function URL and key as parameters "
              "(docs/deploy.md, 'Power Automate')")
    return EXIT_OK


__all__ = ["AZURE_FUNCTION_FILES", "planned_files", "run", "write"]
