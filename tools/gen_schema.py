"""Generate the emulator's schema data from Microsoft's table reference pages.

    python tools/gen_schema.py [PAGES_DIR] [-o engine/emulator/schema_data.json] [--check]

``PAGES_DIR`` (default ``../shared/reference/entities`` beside the repository) holds the
verbatim markdown sources of Microsoft's table/entity reference pages (``contact.md``,
``email.md``, ...) and a ``SOURCES.md`` naming the commit of each. The output is a compact JSON
file the emulator ships and builds its tables from: per table its entity set, primary id and
name, and per column its type, MaxLength, MinValue/MaxValue, precision, DateTimeBehavior and
format, option values, lookup targets and whether it is valid for create / update / read; then
the navigation properties every relationship between the modelled tables gives (single-valued
on the referencing table, collection-valued on the referenced one).

Two page layouts exist: the Dataverse "table/column" layout (email, task, annotation,
activitymimeattachment: values in backticks, relationship names given on both sides) and the
older "entity/attribute" layout of the other pages (plain values, one-to-many relationships
only name the collection). Where a page does not give a single-valued navigation property's
name, the generator derives it with Dataverse's naming rule, checked against every name the
newer pages do give (``NAV_RULE`` below): the lookup's logical name for a single-target
lookup, ``<lookup>_<target>`` for a multi-target one, and ``regardingobjectid_<target>_<activity>``
for an activity's Regarding. Each navigation property records where its name came from.

Nothing here is hand-tuned per column: rules the pages do not state (state transitions, party
rules, which app a table belongs to) live in ``engine/emulator/schema_overrides.yaml``.
``--check`` compares with the existing output instead of writing it (exit 1 on a difference).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_PAGES = ROOT.parent / "shared" / "reference" / "entities"
DEFAULT_OUTPUT = ROOT / "engine" / "emulator" / "schema_data.json"

#: The rule used for single-valued navigation names a page does not state (see module docstring).
NAV_RULE = ("derived: regardingobjectid_<target>_<activity> for an activity's Regarding, <lookup>_<activity> for "
            "the lookups activities inherit from activitypointer, else the lookup's name (also for Owner lookups), "
            "<lookup>_<target> when it has several targets")

_HEADING = re.compile(r'^### <a name="BKMK_([^"]+)"></a>\s*(\S+)')
_ROW = re.compile(r"^\|(.*)\|\s*$")
_BOLD_PROP = re.compile(r"^\*\*(\w+)\*\*:\s*(.*?)(<br\s*/>)?\s*$")
_INT = re.compile(r"^-?\d+$")
_NUM = re.compile(r"^-?\d+(\.\d+)?([eE][-+]?\d+)?$")

# Section headings of both layouts, mapped to what their ### blocks describe.
_SECTIONS = (
    ("writable", ("writable columns/attributes", "writable attributes")),
    ("readonly", ("read-only columns/attributes", "read-only attributes")),
    ("one_to_many", ("one-to-many relationships",)),
    ("many_to_one", ("many-to-one relationships",)),
    ("many_to_many", ("many-to-many relationships",)),
)


def _clean(cell: str) -> str:
    """A table cell without markdown emphasis or code marks."""
    return cell.strip().replace("**", "").replace("`", "").strip()


def _cells(line: str) -> list[str] | None:
    m = _ROW.match(line)
    if not m:
        return None
    return [_clean(c) for c in m.group(1).split("|")]


def _section(heading: str) -> str | None:
    text = heading.lstrip("#").strip().lower()
    for name, titles in _SECTIONS:
        if text in titles:
            return name
    if text in ("messages",):
        return "messages"
    if text in ("properties", "entity properties"):
        return "properties"
    return None


def _number(text: str, integral: bool):
    if integral and _INT.match(text):
        return int(text)
    if _NUM.match(text):
        value = float(text)
        return int(value) if value.is_integer() and abs(value) < 2**53 else value
    return None


def _option_rows(lines: list[str]) -> list[list[str]]:
    rows = [c for c in (_cells(line) for line in lines) if c is not None]
    if len(rows) < 2:
        return []
    return [r for r in rows[2:] if r and _INT.match(r[0])]


_BULLET_OPTION = re.compile(r"^- \*\*Value\*\*: (-?\d+) \*\*Label\*\*: (.*?)(?: \*\*(DefaultStatus|State)\*\*: (-?\d+))?"
                            r"(?: \*\*InvariantName\*\*: .*)?$")


def _parse_bullet_options(kind: str, lines: list[str]) -> dict:
    """The CE layout: ``- **Value**: 0 **Label**: Open **DefaultStatus**: 1 ...``."""
    rows = []
    for line in lines:
        m = _BULLET_OPTION.match(line.strip())
        if m:
            rows.append((int(m.group(1)), m.group(2).strip(), m.group(4)))
    if kind == "State":
        return {"states": [[v, label, int(extra)] for v, label, extra in rows]}
    if kind == "Status":
        return {"statuses": [[v, label, int(extra)] for v, label, extra in rows]}
    if kind == "Boolean":
        return {}
    return {"options": [[v, label] for v, label, _ in rows]}


def _parse_options(kind: str, lines: list[str]) -> dict:
    """Options of a Picklist/State/Status/Boolean column, in any of the three layouts."""
    if lines and lines[0].strip() == "**Options**:":
        return _parse_bullet_options(kind, lines)
    rows = _option_rows(lines)
    header = next((c for c in (_cells(line) for line in lines) if c is not None), [])
    out: dict = {}
    if kind == "State":
        states = []
        for r in rows:
            if len(header) > 2 and header[1] == "Label":  # |Value|Label|DefaultStatus|InvariantName|
                states.append([int(r[0]), r[1], int(r[2])])
            else:  # |Value|Details| with "Label: x<br />DefaultStatus: n<br />..."
                details = _details(r[1])
                states.append([int(r[0]), details.get("Label", ""), int(details["DefaultStatus"])])
        out["states"] = states
    elif kind == "Status":
        statuses = []
        for r in rows:
            if len(header) > 2 and header[1] == "Label":  # |Value|Label|State|
                statuses.append([int(r[0]), r[1], int(r[2])])
            else:
                details = _details(r[1])
                statuses.append([int(r[0]), details.get("Label", ""), int(details["State"])])
        out["statuses"] = statuses
    elif kind != "Boolean":
        opts = []
        for r in rows:
            label = r[1] if len(r) > 1 else ""
            if header[1:2] == ["Details"]:
                label = _details(label).get("Label", "")
            opts.append([int(r[0]), label])
        out["options"] = opts
    return out


def _details(text: str) -> dict[str, str]:
    """``Label: Open<br />DefaultStatus: 1`` → ``{"Label": "Open", "DefaultStatus": "1"}``."""
    out = {}
    for part in re.split(r"<br\s*/>", text):
        key, sep, value = part.partition(":")
        if sep:
            out[key.strip()] = value.strip()
    return out


class Page:
    """One reference page split into its properties, columns and relationships."""

    def __init__(self, name: str, text: str):
        self.name = name
        self.properties: dict[str, str] = {}
        self.messages: list[str] = []
        self.columns: dict[str, dict] = {}
        self.one_to_many: list[dict] = []
        self.many_to_one: list[dict] = []
        self._parse(text.splitlines())

    def _parse(self, lines: list[str]) -> None:
        section = None
        block: list[str] = []
        block_name = None
        for line in lines + ["## end"]:
            if line.startswith("## ") or _HEADING.match(line):
                if block_name is not None:
                    self._block(section, block_name, block)
                block, block_name = [], None
                if line.startswith("## "):
                    section = _section(line)
                    continue
                m = _HEADING.match(line)
                block_name = m.group(2)
                continue
            if block_name is not None:
                block.append(line)
            elif section == "properties":
                self._property_line(line)
            elif section == "messages":
                cells = _cells(line)
                if cells and cells[0] and not set(cells[0]) <= set("-: ") and cells[0] not in ("Message",) \
                        and not cells[0].startswith("Name"):
                    self.messages.append(re.sub(r"<br\s*/>.*$", "", cells[0]).strip())

    def _property_line(self, line: str) -> None:
        cells = _cells(line)
        if cells and len(cells) >= 2 and cells[0] not in ("Property", "") and not set(cells[0]) <= set("-: "):
            self.properties[cells[0]] = cells[1]
            return
        m = _BOLD_PROP.match(line.strip())
        if m:
            self.properties[m.group(1)] = _clean(m.group(2))

    def _block(self, section: str | None, schema_name: str, lines: list[str]) -> None:
        props: dict[str, str] = {}
        options_at = None
        for i, line in enumerate(lines):
            if line.startswith("#### ") or line.strip() == "**Options**:":
                options_at = i
                break
            cells = _cells(line)
            if cells and len(cells) >= 2 and cells[0] not in ("Property", "") and not set(cells[0]) <= set("-: "):
                props[cells[0]] = cells[1]
                continue
            m = _BOLD_PROP.match(line.strip())  # the CE layout: **Name**: value<br />
            if m:
                props.setdefault(m.group(1), _clean(m.group(2)))
        if section in ("writable", "readonly"):
            self._column(section, schema_name, props, lines[options_at:] if options_at is not None else [])
        elif section == "one_to_many" and "ReferencingEntity" in props:
            self.one_to_many.append({
                "schema": schema_name,
                "referencing_entity": props["ReferencingEntity"],
                "referencing_attribute": props["ReferencingAttribute"],
                "collection": props.get("ReferencedEntityNavigationPropertyName", schema_name),
            })
        elif section == "many_to_one" and "ReferencedEntity" in props:
            self.many_to_one.append({
                "schema": schema_name,
                "referenced_entity": props["ReferencedEntity"],
                "referencing_attribute": props["ReferencingAttribute"],
                "nav": props.get("ReferencingEntityNavigationPropertyName"),
            })

    def _column(self, section: str, schema_name: str, props: dict[str, str], option_lines: list[str]) -> None:
        logical = props.get("LogicalName")
        kind = props.get("Type")
        if not logical or not kind:
            return
        col: dict = {"schema": schema_name, "type": kind}
        if section == "readonly":
            col["create"] = False
            col["update"] = False
        else:
            if props.get("IsValidForCreate") == "False":
                col["create"] = False
            if props.get("IsValidForUpdate") == "False":
                col["update"] = False
        if props.get("IsValidForRead") == "False":
            col["read"] = False
        if props.get("RequiredLevel") not in (None, "", "None"):
            col["required"] = props["RequiredLevel"]
        integral = kind in ("Integer", "BigInt")
        for src, dst in (("MaxLength", "max_length"), ("MinValue", "min"), ("MaxValue", "max"),
                         ("Precision", "precision")):
            if props.get(src):
                value = _number(props[src], integral or src in ("MaxLength", "Precision"))
                if value is not None:
                    col[dst] = value
        if kind == "DateTime":
            if props.get("DateTimeBehavior"):
                col["behavior"] = props["DateTimeBehavior"]
            if props.get("Format"):
                col["format"] = props["Format"]
        elif kind in ("String", "Memo") and props.get("FormatName") or props.get("Format"):
            fmt = props.get("FormatName") or props.get("Format")
            if fmt and kind in ("String", "Memo"):
                col["format"] = fmt
        if props.get("Targets"):
            col["targets"] = sorted(t.strip() for t in props["Targets"].split(",") if t.strip())
        if option_lines:
            col.update(_parse_options(kind, option_lines))
        self.columns[logical] = col


#: Lookups every activity inherits from activitypointer: their navigation names carry the
#: activity's name (createdby_email, owninguser_task, ownerid_email on the pages).
ACTIVITY_POINTER_LOOKUPS = frozenset({
    "createdby", "createdonbehalfby", "modifiedby", "modifiedonbehalfby", "ownerid", "owninguser", "owningteam",
    "owningbusinessunit", "transactioncurrencyid"})


def _nav_rule(table: str, column: str, kind: str, target: str, targets: list[str], activity: bool) -> str:
    """The single-valued navigation name Dataverse gives a lookup when no page states it."""
    if activity and column == "regardingobjectid":
        return f"regardingobjectid_{target}_{table}"
    if activity and column in ACTIVITY_POINTER_LOOKUPS:
        return f"{column}_{table}"
    if kind == "Owner":  # documented as "ownerid@odata.bind": "/systemusers(<id>)" (Assign)
        return column
    if len(targets) > 1:
        return f"{column}_{target}"
    return column


def load_pages(pages_dir: Path) -> tuple[dict[str, Page], dict[str, dict]]:
    """Parse every ``<table>.md`` and the source table of ``SOURCES.md``."""
    sources: dict[str, dict] = {}
    sources_md = pages_dir / "SOURCES.md"
    if sources_md.exists():
        for line in sources_md.read_text("utf-8").splitlines():
            cells = _cells(line)
            if cells and len(cells) >= 4 and re.fullmatch(r"[0-9a-f]{40}", cells[3] or ""):
                sources[cells[0]] = {"repository": cells[1], "path": cells[2], "commit": cells[3]}
    pages = {}
    for md in sorted(pages_dir.glob("*.md")):
        if md.name == "SOURCES.md":
            continue
        pages[md.stem] = Page(md.stem, md.read_text("utf-8"))
    return pages, sources


def generate(pages_dir: Path) -> dict:
    """The schema data for every page in ``pages_dir`` (deterministic: same pages, same output)."""
    pages, sources = load_pages(pages_dir)
    tables: dict[str, dict] = {}
    for name, page in pages.items():
        p = page.properties
        logical = p.get("LogicalName", name)
        tables[logical] = {
            "schema": p.get("SchemaName", logical),
            "collection_schema": p.get("CollectionSchemaName", ""),
            "entity_set": p.get("EntitySetName", ""),
            "pk": p.get("PrimaryIdAttribute", ""),
            "primary_name": p.get("PrimaryNameAttribute") or None,
            "ownership": p.get("OwnershipType", ""),
            "display": p.get("DisplayName", ""),
            "messages": sorted(set(page.messages)),
            "columns": dict(sorted(page.columns.items())),
            "navigations": {},
            "collections": {},
            "source": sources.get(logical, {}),
        }
    activities = {t for t, d in tables.items() if "activityid" in d["columns"] and d["pk"] == "activityid"}
    # The newer pages name the single-valued side: (table, schema name) -> nav name.
    stated = {(t, r["schema"]): r["nav"] for t, page in pages.items() for r in page.many_to_one if r["nav"]}
    # 1) every one-to-many relationship whose both ends are modelled
    for referenced, page in pages.items():
        for rel in page.one_to_many:
            child, column = rel["referencing_entity"], rel["referencing_attribute"]
            if child not in tables:
                continue
            if column not in tables[child]["columns"]:
                # An app's page names a lookup it adds to a core table (lead's account_originating_lead
                # adds account.originatingleadid): the column exists where that table does.
                tables[child]["columns"][column] = {"schema": column, "type": "Lookup", "targets": [],
                                                    "added_with": referenced}
                tables[child]["columns"] = dict(sorted(tables[child]["columns"].items()))
            _relate(tables, stated, activities, referenced, child, column, rel["schema"], rel["collection"])
    # 2) many-to-one relationships stated only on the referencing page
    for child, page in pages.items():
        for rel in page.many_to_one:
            referenced = rel["referenced_entity"]
            if referenced in tables and rel["referencing_attribute"] in tables[child]["columns"]:
                _relate(tables, stated, activities, referenced, child, rel["referencing_attribute"],
                        rel["schema"], None)
    # 3) lookups to modelled tables whose relationship neither page lists (old pages name the
    #    many-to-one side only by a link): the column's own Targets still make the relationship
    for child, data in tables.items():
        for column, col in data["columns"].items():
            if col["type"] not in ("Lookup", "Customer", "Owner") or col.get("create") is False and \
                    col.get("update") is False:
                continue
            for target in col.get("targets", []):
                if target in tables and (column, target) not in {
                        (n["column"], n["target"]) for n in data["navigations"].values()}:
                    _relate(tables, stated, activities, target, child, column, None, None)
    # 4) names: each relationship's nav once the lookup's full target list is known
    for child, data in tables.items():
        for nav in list(data["navigations"].values()):
            if nav["name_source"] == "rule":
                col = data["columns"][nav["column"]]
                nav["name"] = _nav_rule(child, nav["column"], col["type"], nav["target"], col["targets"],
                                       child in activities)
        data["navigations"] = {n["name"]: {k: v for k, v in n.items() if k != "name"}
                               for n in sorted(data["navigations"].values(), key=lambda n: n["name"])}
        data["collections"] = dict(sorted(data["collections"].items()))
    return {
        "about": "Generated by tools/gen_schema.py from Microsoft's table reference pages; do not edit. "
                 "Rules the pages do not state are in schema_overrides.yaml.",
        "nav_rule": NAV_RULE,
        "tables": dict(sorted(tables.items())),
    }


def _relate(tables, stated, activities, referenced, child, column, schema, collection) -> None:
    col = tables[child]["columns"][column]
    targets = col.setdefault("targets", [])
    if referenced not in targets:
        targets.append(referenced)
        targets.sort()
        col.setdefault("targets_from_relationships", []).append(referenced)
        col["targets_from_relationships"].sort()
    name = stated.get((child, schema))
    key = (column, referenced)
    navs = tables[child]["navigations"]
    if str(key) not in navs:
        navs[str(key)] = {"name": name or "", "column": column, "target": referenced,
                          "relationship": schema, "name_source": "page" if name else "rule"}
        if schema is None:
            del navs[str(key)]["relationship"]
    elif name and navs[str(key)]["name_source"] == "rule":
        navs[str(key)].update(name=name, name_source="page")
    if collection:
        tables[referenced]["collections"][collection] = {"child": child, "column": column,
                                                         "relationship": schema}


def render(data: dict) -> str:
    """The JSON text written to the data file (stable key order, one column per line)."""
    out = ['{', f' "about": {json.dumps(data["about"])},', f' "nav_rule": {json.dumps(data["nav_rule"])},',
           ' "tables": {']
    names = list(data["tables"])
    for i, name in enumerate(names):
        table = data["tables"][name]
        out.append(f'  {json.dumps(name)}: {{')
        keys = list(table)
        for j, key in enumerate(keys):
            sep = "," if j < len(keys) - 1 else ""
            value = table[key]
            if key in ("columns", "navigations", "collections") and value:
                out.append(f'   {json.dumps(key)}: {{')
                items = list(value.items())
                for k, (cname, cval) in enumerate(items):
                    csep = "," if k < len(items) - 1 else ""
                    out.append(f'    {json.dumps(cname)}: {json.dumps(cval, sort_keys=True, ensure_ascii=False)}{csep}')
                out.append(f'   }}{sep}')
            else:
                out.append(f'   {json.dumps(key)}: {json.dumps(value, sort_keys=True, ensure_ascii=False)}{sep}')
        out.append('  }' + ("," if i < len(names) - 1 else ""))
    out += [' }', '}', '']
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    """Command line: generate (or ``--check``) the emulator's schema data file."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("pages", nargs="?", type=Path, default=DEFAULT_PAGES, help="folder of <table>.md pages")
    parser.add_argument("-o", "--output", type=Path, default=DEFAULT_OUTPUT)
    parser.add_argument("--check", action="store_true", help="compare with --output instead of writing it")
    args = parser.parse_args(argv)
    if not args.pages.is_dir():
        print(f"gen_schema: no pages folder at {args.pages}", file=sys.stderr)
        return 2
    text = render(generate(args.pages))
    if args.check:
        current = args.output.read_text("utf-8") if args.output.exists() else ""
        if current != text:
            print(f"gen_schema: {args.output} is not what {args.pages} generates; rerun tools/gen_schema.py",
                  file=sys.stderr)
            return 1
        return 0
    args.output.write_text(text, "utf-8")
    n = sum(len(t["columns"]) for t in json.loads(text)["tables"].values())
    print(f"gen_schema: {args.output} ({len(json.loads(text)['tables'])} tables, {n} columns)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
