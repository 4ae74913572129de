"""YAML loading that keeps line numbers, and JSON Schema validation that reports them.

Mapping files and the run configuration are parsed **once** into a node tree (which carries
``start_mark`` line/column for every key and value) and a plain Python document built from
that same tree. Schema errors and compile errors are then located by walking the node tree
along the error's JSON path, so every problem reads::

    mappings/contact.yaml:5:47: $.columns.lastname.transforms[0]: 42 is not of type 'string'

Nothing in here runs per record: it is load-time code only.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any

import yaml
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from .errors import MappingError, Problem, SourceLocation
from .yamlhelp import unknown_key_message, yaml_error_message

# libyaml is ~10x faster and still records marks on every node (checked); fall back silently.
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

_PLAIN_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_\-]*$")

#: Limits on what a YAML document may become once its aliases are expanded (docs/reliability.md,
#: "Limits"). A 380-byte file of nested aliases can stand for 10^9 nodes: every consumer that
#: walks the data as a tree (schema validation, the compiler) would run for minutes. Real mapping
#: files and configs hold a few hundred nodes and a handful of levels.
MAX_EXPANDED_NODES = 100_000
MAX_NESTING_DEPTH = 100


def load_yaml(text: str, filename: str) -> tuple[Any, Node | None]:
    """Parse one YAML document, returning the Python data and the composed node tree.

    :param text: the file's content.
    :param filename: used in error messages only.
    :returns: ``(data, node)``; both are ``None`` for an empty document.
    :raises MappingError: the text is not valid YAML (located at the parser's problem mark),
        holds several documents, or repeats a key inside one mapping (YAML parsers silently
        keep the last value, which would hide a user's mistake).
    """
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None, None
        _check_expansion(node, filename)
        duplicates = list(_duplicate_keys(node, [], filename, set()))
        if duplicates:
            raise MappingError(duplicates)
        data = loader.construct_document(node)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)
        message = yaml_error_message(exc, text)  # plain words, then the parser's own
        raise MappingError([Problem(SourceLocation(filename, line, col, "$"), f"invalid YAML: {message}")]) from None
    except yaml.YAMLError as exc:  # e.g. a reader error for a control character without a mark
        raise MappingError([Problem(SourceLocation(filename, 1, 1, "$"), f"invalid YAML: {exc}")]) from None
    finally:
        loader.dispose()
    return data, node


def _children(node: Node) -> list[tuple[Any, Node]]:
    """The ``(key, child)`` pairs of a node: mapping keys (their value node), list indexes."""
    if isinstance(node, MappingNode):
        return [(k.value if isinstance(k, ScalarNode) else None, v) for k, v in node.value]
    if isinstance(node, SequenceNode):
        return list(enumerate(node.value))
    return []


def _linked_path(link: tuple | None) -> list[Any]:
    """Unroll a ``(parent_link, part)`` chain into a list of keys and indexes."""
    parts: list[Any] = []
    while link is not None:
        link, part = link
        parts.append(part)
    return parts[::-1]


def _check_expansion(root: Node, filename: str) -> None:
    """Refuse a document that is too big or too deep once its aliases are expanded.

    An alias is the same node object reached twice, so the walk memoises each node's expanded
    size and depth (computed once, post-order, without recursion): the alias graph is never
    expanded as a tree, and a 10^9-node bomb is measured in a few dozen steps. An alias inside
    its own anchor (``&a [*a]``) is refused as recursive.

    :raises MappingError: located at the node that crossed a limit (its file:line:col and path).
    """
    memo: dict[int, tuple[int, int]] = {}
    on_path: set[int] = set()
    # (node, children done?, path link): the link is (parent link, key) so no path is copied
    stack: list[tuple[Node, bool, tuple | None]] = [(root, False, None)]

    def refuse(node: Node, link: tuple | None, message: str) -> None:
        mark = node.start_mark
        raise MappingError([Problem(SourceLocation(filename, mark.line + 1, mark.column + 1,
                                                   json_path(_linked_path(link))), message)])

    while stack:
        node, done, link = stack.pop()
        nid = id(node)
        if done:
            on_path.discard(nid)
            kids = [memo[id(child)] for _, child in _children(node)]
            size = 1 + sum(k[0] for k in kids)
            depth = 1 + max((k[1] for k in kids), default=0)
            memo[nid] = (size, depth)
            if size > MAX_EXPANDED_NODES:
                refuse(node, link, f"alias expansion: this value stands for {size:,} nodes once its aliases "
                                   f"are expanded (limit {MAX_EXPANDED_NODES:,})")
            if depth > MAX_NESTING_DEPTH:
                refuse(node, link, f"nesting: this value is {depth:,} levels deep once its aliases are "
                                   f"expanded (limit {MAX_NESTING_DEPTH})")
            continue
        if nid in memo:
            continue
        if nid in on_path:
            refuse(node, link, "recursive alias: this value contains itself")
        if len(on_path) >= MAX_NESTING_DEPTH:
            refuse(node, link, f"nesting: more than {MAX_NESTING_DEPTH} levels deep (limit {MAX_NESTING_DEPTH})")
        on_path.add(nid)
        stack.append((node, True, link))
        for key, child in reversed(_children(node)):  # document order: a node's path is its first
            stack.append((child, False, (link, key)))


def _duplicate_keys(node: Node, path: list[Any], filename: str, seen_nodes: set[int]) -> Iterable[Problem]:
    """Yield one problem per key that appears twice in the same mapping (anywhere in the tree).

    ``seen_nodes`` holds the nodes already walked: an aliased node is checked once, at its
    first path, so the walk is linear in the file, not in the expanded document.
    """
    if id(node) in seen_nodes:
        return
    seen_nodes.add(id(node))
    if isinstance(node, MappingNode):
        seen: dict[str, Node] = {}
        for key_node, value_node in node.value:
            key = key_node.value if isinstance(key_node, ScalarNode) else None
            if key is not None and key in seen:
                first = seen[key].start_mark.line + 1
                mark = key_node.start_mark
                yield Problem(
                    SourceLocation(filename, mark.line + 1, mark.column + 1, json_path([*path, key])),
                    f"duplicate key {key!r} (first defined on line {first})",
                )
            elif key is not None:
                seen[key] = key_node
            yield from _duplicate_keys(value_node, [*path, key], filename, seen_nodes)
    elif isinstance(node, SequenceNode):
        for i, item in enumerate(node.value):
            yield from _duplicate_keys(item, [*path, i], filename, seen_nodes)


def json_path(path: Iterable[Any]) -> str:
    """Format a list of keys and indexes as ``$.columns.firstname.transforms[1]``.

    Keys that are not plain identifiers (``parentcustomerid_account@odata.bind``) are written
    in brackets, ``$.columns['parentcustomerid_account@odata.bind']``, so the path stays
    unambiguous.
    """
    out = ["$"]
    for part in path:
        if isinstance(part, int) and not isinstance(part, bool):
            out.append(f"[{part}]")
        elif isinstance(part, str) and _PLAIN_KEY.match(part):
            out.append(f".{part}")
        else:
            out.append(f"[{str(part)!r}]")
    return "".join(out)


def _child(node: MappingNode, part: Any) -> tuple[Node, Node] | None:
    """Return the ``(key_node, value_node)`` pair of ``part`` in a mapping node, or None."""
    wanted = part if isinstance(part, str) else str(part).lower() if isinstance(part, bool) else str(part)
    for key_node, value_node in node.value:
        if isinstance(key_node, ScalarNode) and key_node.value == wanted:
            return key_node, value_node
    return None


def find_node(node: Node | None, path: Sequence[Any], key: Any = None) -> Node | None:
    """Walk a composed YAML node along a JSON path and return the deepest node found.

    :param node: the root node from :func:`load_yaml`.
    :param path: keys and list indexes, as in ``jsonschema``'s ``absolute_path``.
    :param key: when given, the mapping key at the end of ``path`` whose **key** node (not its
        value) is wanted; used to point at an unexpected or misspelt key.
    :returns: the node at ``path`` (or ``key``); when part of the path does not exist (a
        required key that is missing), the deepest enclosing node; ``None`` only for ``None``.
    """
    if node is None:
        return None
    for part in path:
        if isinstance(node, MappingNode):
            hit = _child(node, part)
            if hit is None:
                return node
            node = hit[1]
        elif isinstance(node, SequenceNode) and isinstance(part, int) and 0 <= part < len(node.value):
            node = node.value[part]
        else:
            return node
    if key is not None and isinstance(node, MappingNode):
        hit = _child(node, key)
        if hit is not None:
            node = hit[0]
    return node


def locate(node: Node | None, path: Sequence[Any], key: Any = None) -> tuple[int, int]:
    """Return the 1-based ``(line, column)`` of the node at ``path`` (see :func:`find_node`).

    An empty document (``node`` is ``None``) gives ``(1, 1)``.
    """
    found = find_node(node, path, key)
    if found is None:
        return 1, 1
    return found.start_mark.line + 1, found.start_mark.column + 1


def problem_at(node: Node | None, filename: str, path: Sequence[Any], message: str, key: Any = None) -> Problem:
    """Build a :class:`Problem` located at ``path`` (or at mapping key ``key`` under it)."""
    line, col = locate(node, path, key)
    full = [*path, key] if key is not None else list(path)
    return Problem(SourceLocation(filename, line, col, json_path(full)), message)


def schema_problems(data: Any, node: Node | None, schema: dict[str, Any], filename: str) -> list[Problem]:
    """Validate ``data`` against a JSON Schema and return **every** problem, located and sorted.

    :param data: the document from :func:`load_yaml`.
    :param node: its node tree, used to turn JSON paths into line and column.
    :param schema: a Draft 2020-12 schema.
    :param filename: used in the problems' locations.
    :returns: problems sorted by position in the file; empty when the document is valid.
        ``additionalProperties`` errors give one problem per unexpected key, located at that
        key; ``required`` errors are located at the mapping that lacks the key; ``oneOf`` /
        ``anyOf`` errors are replaced by the most relevant error of the branch that came closest.
    """
    validator = Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)
    problems: list[Problem] = []
    for error in validator.iter_errors(data):
        problems.extend(_explain(error, node, filename, schema))
    problems = list(dict.fromkeys(problems))  # branches of anyOf can repeat an error
    problems.sort(key=lambda p: (p.location.line, p.location.column, p.location.json_path, p.message))
    return problems


def _explain(error: ValidationError, node: Node | None, filename: str, root: dict[str, Any] | None = None) -> list[Problem]:
    """Turn one jsonschema error into user-facing problems (see :func:`schema_problems`).

    ``root`` is the whole schema: an unknown key is looked up in it, so that a key written at
    the wrong indentation is told where it belongs (:mod:`mail2dataverse.yamlhelp`).
    """
    path = list(error.absolute_path)
    if error.validator in ("oneOf", "anyOf") and error.context:
        best = _best_branch_error(error)
        if best is not None:
            return _explain(best, node, filename, root)
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        allowed = set(error.schema.get("properties", {}))
        patterns = [re.compile(p) for p in error.schema.get("patternProperties", {})]
        extras = [k for k in error.instance if k not in allowed and not any(p.search(str(k)) for p in patterns)]
        props = error.schema.get("properties", {})
        # Containers of names the user chooses (columns, let) whose name rule the key fits:
        # a column written at the top level belongs under one of them.
        free = [name for name, sub in props.items() if isinstance(sub, dict)
                and isinstance((sub.get("propertyNames") or {}).get("pattern"), str)
                and all(re.search(sub["propertyNames"]["pattern"], str(k)) for k in extras)]
        return [problem_at(node, filename, path, unknown_key_message(k, allowed, root, sorted(free)), key=k)
                for k in extras]
    if error.validator == "required":
        missing = error.message.split(" is a required property")[0]
        return [problem_at(node, filename, path, f"missing required key {missing}")]
    message = error.schema.get("errorMessage") if isinstance(error.schema, dict) else None
    if "propertyNames" in error.relative_schema_path:
        # jsonschema reports a bad key at its parent mapping; point at the key itself.
        text = f"invalid name {error.instance!r}: {message}" if message else error.message
        return [problem_at(node, filename, path, text, key=error.instance)]
    return [problem_at(node, filename, path, message or error.message)]


def _best_branch_error(error: ValidationError) -> ValidationError | None:
    """Pick the sub-error a user most likely meant for a failed ``oneOf``/``anyOf``.

    A branch whose ``type`` matched the instance is the one the user was writing (an object
    where an object is allowed), so its deepest error wins; when no branch matched the type,
    the generic ``is not valid under any of the given schemas`` would be useless, so a "type"
    message listing the accepted types is synthesised instead.
    """
    by_branch: dict[int, list[ValidationError]] = {}
    for sub in error.context:
        by_branch.setdefault(sub.schema_path[0] if sub.schema_path else 0, []).append(sub)
    type_ok = [errs for errs in by_branch.values() if not any(e.validator == "type" and not e.path for e in errs)]
    if len(type_ok) == 1:
        return max(type_ok[0], key=lambda e: len(e.absolute_path))
    if not type_ok:
        types: list[str] = []
        for sub in error.context:
            if sub.validator == "type" and not sub.path:
                for t in [sub.validator_value] if isinstance(sub.validator_value, str) else sub.validator_value:
                    if t not in types:
                        types.append(t)
        if types:
            return ValidationError(
                f"{error.instance!r} is not of type {' or '.join(repr(t) for t in types)}",
                validator="type",
                path=error.absolute_path,
                instance=error.instance,
                schema={},
            )
    return None
