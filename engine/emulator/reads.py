"""Reading entities: ``GET`` of a set or a row, ``$filter``/``$orderby``/``$select``/``$expand``,
paging, and how a row is represented on the wire (etags, ``_x_value`` lookups, annotations).

The entity-set write handlers reuse this room for ``return=representation`` and for resolving
keys, so a row looks the same whichever request returns it.
"""

from __future__ import annotations

import re
import urllib.parse
from typing import Any, Callable

from . import costs, errors
from .filters import ATTR_PREFIX, compile_filter, hint_of
from .queryoptions import parse_expand, parse_orderby, parse_select
from .schema import Table
from .store import Store
from .wire import Request, Response, json_response

MAX_PAGE = 5000


class Reads:
    """Query and representation of a store's rows for one service root."""

    def __init__(self, store: Store, root: Callable[[], str]):
        self.store = store
        self.tables = store.tables
        self._root = root

    @property
    def root(self) -> str:
        """Absolute service root, e.g. ``http://127.0.0.1:8080/api/data/v9.2/``."""
        return self._root()

    def resolver(self, table: Table) -> Callable[[str], str]:
        def resolve(name: str) -> str:
            if name.startswith(ATTR_PREFIX):
                attr = name[len(ATTR_PREFIX):]
                col = table.columns.get(attr)
                if col is None:
                    raise errors.property_not_found(table.logical, attr)
                return col.type
            look = table.lookup_property(name)
            if look:
                return "lookup"
            col = table.columns.get(name)
            if col is None or col.type == "lookup":
                raise errors.property_not_found(table.logical, name)
            return "date" if col.date_only else col.type  # DateOnly columns compare as yyyy-MM-dd
        return resolve

    @staticmethod
    def getter(table: Table, row: dict) -> Callable[[str], Any]:
        def get(name: str) -> Any:
            if name.startswith(ATTR_PREFIX):
                return row.get(name[len(ATTR_PREFIX):])
            look = table.lookup_property(name)
            return row.get(look if look else name)
        return get

    def select(self, table: Table, params: dict[str, str]) -> list[str] | None:
        text = params.get("$select")
        if not text:
            return None
        names = parse_select(text)
        resolve = self.resolver(table)
        for n in names:
            if n in table.navs or n in table.collections:
                raise errors.bad_request(f"The navigation property '{n}' cannot be used in $select; "
                                         "use $expand instead.")
            resolve(n)
        return names

    def represent(self, table: Table, row: dict, select: list[str] | None, annotations: bool = False) -> dict:
        """A row as the Web API returns it: etag, selected columns (lookups as ``_x_value``), pk."""
        out: dict[str, Any] = {"@odata.etag": f'W/"{row.get("versionnumber")}"'}
        if select is None:
            names = [c for c, col in table.columns.items() if col.read and col.type not in ("partylist", "file")
                     and (col.type != "entityname" or c == "activitytypecode")]
        else:
            names = [table.lookup_property(n) or n for n in select]
            if table.pk not in names:
                names.append(table.pk)
        for name in names:
            col = table.columns[name]
            if col.type == "lookup":
                prop = f"_{name}_value"
                value = row.get(name)
                if annotations and value is not None:
                    target = row.get(col.type_column) if col.type_column else col.targets[0]
                    out[f"{prop}@Microsoft.Dynamics.CRM.lookuplogicalname"] = target
                    nav = next((n.name for n in table.navs.values() if n.column == name and n.target == target), None)
                    if nav:
                        out[f"{prop}@Microsoft.Dynamics.CRM.associatednavigationproperty"] = nav
                out[prop] = value
            else:
                out[name] = row.get(name)
        return out

    def compile(self, table: Table, params: dict[str, str]) -> Callable | None:
        """The ``$filter`` predicate of ``params`` (None without one)."""
        if not params.get("$filter"):
            return None
        aliases = {k: v for k, v in params.items() if k.startswith("@")}
        return compile_filter(params["$filter"], self.resolver(table), table.logical, aliases)

    def candidates(self, table: Table, pred: Callable | None) -> list[dict]:
        """The rows ``pred`` can match: from the store's indexes when its bound names indexed
        columns, else every row (the caller holds the store lock)."""
        hint = hint_of(pred) if pred is not None else None
        if hint is not None:
            alternatives = []
            for name, keys in hint:
                column = name[len(ATTR_PREFIX):] if name.startswith(ATTR_PREFIX) else (
                    table.lookup_property(name) or name)
                alternatives.append((column, keys))
            rows = self.store.where(table, alternatives)
            if rows is not None:
                return rows
        return list(self.store.rows[table.logical].values())

    def query_rows(self, table: Table, rows: list[dict], params: dict[str, str], pred=None) -> list[dict]:
        """Filter (with ``pred``, compiled from ``params`` when not given) and order ``rows``."""
        if pred is None:
            pred = self.compile(table, params)
        if pred is not None:
            costs.charge("scan_row", table.logical, len(rows))  # the rows the filter examines
            rows = [r for r in rows if pred(self.getter(table, r))]
        if params.get("$orderby"):
            order = parse_orderby(params["$orderby"])
            resolve = self.resolver(table)
            for name, _desc in order:
                resolve(name)
            for name, desc in reversed(order):
                get_name = table.lookup_property(name) or name

                def sort_key(r, n=get_name):
                    v = r.get(n)
                    return (v is not None, v.casefold() if isinstance(v, str) else v)

                rows = sorted(rows, key=sort_key, reverse=desc)
        return rows

    def expand(self, table: Table, row: dict, out: dict, items, annotations: bool) -> None:
        for item in items:
            if item.nav in table.collections:
                coll = table.collections[item.nav]
                child = self.tables[coll.child]
                with self.store.lock:
                    kids = self.store.rows_where(child.logical, coll.child_column, row[table.pk])
                kids = self.query_rows(child, kids, item.options)
                if item.options.get("$top"):
                    kids = kids[: self.top(item.options["$top"])]
                sel = self.select(child, item.options)
                costs.charge("row", child.logical, len(kids))
                out[item.nav] = [self.represent(child, k, sel, annotations) for k in kids]
            elif item.nav in table.navs:
                nav = table.navs[item.nav]
                target_table = self.tables[nav.target]
                target_id = row.get(nav.column)
                type_col = table.columns[nav.column].type_column
                target_row = None
                if target_id and (not type_col or row.get(type_col) == nav.target):
                    target_row = self.store.rows[nav.target].get(target_id)
                sel = self.select(target_table, item.options)
                out[item.nav] = self.represent(target_table, target_row, sel, annotations) if target_row else None
            else:
                raise errors.property_not_found(table.logical, item.nav)

    @staticmethod
    def top(text: str) -> int:
        if not text.isdigit():
            raise errors.bad_request(f"Invalid value '{text}' for $top query option found. The $top query option "
                                     "requires a non-negative integer value.")
        return int(text)

    def context(self, table: Table, select: list[str] | None, entity: bool = False) -> str:
        sel = f"({','.join(select)})" if select else ""
        return f"{self.root}$metadata#{table.entity_set}{sel}" + ("/$entity" if entity else "")

    def entity_url(self, table: Table, rid: str) -> str:
        return f"{self.root}{table.entity_set}({rid})"

    # ------------------------------------------------------------------ reads

    def list_entities(self, table: Table, params: dict[str, str], prefer: dict[str, str], target: str) -> Response:
        select = self.select(table, params)
        expand = parse_expand(params["$expand"]) if params.get("$expand") else []
        pred = self.compile(table, params)
        with self.store.lock:
            rows = self.candidates(table, pred)
        rows = self.query_rows(table, rows, params, pred)
        total = len(rows)
        if params.get("$top"):
            rows = rows[: self.top(params["$top"])]
        page_size = MAX_PAGE
        applied = []
        if "odata.maxpagesize" in prefer:
            try:
                page_size = int(prefer["odata.maxpagesize"])
            except ValueError:
                raise errors.bad_request("The value of odata.maxpagesize must be a positive integer.")
            if not 0 < page_size <= MAX_PAGE:
                raise errors.bad_request(f"The odata.maxpagesize preference must be between 1 and {MAX_PAGE}.")
            applied.append(f"odata.maxpagesize={page_size}")
        page = 1
        if params.get("$skiptoken"):
            page = self.decode_skiptoken(params["$skiptoken"])
        start = (page - 1) * page_size
        chunk = rows[start:start + page_size]
        costs.charge("query", table.logical)
        costs.charge("row", table.logical, len(chunk))
        annotations = "include-annotations" in " ".join(prefer) or "odata.include-annotations" in prefer
        body: dict[str, Any] = {"@odata.context": self.context(table, select)}
        if params.get("$count") == "true":
            body["@odata.count"] = min(total, MAX_PAGE)
            wanted = prefer.get("odata.include-annotations")
            # query/count-rows.md: with these annotations the count says whether it was capped.
            if _annotation_wanted(wanted, "Microsoft.Dynamics.CRM.totalrecordcount"):
                body["@Microsoft.Dynamics.CRM.totalrecordcount"] = min(total, MAX_PAGE)
            if _annotation_wanted(wanted, "Microsoft.Dynamics.CRM.totalrecordcountlimitexceeded"):
                body["@Microsoft.Dynamics.CRM.totalrecordcountlimitexceeded"] = total > MAX_PAGE
        elif params.get("$count") not in (None, "false"):
            raise errors.bad_request(f"'{params['$count']}' is not a valid count option.")
        values = []
        for r in chunk:
            item = self.represent(table, r, select, annotations)
            if expand:
                self.expand(table, r, item, expand, annotations)
            values.append(item)
        body["value"] = values
        # $top with maxpagesize: $top wins and no nextLink is offered (the observed live behaviour).
        if start + page_size < len(rows) and not params.get("$top"):
            body["@odata.nextLink"] = self.next_link(table, params, page + 1, chunk[-1][table.pk])
        if annotations:
            applied.append('odata.include-annotations="*"')
        headers = [("Preference-Applied", ",".join(applied))] if applied else []
        return json_response(200, body, headers)

    def count_entities(self, table: Table, params: dict[str, str]) -> Response:
        """``GET /{set}/$count``: the number of (filtered) rows as plain text, at most 5,000."""
        with self.store.lock:
            rows = list(self.store.rows[table.logical].values())
        rows = self.query_rows(table, rows, params)
        return Response(200, [("Content-Type", "text/plain; charset=utf-8"), ("OData-Version", "4.0")],
                        str(min(len(rows), MAX_PAGE)).encode("ascii"))

    def next_link(self, table: Table, params: dict[str, str], page: int, last_id: str) -> str:
        cookie = (f'<cookie pagenumber="{page}" pagingcookie="%3ccookie%20page%3d%22{page - 1}%22%3e%3c'
                  f'{table.pk}%20last%3d%22%7b{last_id.upper()}%7d%22%20%2f%3e%3c%2fcookie%3e" '
                  'istracking="False" />')
        kept = [(k, v) for k, v in params.items() if k != "$skiptoken"]
        query = "&".join(f"{k}={urllib.parse.quote(v, safe=',()=/:@$')}" for k, v in kept)
        token = urllib.parse.quote(cookie, safe="")
        return f"{self.root}{table.entity_set}?{query + '&' if query else ''}$skiptoken={token}"

    @staticmethod
    def decode_skiptoken(token: str) -> int:
        m = re.search(r'pagenumber="(\d+)"', token)
        if not m:
            raise errors.bad_request("The $skiptoken value is not valid.")
        return int(m.group(1))

    def find(self, table: Table, key) -> str:
        rid = self.store.find(table, key)
        if rid is None:
            if isinstance(key, str):
                raise errors.not_found(table.logical, key)
            raise errors.key_not_found(table.logical)
        return rid

    def get_entity(self, table: Table, key, params, prefer, req: Request) -> Response:
        select = self.select(table, params)
        expand = parse_expand(params["$expand"]) if params.get("$expand") else []
        with self.store.lock:
            rid = self.find(table, key)
            row = self.store.rows[table.logical][rid]
        costs.charge("retrieve", table.logical)
        costs.charge("row", table.logical)
        etag = f'W/"{row["versionnumber"]}"'
        inm = req.headers.get("if-none-match")
        if inm and inm.strip() == etag and not expand and "odata.include-annotations" not in prefer:
            return Response(304, [("OData-Version", "4.0")])
        annotations = "odata.include-annotations" in prefer
        body = {"@odata.context": self.context(table, select, entity=True)}
        body.update(self.represent(table, row, select, annotations))
        if expand:
            self.expand(table, row, body, expand, annotations)
        return json_response(200, body, [("ETag", etag)])


def _annotation_wanted(preference: str | None, name: str) -> bool:
    """Whether ``odata.include-annotations`` asks for ``name`` (``*``, ``ns.*`` or the name)."""
    if not preference:
        return False
    for item in preference.split(","):
        item = item.strip()
        if item == "*" or item == name or (item.endswith(".*") and name.startswith(item[:-1])):
            return True
    return False
