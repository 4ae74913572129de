"""Find, read, validate, merge and compile mapping files.

Layers, in order: the shipped defaults (package data ``mail2dataverse.mappings``), then each
``--mappings`` folder. In a folder every ``*.yaml`` / ``*.yml`` file is a mapping file and its
``entity:`` says which mapping it changes (at most one file per entity per folder). A file
without ``extends`` replaces the mapping so far; ``extends: default`` merges over it
(:func:`.compiler.merge_layers`). Every problem of every file is collected and raised as one
:class:`~mail2dataverse.errors.MappingError`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import jmespath

from ..errors import MappingError, PluginError, Problem, SourceLocation
from ..yamlio import load_yaml, locate, schema_problems
from .compiler import Compiler, MappingDocument, merge_layers
from .functions import build_function_table, builtin_function_names, engine_functions, make_interpreter
from .mapping_set import MappingSet
from .model import CompiledMapping
from .transforms import transform_registry

ENTITIES = ("contact", "account", "email")
DEFAULTS_PACKAGE = "mail2dataverse.mappings"
#: How the shipped files are named in messages (stable across installs, matches the repo).
DEFAULTS_DISPLAY = "mappings"


@lru_cache(maxsize=1)
def mapping_schema() -> dict[str, Any]:
    """Return the JSON Schema of mapping files (package data ``schemas/mapping.schema.json``)."""
    text = resources.files("mail2dataverse.schemas").joinpath("mapping.schema.json").read_text("utf-8")
    return json.loads(text)


def parse_document(text: str, filename: str) -> tuple[MappingDocument | None, list[Problem]]:
    """Parse and schema-check one mapping file.

    :returns: ``(document, problems)``. The document is ``None`` only when nothing can be
        compiled from it (invalid YAML, empty, not a mapping, no valid ``entity``); otherwise
        it comes back even with schema problems, marked with the paths of those problems, so
        the compiler can still check the parts that are well-formed and every problem of the
        file is reported in one round.
    """
    try:
        data, node = load_yaml(text, filename)
    except MappingError as exc:
        return None, exc.problems
    if data is None:
        return None, [Problem(SourceLocation(filename, 1, 1, "$"), "empty mapping file: it needs at least 'entity:'")]
    problems = schema_problems(data, node, mapping_schema(), filename)
    bad = frozenset(p.location.json_path for p in problems)
    if not isinstance(data, dict) or data.get("entity") not in ENTITIES or "$" in bad:
        return None, problems
    return MappingDocument(filename, data, node, text, bad), problems


def _read(path: Path) -> tuple[MappingDocument | None, list[Problem]]:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        return None, [Problem(SourceLocation(str(path)), f"cannot read mapping file: {exc.strerror or exc}")]
    try:
        text = raw.decode("utf-8-sig")  # editors on Windows may add a BOM
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        col = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        where = SourceLocation(str(path), line, col, "$")
        return None, [Problem(where, f"not UTF-8 text: byte 0x{raw[exc.start]:02x} cannot be decoded")]
    return parse_document(text, str(path))


def default_documents() -> dict[str, MappingDocument]:
    """Read the shipped default mappings from package data, keyed by entity.

    :raises MappingError: a shipped file is invalid (a packaging or editing mistake).
    """
    folder = resources.files(DEFAULTS_PACKAGE)
    docs: dict[str, MappingDocument] = {}
    problems: list[Problem] = []
    for entity in ENTITIES:
        name = f"{entity}.yaml"
        doc, found = parse_document(folder.joinpath(name).read_text("utf-8"), f"{DEFAULTS_DISPLAY}/{name}")
        problems.extend(found)
        if doc is not None:
            docs[entity] = doc
    if problems:
        raise MappingError(problems)
    return docs


def mapping_files(path: Path) -> list[Path]:
    """The mapping files a path stands for: the file itself, or a folder's ``*.yaml``/``*.yml``."""
    if path.is_dir():
        return sorted(p for p in path.iterdir() if p.suffix in (".yaml", ".yml") and p.is_file())
    return [path]


def _folder_documents(
    path: Path, problems: list[Problem], duplicates: list[MappingDocument] | None = None
) -> dict[str, MappingDocument]:
    """Read one ``--mappings`` path (folder or single file), keyed by entity.

    :param duplicates: when given, a second file for an entity is appended here after its
        problem is reported, so ``validate`` can still check its content: an editor fixing
        the folder wants every mistake of that file now, not after renaming it.
    """
    found: dict[str, MappingDocument] = {}
    if not path.exists():
        problems.append(Problem(SourceLocation(str(path)), "mapping folder does not exist"))
        return found
    for file in mapping_files(path):
        doc, bad = _read(file)
        problems.extend(bad)
        if doc is None:
            continue
        entity = doc.data["entity"]
        if entity in found:
            line, col = locate(doc.node, ["entity"])
            problems.append(
                Problem(
                    SourceLocation(doc.filename, line, col, "$.entity"),
                    f"{found[entity].filename} already maps entity {entity!r}; one file per entity per folder",
                )
            )
            if duplicates is not None:
                duplicates.append(doc)
            continue
        found[entity] = doc
    return found


def _file_names(path: Path) -> list[str]:
    """The names problems of ``path`` are reported under, in reading order."""
    names = [str(path)]
    if path.is_dir():
        names.extend(str(f) for f in mapping_files(path))
    return names


