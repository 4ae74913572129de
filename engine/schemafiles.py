"""``mail2dataverse schema``: the JSON Schemas, where editors can find them.

An editor that knows a file's schema completes its keys, shows each key's description and
flags a wrong value as it is typed (VS Code's YAML extension and JetBrains IDEs read a
``# yaml-language-server: $schema=...`` first line, or a file-pattern setting). The shipped
schemas live in the installed package, under a path that changes with every virtual
environment; ``schema`` prints that path, and ``schema --write DIR`` copies both schemas beside
the user's mappings, where a relative ``$schema`` line keeps working.

The copy of the mapping schema names every transform the run can use (built-ins and the
installed plugins' transforms, after ``plugins.disable``) as completable choices. The shipped
file leaves transform names open on purpose: the loader checks names against the registry
the run really has, with a "did you mean" hint, which a static enum could not do.
"""

from __future__ import annotations

import argparse
import copy
import json
from importlib import resources
from pathlib import Path
from typing import Any

__all__ = ["SCHEMAS", "mapping_schema_with_transforms", "run", "schema_path", "write_schemas"]

#: the schemas a user's files follow: mapping files, and the run configuration
SCHEMAS = ("mapping.schema.json", "config.schema.json")


def schema_path(name: str) -> Path:
    """Where the installed package keeps schema ``name`` (a real file in wheels and checkouts)."""
    return Path(str(resources.files("mail2dataverse.schemas").joinpath(name)))


def mapping_schema_with_transforms(names: list[str]) -> dict[str, Any]:
    """The mapping schema with ``names`` as the choices of a transform, bare or with arguments.

    Only completion changes: a bare name (``strip``) must be one of ``names``, and a one-key
    mapping (``{truncate: 100}``) must have one of them as its key.
    """
    schema = copy.deepcopy(json.loads(schema_path("mapping.schema.json").read_text("utf-8")))
    transform = schema["$defs"]["transform"]
    for branch in transform["anyOf"]:
        if branch.get("type") == "string":
            branch["enum"] = sorted(names)
        elif branch.get("type") == "object":
            branch["propertyNames"] = {"enum": sorted(names)}
    transform["description"] += " Names listed here: the transforms installed when this copy was written."
    return schema


def write_schemas(folder: Path, transform_names: list[str]) -> list[Path]:
    """Write ``mapping.schema.json`` (with ``transform_names``) and ``config.schema.json`` into
    ``folder`` (created when missing); returns the paths written."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name in SCHEMAS:
        data = (mapping_schema_with_transforms(transform_names) if name == "mapping.schema.json"
                else json.loads(schema_path(name).read_text("utf-8")))
        target = folder / name
        target.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", "utf-8")
        written.append(target)
    return written


def _transform_names(config_path: str | None) -> list[str]:
    from .config import load_config
    from .mapper.transforms import transform_registry
    from .pluginmanager import Plugins, make_plugin_manager

    config = load_config(config_path)
    plugins = Plugins(make_plugin_manager(disable=config.plugins_disable), config)
    return sorted(transform_registry(plugins))


def run(args: argparse.Namespace) -> int:
    """Print where the schemas are, or write copies with ``--write DIR``; returns 0."""
    if args.write:
        folder = Path(args.write)
        names = _transform_names(args.config)
        paths = write_schemas(folder, names)
        for path in paths:
            print(f"wrote {path}")
        print(f"\n{len(names)} transform names are completable choices in {paths[0].name}.")
        print("Put this first line in each mapping file in that folder:")
        print("  # yaml-language-server: $schema=./mapping.schema.json")
        print("and in your run configuration (a path relative to the configuration file):")
        print(f"  # yaml-language-server: $schema={paths[1].as_posix()}")
        return 0
    for name in SCHEMAS:
        print(f"{name.split('.')[0]:<8} {schema_path(name)}")
    print("\nAn editor completes keys when a file's first line names its schema, e.g.")
    print(f"  # yaml-language-server: $schema={schema_path('mapping.schema.json').as_uri()}")
    print("`mail2dataverse schema --write DIR` copies both beside your mappings, transform names included.")
    return 0

