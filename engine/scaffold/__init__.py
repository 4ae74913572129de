"""Deployment templates: an Azure Functions app and a Power Automate flow (``mail2dataverse scaffold``).

The templates live in ``templates/`` as package data and are copied verbatim: everything
site-specific is an app setting or a flow parameter, so nothing needs filling in and nothing
secret is ever written. A template whose installed name would be skipped or misread as
package code (``.funcignore``, ``function_app.py``) is stored under another name, see
:data:`AZURE_FUNCTION_FILES`.
"""

from __future__ import annotations

import argparse
import json
import sys
from importlib import resources
from pathlib import Path
from typing import Any

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
#: written beside the flow: what it does and how to import it
FLOW_README = "README.md"
#: where the user's own files go inside the app folder (the settings name these paths)
USER_MAPPINGS, USER_CONFIG, WHEELS = "m2d/mappings", "m2d/config.yaml", "wheels"

EXIT_OK, EXIT_USAGE = 0, 2


def _template(folder: str, name: str) -> bytes:
    return resources.files("mail2dataverse.scaffold.templates").joinpath(folder).joinpath(name).read_bytes()


def planned_files(target: str, path: str | Path, *, mappings: str | Path | None = None,
                  config: str | Path | None = None, wheels: tuple[str | Path, ...] = ()) -> dict[Path, bytes]:
    """What ``scaffold target path`` writes: destination path → content.

    For ``azure-function``, the user's own files travel with the app: ``mappings`` (a folder of
    mapping files) to ``m2d/mappings/``, ``config`` to ``m2d/config.yaml``, and ``wheels``
    (this tool's wheel, plugin packages' wheels) to ``wheels/``, each named in
    ``requirements.txt``; ``local.settings.json`` then names the copies
    (``MAIL2DATAVERSE_MAPPINGS``, ``MAIL2DATAVERSE_CONFIG``). A wheel of mail2dataverse itself
    replaces the package-index line, so the app installs exactly that build.
    """
    path = Path(path)
    if target == "power-automate":
        if mappings or config or wheels:
            raise ValueError("--mappings, --config and --wheel go with azure-function")
        return {path: _template("power-automate", FLOW_TEMPLATE),
                path.parent / FLOW_README: _template("power-automate", FLOW_README)}
    if target != "azure-function":
        raise ValueError(f"unknown scaffold target {target!r}")
    files = {path / dest: _template("azure-function", src) for src, dest in AZURE_FUNCTION_FILES.items()}
    settings = json.loads(files[path / "local.settings.json"])
    requirements = files[path / "requirements.txt"].decode("utf-8").splitlines()
    if mappings:
        folder = Path(mappings)
        yamls = sorted(f for f in folder.iterdir() if f.suffix in (".yaml", ".yml") and f.is_file())
        if not yamls:
            raise FileNotFoundError(f"{folder} holds no mapping files (*.yaml)")
        for f in yamls:
            files[path / USER_MAPPINGS / f.name] = f.read_bytes()
        settings["Values"]["MAIL2DATAVERSE_MAPPINGS"] = USER_MAPPINGS
    if config:
        files[path / USER_CONFIG] = Path(config).read_bytes()
        settings["Values"]["MAIL2DATAVERSE_CONFIG"] = USER_CONFIG
    for wheel in map(Path, wheels):
        if wheel.suffix != ".whl":
            raise ValueError(f"{wheel} is not a wheel (.whl); build one with `python -m build --wheel`")
        files[path / WHEELS / wheel.name] = wheel.read_bytes()
        line = f"./{WHEELS}/{wheel.name}"
        if wheel.name.lower().startswith("mail2dataverse-"):
            requirements = [line if r.strip().startswith("mail2dataverse") else r for r in requirements]
        else:
            requirements.append(line)
    files[path / "requirements.txt"] = ("\n".join(requirements) + "\n").encode("utf-8")
    files[path / "local.settings.json"] = (json.dumps(settings, indent=2) + "\n").encode("utf-8")
    return files


def write(target: str, path: str | Path, *, force: bool = False, **user_files: Any) -> list[Path]:
    """Write the templates of ``target`` (``azure-function`` folder or ``power-automate`` file).

    Nothing is written when any destination exists and ``force`` is false, so a second run
    never leaves a half-updated app behind.

    :raises FileExistsError: a destination exists (and ``force`` is false).
    :raises IsADirectoryError: the power-automate destination is a folder.
    """
    files = planned_files(target, path, **user_files)
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
        written = write(args.target, args.path, force=args.force, mappings=getattr(args, "mappings", None),
                        config=getattr(args, "config", None), wheels=tuple(getattr(args, "wheel", None) or ()))
    except (OSError, ValueError) as exc:
        print(f"mail2dataverse: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    for dest in written:
        print(f"wrote {dest}")
    if args.target == "azure-function":
        print(f"next: fill {Path(args.path) / 'local.settings.json'} to run locally (func start); "
              f"deploying: {Path(args.path) / 'README.md'}")
    else:
        print(f"next: import it into Power Automate with the function URL and key as parameters "
              f"({Path(args.path).parent / FLOW_README})")
    return EXIT_OK


__all__ = ["AZURE_FUNCTION_FILES", "planned_files", "run", "write"]
