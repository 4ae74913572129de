"""Plain words for the mistakes people make in YAML: misspelt keys, wrong indentation, syntax.

The parser and the schema validator are exact but speak their own language ("did not find
expected key", "unknown key 'transfroms'"). A CRM admin editing a mapping file needs to hear
what to change: the key they probably meant, that a line is indented one level too deep, that a
value with ``: `` in it needs quotes. :mod:`mail2dataverse.yamlio` asks here for those words
and keeps the parser's own message beside them, so nothing the parser knew is lost.
"""

from __future__ import annotations

import difflib
from typing import Any

__all__ = ["unknown_key_message", "yaml_error_message"]

#: how alike a misspelt key must be to a real one to be suggested (difflib ratio)
_CLOSE = 0.7
#: how deep the schema walk goes looking for where a key belongs (the schemas nest less)
_MAX_DEPTH = 8


# ---------------------------------------------------------------------------------------------
# Unknown keys
# ---------------------------------------------------------------------------------------------


def unknown_key_message(key: Any, allowed: set[str], schema: dict[str, Any] | None, free_names: list[str]) -> str:
    """The message for ``key``, which the schema does not allow where it stands.

    :param allowed: the keys allowed at that place.
    :param schema: the whole schema, searched for the places where ``key`` *is* allowed (a
        key written at the wrong indentation is allowed one level up or down).
    :param free_names: the keys at that place whose mapping takes names of the user's choice
        (``columns``, ``let``): a column name written at the top level belongs under one.
    """
    text = f"unknown key {key!r}"
    expected = f" (expected one of: {', '.join(sorted(allowed))})" if allowed else ""
    close = difflib.get_close_matches(str(key), sorted(allowed), n=1, cutoff=_CLOSE)
    if close:
        return f"{text}: did you mean {close[0]!r}?{expected}"
    places = sorted(_key_places(schema).get(str(key), set())) if schema else []
    if places:
        where = " and ".join(", ".join(places).rsplit(", ", 1))
        return (f"{text} at this level: {key!r} is a key of {where}; check this line's indentation "
                f"(keys of one mapping start at the same column){expected}")
    if free_names:
        under = " or ".join(repr(n) for n in free_names)
        return f"{text}{expected}; if {key!r} is a name of your own, indent it under {under}"
    return text + expected


def _key_places(schema: dict[str, Any]) -> dict[str, set[str]]:
    """``key → {"columns.<name>", ...}``: every place of the schema where a key is allowed."""
    cached = _places_cache.get(id(schema))
    if cached is not None and cached[0] is schema:
        return cached[1]
    places: dict[str, set[str]] = {}
    defs = schema.get("$defs", {})

    def walk(node: Any, path: str, depth: int, seen: frozenset[str]) -> None:
        if not isinstance(node, dict) or depth > _MAX_DEPTH:
            return
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/$defs/"):
            name = ref.rsplit("/", 1)[1]
            if name not in seen:  # a recursive definition is walked once per path
                walk(defs.get(name), path, depth + 1, seen | {name})
        for key, sub in (node.get("properties") or {}).items():
            places.setdefault(key, set()).add(path or "the top level")
            walk(sub, f"{path}.{key}" if path else key, depth + 1, seen)
        extra = node.get("additionalProperties")
        if isinstance(extra, dict):
            walk(extra, f"{path}.<name>" if path else "<name>", depth + 1, seen)
        if isinstance(node.get("items"), dict):
            walk(node["items"], f"{path}[]", depth + 1, seen)
        for word in ("anyOf", "oneOf", "allOf"):
            for sub in node.get(word) or ():
                walk(sub, path, depth + 1, seen)

    walk(schema, "", 0, frozenset())
    _places_cache[id(schema)] = (schema, places)
    return places


_places_cache: dict[int, tuple[dict[str, Any], dict[str, set[str]]]] = {}


# ---------------------------------------------------------------------------------------------
# Syntax errors
# ---------------------------------------------------------------------------------------------


def yaml_error_message(exc: Any, text: str) -> str:
    """Plain words for a :class:`yaml.MarkedYAMLError` raised while parsing ``text``.

    Both parsers are understood (libyaml's "did not find expected key" and PyYAML's "expected
    <block end>"). The parser's own words follow in brackets; an error no rule knows keeps them
    alone.
    """
    problem = (exc.problem or "").lower()
    context = (exc.context or "").lower()
    parser = f"{exc.context}: {exc.problem}" if exc.context and exc.problem else (exc.problem or exc.context or "unparseable")
    plain = _plain(problem, context, exc.problem_mark, exc.context_mark, text.splitlines())
    return f"{plain} (the parser says: {parser})" if plain else parser


def _plain(problem: str, context: str, mark: Any, start: Any, lines: list[str]) -> str | None:
    line_no = mark.line if mark is not None else 0
    line = lines[line_no] if 0 <= line_no < len(lines) else ""
    opened = f"line {start.line + 1}, column {start.column + 1}" if start is not None else "above"
    if "mapping values are not allowed" in problem:
        above = _line_above(lines, line_no)
        if above is not None and _indent(line) > _indent(above) and not above.rstrip().endswith(":"):
            return ("this line is indented more than the line above it, as if it belonged under "
                    f"{above.strip().split(':', 1)[0]!r}, which already has a value: indent it like the line above")
        return ("a second ': ' on this line: YAML reads 'key: value: more' as a mapping inside the value; "
                "put the value in quotes (key: \"value: more\")")
    if "block mapping" in context and ("expected key" in problem or "block end" in problem):
        if line.lstrip().startswith("- "):
            return ("a list item '- ...' where a key was expected: a list goes under a key that ends "
                    "with ':', indented below it")
        return (f"this line is indented differently from the other keys of the mapping that starts at {opened}: "
                "keys of one mapping start at the same column, and a nested mapping goes under a key "
                "that ends with ':'")
    if "block collection" in context or "'-' indicator" in problem or "block sequence" in problem:
        return (f"this line does not line up with the list that starts at {opened}: every '- ' item of "
                "one list starts at the same column")
    if "flow mapping" in context:
        return f"the '{{' at {opened} is not closed: end it with '}}', and put ',' between its entries"
    if "flow sequence" in context:
        return f"the '[' at {opened} is not closed: end it with ']', and put ',' between its items"
    if "cannot start any token" in problem:
        column = mark.column if mark is not None else 0
        char = line[column] if 0 <= column < len(line) else ""
        if char == "\t":
            return "a tab character: YAML indents with spaces only; replace the tab with spaces"
        shown = repr(char) if char else "this character"
        return f"a value cannot start with {shown} in YAML: put the value in quotes"
    if "quoted scalar" in context:
        if "escape" in problem:
            return ("inside \"double quotes\" a backslash starts an escape (\\n, \\t, \\\\): write \\\\ for "
                    "a backslash, or use 'single quotes'")
        return f"the quote opened at {opened} is never closed: add the closing quote"
    if "simple key" in context and "':'" in problem:
        return (f"the line at {opened} has a key without ':' (or a plain value spread over several lines): "
                "write 'key: value', or put a long value in quotes")
    if "undefined alias" in problem:
        return ("'*' starts an alias to an '&anchor' in YAML, and there is none by that name: put a value "
                "that starts with '*' in quotes")
    return None


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def _line_above(lines: list[str], index: int) -> str | None:
    for i in range(index - 1, -1, -1):
        stripped = lines[i].strip()
        if stripped and not stripped.startswith("#"):
            return lines[i]
    return None