def _default_plugins() -> Any:
    """The installed plugins with a default configuration."""
    from ..config import RunConfig
    from ..pluginmanager import Plugins, make_plugin_manager

    return Plugins(make_plugin_manager(), RunConfig())


def _compiler(plugins: Any) -> tuple[Compiler, Any]:
    """Build the transform registry, function table and compiler for a set of plugins."""
    registry = transform_registry(plugins)
    builtin = builtin_function_names()
    functions = dict(engine_functions(plugins))
    extra = plugins.jmespath_functions() if hasattr(plugins, "jmespath_functions") else {}
    for name, spec in extra.items():
        if name in builtin or name in functions:
            raise PluginError(f"a plugin registers JMESPath function {name!r}, which already exists")
        functions[name] = spec
    table = build_function_table(functions)
    signatures = {name: tuple(spec["signature"]) for name, spec in type(table).FUNCTION_TABLE.items()}
    interpreter = make_interpreter(table)
    return Compiler(registry, signatures, interpreter), jmespath.Options(custom_functions=table)


def _layers(user_paths: Iterable[Path], problems: list[Problem]) -> dict[str, list[MappingDocument]]:
    layers = {entity: [doc] for entity, doc in default_documents().items()}
    for path in user_paths:
        for entity, doc in _folder_documents(Path(path), problems).items():
            layers[entity].append(doc)
    return layers


def load_mappings(user_dirs: Sequence[Path] = (), *, plugins: Any) -> MappingSet:
    """Load the default mappings, apply the user's mapping folders, validate and compile.

    :param user_dirs: ``--mappings`` folders (or single files), applied in order over the
        defaults. A file with ``extends: default`` merges over what came before it; a file
        without it replaces that entity's mapping.
    :param plugins: the :class:`mail2dataverse.pluginmanager.Plugins` wrapper: its transforms and
        JMESPath functions become available to mappings, its policy hooks are asked per record.
    :returns: a :class:`MappingSet` ready to map records.
    :raises MappingError: any file is invalid; the error lists **every** problem in every file
        as ``file:line:col: $.json.path: message``.
    :raises PluginError: a plugin registers a transform or function name that already exists.
    """
    problems: list[Problem] = []
    layers = _layers(user_dirs, problems)
    compiler, options = _compiler(plugins)
    compiled: dict[str, CompiledMapping | None] = {}
    for entity in ENTITIES:
        compiled[entity] = compiler.mapping(merge_layers(entity, layers[entity]))
    problems.extend(compiler.problems)
    if problems:
        # The user's files first: a problem reported in a shipped default is a consequence
        # of what a user file changed (a removed let value the default still uses).
        files = [name for p in user_dirs for name in _file_names(Path(p))]
        files += [f"{DEFAULTS_DISPLAY}/{e}.yaml" for e in ENTITIES]
        raise MappingError(_in_file_order(problems, files))
    return MappingSet(compiled["contact"], compiled["account"], compiled["email"], plugins=plugins, options=options)  # type: ignore[arg-type]


def validate_paths(paths: Sequence[Path], *, plugins: Any = None) -> list[Problem]:
    """Check mapping files for ``mail2dataverse validate`` and return every problem found.

    :param paths: files, or folders meaning every ``*.yaml``/``*.yml`` in them (a folder is
        checked as a ``--mappings`` folder: at most one file per entity).
    :param plugins: the plugins whose transforms and functions count as known; by default the
        installed plugins with a default configuration.
    :returns: problems as ``file:line:col: $.json.path: message`` objects, in file order; empty
        when everything is valid. A file with ``extends: default`` is checked merged over the
        shipped default, so missing required entries are reported too.
    """
    if plugins is None:
        plugins = _default_plugins()
    problems: list[Problem] = []
    compiler, _ = _compiler(plugins)
    defaults = default_documents()
    files: list[str] = []
    for path in paths:
        path = Path(path)
        files += _file_names(path)
        if path.is_dir():
            duplicates: list[MappingDocument] = []
            docs = [*_folder_documents(path, problems, duplicates).values(), *duplicates]
        elif not path.exists():
            problems.append(Problem(SourceLocation(str(path)), "no such file or folder"))
            continue
        else:
            doc, bad = _read(path)
            problems.extend(bad)
            docs = [doc] if doc is not None else []
        for doc in docs:
            entity = doc.data["entity"]
            layers = [defaults[entity], doc] if doc.extends else [doc]
            compiler.mapping(merge_layers(entity, layers))
    problems.extend(compiler.problems)
    return _in_file_order(problems, files)


def _in_file_order(problems: list[Problem], files: Sequence[str] = ()) -> list[Problem]:
    """Sort problems by file, then line and column.

    Files come in the order given by ``files`` (the order they were named and read), then any
    other file in order of its first problem. Without ``files`` a file whose problems were all
    found by the compiler (which runs after every file is read) would be listed after files
    read later, and the output would jump around the folder.
    """
    order: dict[str, int] = {}
    for name in files:
        order.setdefault(name, len(order))
    for p in problems:
        order.setdefault(p.location.file, len(order))
    unique = list(dict.fromkeys(problems))
    return sorted(unique, key=lambda p: (order[p.location.file], p.location.line, p.location.column))
