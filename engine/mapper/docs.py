"""Generate the reference part of ``docs/mappings.md`` from the schema and the registries.

The mapping language is defined in one place, ``schemas/mapping.schema.json`` (keys, types,
descriptions, examples), plus the built-in transforms and JMESPath functions in code. The
reference tables are rendered from those, so the page cannot drift from what the loader
accepts; ``tests/mapper/test_mapper_docs.py`` fails when the page is stale.

    python -m mail2dataverse.mapper.docs --write docs/mappings.md
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from .functions import ENGINE_FUNCTION_DOCS
from .loader import mapping_schema
from .model import ENGINE_LETS
from .transforms import builtin_transform_docs

BEGIN = "<!-- BEGIN GENERATED REFERENCE (python -m mail2dataverse.mapper.docs --write docs/mappings.md) -->"
END = "<!-- END GENERATED REFERENCE -->"

# The sections of the schema rendered as tables, in reading order: (title, JSON pointer).
SECTIONS = [
    ("Top-level keys", ""),
    ("Value (a `let` entry or a column)", "$defs/value"),
    ("`skip_record_when` entry", "$defs/skip_rule"),
    ("`parties` entry", "$defs/party"),
]


def _resolve(schema: dict[str, Any], pointer: str) -> dict[str, Any]:
    node: Any = schema
    for part in filter(None, pointer.split("/")):
        node = node[part]
    return node


def _type_of(prop: dict[str, Any]) -> str:
    """Short human type of a property schema (``string``, ``one of: a, b``, ``value``...)."""
    if "enum" in prop:
        return "one of: " + ", ".join(f"`{v}`" for v in prop["enum"])
    if "$ref" in prop:
        name = prop["$ref"].rsplit("/", 1)[-1]
        return {"expression": "JMESPath string", "value_or_null": "value, string or null"}.get(name, name)
    kind = prop.get("type")
    if kind == "array":
        items = prop.get("items", {})
        return f"array of {_type_of(items)}" if items else "array"
    if kind == "object" and "additionalProperties" in prop and isinstance(prop["additionalProperties"], dict):
        return f"mapping of name → {_type_of(prop['additionalProperties'])}"
    if kind:
        return str(kind)
    return "any JSON value"


def _example(prop: dict[str, Any]) -> str:
    examples = prop.get("examples") or []
    if not examples:
        return ""
    text = json.dumps(examples[0], ensure_ascii=False)
    return f"`` {text} ``" if "`" in text else f"`{text}`"  # a code span may hold backticks


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render_reference() -> str:
    """Return the generated Markdown reference (schema tables, engine lets, transforms, functions)."""
    schema = mapping_schema()
    out: list[str] = []
    for title, pointer in SECTIONS:
        section = _resolve(schema, pointer)
        required = set(section.get("required", []))
        out += [f"### {title}", ""]
        if section.get("description") and pointer:
            out += [section["description"], ""]
        out += ["| key | type | required | description | example |", "|---|---|---|---|---|"]
        for key, prop in section.get("properties", {}).items():
            out.append(
                f"| `{key}` | {_cell(_type_of(prop))} | {'yes' if key in required else ''} | "
                f"{_cell(prop.get('description', ''))} | {_cell(_example(prop))} |"
            )
        out.append("")

    transform = schema["$defs"]["transform"]
    out += ["### Transforms", "", transform["description"].split(" Built-ins:")[0], ""]
    out += ["| transform | what it does | example |", "|---|---|---|"]
    for spec in builtin_transform_docs():
        out.append(f"| `{spec.usage}` | {_cell(spec.doc)} | `{_cell(spec.example)}` |")
    out.append("")

    out += ["### JMESPath functions added by the engine", "", schema["$defs"]["expression"]["description"], ""]
    out += ["| function | what it does |", "|---|---|"]
    for doc in ENGINE_FUNCTION_DOCS.values():
        signature, _, text = doc.partition(": ")
        out.append(f"| `{signature}` | {_cell(text)} |")
    out.append("")

    out += ["### `let` values the engine reads", "", "| entity | name | required | meaning |", "|---|---|---|---|"]
    for entity, names in ENGINE_LETS.items():
        for name, (required, meaning) in names.items():
            out.append(f"| {entity} | `{name}` | {'yes' if required else ''} | {_cell(meaning)} |")
    out.append("")
    return "\n".join(out)


def splice(page: str, reference: str) -> str:
    """Replace the text between the BEGIN/END markers of ``page`` with ``reference``."""
    start, end = page.index(BEGIN) + len(BEGIN), page.index(END)
    return page[:start] + "\n\n" + reference + "\n" + page[end:]


def main(argv: list[str] | None = None) -> int:
    """Print the reference, or ``--write PAGE`` to update it in place between the markers."""
    parser = argparse.ArgumentParser(description="Render the mapping-language reference.")
    parser.add_argument("--write", type=Path, help="Markdown page whose generated section to update")
    args = parser.parse_args(argv)
    reference = render_reference()
    if args.write:
        args.write.write_text(splice(args.write.read_text("utf-8"), reference), "utf-8")
    else:
        sys.stdout.write(reference)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
