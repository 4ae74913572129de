"""The files an emulated org is started from: ``--state``, ``--seed`` and ``--schema-extend``.

* ``--state FILE`` is the emulator's own store (rows and declared keys), loaded on start and
  written on exit. A file that is not one (an ``org.json`` a user passed by mistake) is refused
  rather than replaced by an empty store on exit.
* ``--seed FILE`` is an org's records in the demo's ``org.json`` shape
  (``{"account": [{...}], "opportunity": [{...}], ...}``; a ``description`` string is allowed).
  It is read once and never written.
* ``--schema-extend FILE`` adds custom columns and tables (:mod:`.extend`).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from . import errors
from .catalog import overrides, schema_data
from .extend import load_extension
from .schema import Table

#: Seed tables in the order their rows can refer to each other (users and accounts first).
_SEED_ORDER = ("systemuser", "queue", "account", "contact", "lead", "opportunity", "incident")


def _read_json(path: Path, what: str) -> Any:
    try:
        return json.loads(path.read_text("utf-8"))
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}:{exc.lineno}:{exc.colno}: {what} is not valid JSON: {exc.msg}") from None


def load_state_file(path: Path) -> dict:
    """A ``--state`` file's data; refuses anything :func:`.state.dump` did not write."""
    data = _read_json(path, "the state file")
    if not isinstance(data, dict) or data.get("version") != 1 or not isinstance(data.get("rows"), dict):
        raise ValueError(f"{path} is not an emulator state file (it has no \"version\": 1 and \"rows\"); it is left "
                         "as it is. To start from an org's records in the org.json shape, use --seed FILE")
    return data


def load_seed_file(path: Path, tables: dict[str, Table]) -> list[tuple[str, dict]]:
    """``(table, row)`` pairs of a ``--seed`` file, in an order where lookups resolve."""
    data = _read_json(path, "the seed file")
    if not isinstance(data, dict):
        raise ValueError(f"{path}: a seed file is an object of table name -> list of rows")
    for table, rows in data.items():
        if table == "description":
            continue
        if table not in tables:
            raise ValueError(f"{path}: table '{table}' is not in this org (org tables: {', '.join(sorted(tables))})")
        if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
            raise ValueError(f"{path}: '{table}' must be a list of row objects")
    order = [t for t in _SEED_ORDER if t in data] + sorted(t for t in data if t not in _SEED_ORDER
                                                          and t != "description")
    return [(table, row) for table in order for row in data[table]]


def seed_org(store: Any, path: Path) -> None:
    """Seed ``store`` (a :class:`~.store.Store`) from a ``--seed`` file; errors name file, table and row."""
    counts: dict[str, int] = {}
    for table, row in load_seed_file(path, store.tables):
        n = counts[table] = counts.get(table, 0) + 1
        try:
            store.seed(table, row)
        except (errors.ODataError, ValueError) as exc:
            raise ValueError(f"{path}: {table} row {n}: {getattr(exc, 'message', exc)}") from None


def read_extension(path: str | os.PathLike | None) -> dict | None:
    """The parsed ``--schema-extend`` file, or None without one."""
    if path is None:
        return None
    p = Path(path)
    known = {**schema_data()["tables"], **overrides()["tables_without_page"]}
    return load_extension(p.read_text("utf-8"), str(p), known)
