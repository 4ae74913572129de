"""The Web API itself, independent of the socket layer: request in, response out.

:class:`Service` routes ``/api/data/v9.2/...`` to the store and renders the answers the way the
service does (status codes, ``OData-EntityId``, ``@odata.context``, error bodies). ``$batch``
parts are dispatched through the same :meth:`Service.handle`, so a request behaves identically
inside and outside a batch, apart from what the service itself varies (``Location`` headers,
the 64 KB URL limit, ``$n`` references).
"""

from __future__ import annotations

import json
import urllib.parse
import uuid
from dataclasses import dataclass, field
from typing import Any, Callable

from . import batch as batchmod
from . import errors, metadata
from .filters import ATTR_PREFIX, compile_filter
from .keys import parse_key
from .queryoptions import parse_expand, parse_orderby, parse_select
from .schema import Table
from .references import WriteContext
from .store import Store

JSON_CT = "application/json; odata.metadata=minimal"
JSON_STREAM_CT = "application/json; odata.metadata=minimal; odata.streaming=true"
MAX_URL = 32768
MAX_PAGE = 5000
_ALLOWED_OPTIONS = {"$select", "$filter", "$orderby", "$top", "$count", "$expand", "$skiptoken"}
_UNSUPPORTED_PARAMS = {"fetchXml", "savedQuery", "userQuery"}


@dataclass
class Request:
    """An HTTP request as the service sees it (header names lower-case)."""

    method: str
    target: str
    headers: dict[str, str]
    body: bytes = b""


@dataclass
class Response:
    """An HTTP response: status, ordered headers, body."""

    status: int
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""
    reason: str | None = None

    def header(self, name: str) -> str | None:
        """First header called ``name`` (case-insensitive)."""
        for k, v in self.headers:
            if k.lower() == name.lower():
                return v
        return None


def error_response(err: errors.ODataError, in_batch: bool = False) -> Response:
    """The JSON error response; batch parts also carry ``REQ_ID`` like the documented examples."""
    headers = []
    if in_batch:
        headers.append(("REQ_ID", str(uuid.uuid4())))
    headers += [("Content-Type", JSON_CT), ("OData-Version", "4.0")]
    headers += list(err.headers.items())
    return Response(err.status, headers, err.body())


def _json(status: int, payload: Any, extra: list[tuple[str, str]] | None = None, streaming: bool = True) -> Response:
    body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    headers = [("Content-Type", JSON_STREAM_CT if streaming else JSON_CT), ("OData-Version", "4.0")]
    return Response(status, headers + list(extra or []), body)


class _DuplicateProperty(Exception):
    def __init__(self, name: str):
        super().__init__(name)
        self.name = name


def _unique_properties(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """``json.loads`` hook: the OData reader refuses a property named twice, where ``json``
    would silently keep the last value and hide a client bug that the service reports."""
    out: dict[str, Any] = {}
    for name, value in pairs:
        if name in out:
            raise _DuplicateProperty(name)
        out[name] = value
    return out


def parse_prefer(value: str | None) -> dict[str, str]:
    """``Prefer`` header → {preference: value} (``return=representation`` → {'return': 'representation'})."""
    out: dict[str, str] = {}
    for item in (value or "").split(","):
        item = item.strip()
        if not item:
            continue
        name, _, val = item.partition("=")
        out[name.strip().lower()] = val.strip().strip('"')
    return out


def split_segments(path: str) -> list[str]:
    """Split a decoded resource path on ``/`` outside quotes and parentheses."""
    segs, cur, depth, quote = [], [], 0, False
    i = 0
    while i < len(path):
        ch = path[i]
        if quote:
            cur.append(ch)
            if ch == "'":
                if i + 1 < len(path) and path[i + 1] == "'":
                    cur.append("'")
                    i += 1
                else:
                    quote = False
        elif ch == "'":
            quote = True
            cur.append(ch)
        elif ch == "(":
            depth += 1
            cur.append(ch)
        elif ch == ")":
            depth -= 1
            cur.append(ch)
        elif ch == "/" and depth == 0:
            segs.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
        i += 1
    segs.append("".join(cur))
    return segs


def _split_name_key(seg: str) -> tuple[str, str | None]:
    if "(" in seg and seg.endswith(")"):
        name, _, rest = seg.partition("(")
        return name, rest[:-1]
    return seg, None


class Service:
    """Routes Web API requests to the store; thread-safe (the store holds the lock)."""

    def __init__(self, store: Store, *, root: Callable[[], str], bump: Callable[[str, int], None],
                 op_delay: Callable[[int], None],
                 continue_after_failed_changeset: bool = True):
        self.store = store
        self.tables = store.tables
        self._root = root
        self.bump = bump  # thread-safe counter increment owned by the server
        self.op_delay = op_delay
        self.continue_after_failed_changeset = continue_after_failed_changeset

    @property
    def root(self) -> str:
        """Absolute service root, e.g. ``http://127.0.0.1:8080/api/data/v9.2/``."""
        return self._root()

    # ------------------------------------------------------------------ entry point

    def handle(self, req: Request, ctx: WriteContext | None = None, in_batch: bool = False) -> Response:
        """Answer one request (never raises for client errors: they become error responses)."""
        try:
            return self._route(req, ctx or WriteContext(service_root=self.root), in_batch)
        except errors.ODataError as err:
            return error_response(err, in_batch)

    def _route(self, req: Request, ctx: WriteContext, in_batch: bool) -> Response:
        target = req.target
        if in_batch and target.startswith("$"):
            ref, _, tail = target[1:].partition("/")
            if ref not in ctx.content_ids:
                raise errors.bad_request(f"Content-ID Reference: '${ref}' does not exist in the batch context.")
            target = ctx.content_ids[ref] + ("/" + tail if tail else "")
            target = self.root + target
        if "://" in target:
            parsed = urllib.parse.urlsplit(target)
            target = parsed.path + ("?" + parsed.query if parsed.query else "")
        raw_path, _, query = target.partition("?")
        prefix = "/api/data/v9.2/"
        if not raw_path.startswith("/"):
            raw_path = prefix + raw_path  # relative part URLs in a batch ("tasks")
        for version in ("v9.0", "v9.1", "v9.2"):
            p = f"/api/data/{version}/"
            if raw_path.startswith(p) or raw_path == p[:-1]:
                rest = raw_path[len(p):]
                break
        else:
            raise errors.no_http_resource(target)
        path = urllib.parse.unquote(rest)
        params = self._params(query)
        segments = split_segments(path) if path else []
        method = req.method.upper()
        if not segments or segments == [""]:
            return self._service_document()
        head = segments[0]
        if not in_batch and head != "$batch":
            self.bump("operations", 1)
        if head == "$batch":
            if method != "POST" or in_batch or len(segments) != 1:
                raise errors.no_http_resource(self.root + path)
            return self._batch(req)
        if head == "WhoAmI" and len(segments) == 1:
            if method != "GET":
                raise errors.no_http_resource(self.root + path)
            return _json(200, {"@odata.context": f"{self.root}$metadata#Microsoft.Dynamics.CRM.WhoAmIResponse",
                               "BusinessUnitId": "3d3c0b46-21c0-4b2f-8f44-39bde0d6a9f1",
                               "UserId": "7d5b4a2e-93b5-4d7d-9c1b-3a3c1f0e5a11",
                               "OrganizationId": "0f6c9a44-5a8b-4c0e-8a9e-2f4d5c6b7a80"}, streaming=False)
        if head == "EntityDefinitions" or head.startswith("EntityDefinitions("):
            if method != "GET":
                raise errors.no_http_resource(self.root + path)
            status, body = metadata.handle(self.store, self.tables, segments, params, self.root)
            return _json(status, body)
        name, key_text = _split_name_key(head)
        table = self.store.by_set.get(name)
        if table is None:
            raise errors.resource_not_found(name)
        prefer = parse_prefer(req.headers.get("prefer"))
        if key_text is None:
            if len(segments) == 1:
                if method == "GET":
                    return self._list(table, params, prefer, target)
                if method == "POST":
                    return self._create(table, req, params, prefer, ctx, in_batch)
            elif len(segments) == 2 and segments[1].startswith("Microsoft.Dynamics.CRM.") and method == "POST":
                return self._bulk(table, segments[1][len("Microsoft.Dynamics.CRM."):], req, ctx)
            raise errors.no_http_resource(self.root + path)
        key = parse_key(key_text)
        if len(segments) == 1:
            if method == "GET":
                return self._get(table, key, params, prefer, req)
            if method == "PATCH":
                return self._patch(table, key, key_text, req, params, prefer, ctx, in_batch)
            if method == "DELETE":
                return self._delete(table, key, req)
            raise errors.no_http_resource(self.root + path)
        prop = segments[1]
        if len(segments) == 2:
            return self._property(table, key, prop, req, params, prefer, ctx)
        if len(segments) == 3 and segments[2] == "$ref":
            return self._ref(table, key, prop, req, ctx)
        raise errors.resource_not_found(segments[2])

    def _params(self, query: str) -> dict[str, str]:
        out: dict[str, str] = {}
        for k, v in urllib.parse.parse_qsl(query, keep_blank_values=True):
            if k in out:
                raise errors.bad_request(
                    f"Query option '{k}' was specified more than once, but it must be specified at most once.")
            if k.startswith("$") and k not in _ALLOWED_OPTIONS:
                if k == "$skip":
                    raise errors.bad_request("The query parameter $skip is not supported")
                raise errors.bad_request(f"The query parameter '{k}' is not supported.")
            if k in _UNSUPPORTED_PARAMS:
                raise errors.bad_request(f"The query parameter '{k}' is not supported by this emulator.")
            out[k] = v
        return out

    def _service_document(self) -> Response:
        return _json(200, {"@odata.context": f"{self.root}$metadata",
                           "value": [{"name": t.entity_set, "kind": "EntitySet", "url": t.entity_set}
                                     for t in self.tables.values()]}, streaming=False)

    # ------------------------------------------------------------------ helpers

    def _body(self, req: Request, table: Table) -> Any:
        ct = req.headers.get("content-type")
        if not ct or "application/json" not in ct.lower():
            raise errors.ODataError(415, "", f"The request entity's media type '{ct or ''}' is not supported "
                                             "for this resource.")
        try:
            return json.loads(req.body.decode("utf-8") or "null", object_pairs_hook=_unique_properties)
        except _DuplicateProperty as dup:
            raise errors.payload_error(
                table.entity_set, f"Multiple properties with the name '{dup.name}' were detected in an entry or a "
                                  "complex value. In OData, duplicate property names are not allowed.")
        except (UnicodeDecodeError, ValueError) as exc:
            raise errors.payload_error(table.entity_set, f"Invalid JSON. {exc}")

    def _resolver(self, table: Table) -> Callable[[str], str]:
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
            return col.type
        return resolve

    @staticmethod
    def _getter(table: Table, row: dict) -> Callable[[str], Any]:
        def get(name: str) -> Any:
            if name.startswith(ATTR_PREFIX):
                return row.get(name[len(ATTR_PREFIX):])
            look = table.lookup_property(name)
            return row.get(look if look else name)
        return get

    def _select(self, table: Table, params: dict[str, str]) -> list[str] | None:
        text = params.get("$select")
        if not text:
            return None
        names = parse_select(text)
        resolve = self._resolver(table)
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
            names = [c for c in table.columns if table.columns[c].type != "entityname" or c == "activitytypecode"]
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

    def _query_rows(self, table: Table, rows: list[dict], params: dict[str, str]) -> list[dict]:
        if params.get("$filter"):
            aliases = {k: v for k, v in params.items() if k.startswith("@")}
            pred = compile_filter(params["$filter"], self._resolver(table), table.logical, aliases)
            rows = [r for r in rows if pred(self._getter(table, r))]
        if params.get("$orderby"):
            order = parse_orderby(params["$orderby"])
            resolve = self._resolver(table)
            for name, _desc in order:
                resolve(name)
            for name, desc in reversed(order):
                get_name = table.lookup_property(name) or name

                def sort_key(r, n=get_name):
                    v = r.get(n)
                    return (v is not None, v.casefold() if isinstance(v, str) else v)

                rows = sorted(rows, key=sort_key, reverse=desc)
        return rows

    def _expand(self, table: Table, row: dict, out: dict, items, annotations: bool) -> None:
        for item in items:
            if item.nav in table.collections:
                coll = table.collections[item.nav]
                child = self.tables[coll.child]
                with self.store.lock:
                    kids = [r for r in self.store.rows[child.logical].values()
                            if r.get(coll.child_column) == row[table.pk]]
                kids = self._query_rows(child, kids, item.options)
                if item.options.get("$top"):
                    kids = kids[: self._top(item.options["$top"])]
                sel = self._select(child, item.options)
                out[item.nav] = [self.represent(child, k, sel, annotations) for k in kids]
            elif item.nav in table.navs:
                nav = table.navs[item.nav]
                target_table = self.tables[nav.target]
                target_id = row.get(nav.column)
                type_col = table.columns[nav.column].type_column
                target_row = None
                if target_id and (not type_col or row.get(type_col) == nav.target):
                    target_row = self.store.rows[nav.target].get(target_id)
                sel = self._select(target_table, item.options)
                out[item.nav] = self.represent(target_table, target_row, sel, annotations) if target_row else None
            else:
                raise errors.property_not_found(table.logical, item.nav)

    @staticmethod
    def _top(text: str) -> int:
        if not text.isdigit():
            raise errors.bad_request(f"Invalid value '{text}' for $top query option found. The $top query option "
                                     "requires a non-negative integer value.")
        return int(text)

    def _context(self, table: Table, select: list[str] | None, entity: bool = False) -> str:
        sel = f"({','.join(select)})" if select else ""
        return f"{self.root}$metadata#{table.entity_set}{sel}" + ("/$entity" if entity else "")

    def _entity_url(self, table: Table, rid: str) -> str:
        return f"{self.root}{table.entity_set}({rid})"

    # ------------------------------------------------------------------ reads

    def _list(self, table: Table, params: dict[str, str], prefer: dict[str, str], target: str) -> Response:
        select = self._select(table, params)
        expand = parse_expand(params["$expand"]) if params.get("$expand") else []
        with self.store.lock:
            rows = list(self.store.rows[table.logical].values())
        rows = self._query_rows(table, rows, params)
        total = len(rows)
        if params.get("$top"):
            rows = rows[: self._top(params["$top"])]
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
            page = self._decode_skiptoken(params["$skiptoken"])
        start = (page - 1) * page_size
        chunk = rows[start:start + page_size]
        annotations = "include-annotations" in " ".join(prefer) or "odata.include-annotations" in prefer
        body: dict[str, Any] = {"@odata.context": self._context(table, select)}
        if params.get("$count") == "true":
            body["@odata.count"] = min(total, MAX_PAGE)
        elif params.get("$count") not in (None, "false"):
            raise errors.bad_request(f"'{params['$count']}' is not a valid count option.")
        values = []
        for r in chunk:
            item = self.represent(table, r, select, annotations)
            if expand:
                self._expand(table, r, item, expand, annotations)
            values.append(item)
        body["value"] = values
        # $top with maxpagesize: $top wins and no nextLink is offered (the observed live behaviour).
        if start + page_size < len(rows) and not params.get("$top"):
            body["@odata.nextLink"] = self._next_link(table, params, page + 1, chunk[-1][table.pk])
        if annotations:
            applied.append('odata.include-annotations="*"')
        headers = [("Preference-Applied", ",".join(applied))] if applied else []
        return _json(200, body, headers)

    def _next_link(self, table: Table, params: dict[str, str], page: int, last_id: str) -> str:
        cookie = (f'<cookie pagenumber="{page}" pagingcookie="%3ccookie%20page%3d%22{page - 1}%22%3e%3c'
                  f'{table.pk}%20last%3d%22%7b{last_id.upper()}%7d%22%20%2f%3e%3c%2fcookie%3e" '
                  'istracking="False" />')
        kept = [(k, v) for k, v in params.items() if k != "$skiptoken"]
        query = "&".join(f"{k}={urllib.parse.quote(v, safe=',()=/:@$')}" for k, v in kept)
        token = urllib.parse.quote(cookie, safe="")
        return f"{self.root}{table.entity_set}?{query + '&' if query else ''}$skiptoken={token}"

    @staticmethod
    def _decode_skiptoken(token: str) -> int:
        import re

        m = re.search(r'pagenumber="(\d+)"', token)
        if not m:
            raise errors.bad_request("The $skiptoken value is not valid.")
        return int(m.group(1))

    def _find(self, table: Table, key) -> str:
        rid = self.store.find(table, key)
        if rid is None:
            if isinstance(key, str):
                raise errors.not_found(table.logical, key)
            raise errors.key_not_found(table.logical)
        return rid

    def _get(self, table: Table, key, params, prefer, req: Request) -> Response:
        select = self._select(table, params)
        expand = parse_expand(params["$expand"]) if params.get("$expand") else []
        with self.store.lock:
            rid = self._find(table, key)
            row = self.store.rows[table.logical][rid]
        etag = f'W/"{row["versionnumber"]}"'
        inm = req.headers.get("if-none-match")
        if inm and inm.strip() == etag and not expand and "odata.include-annotations" not in prefer:
            return Response(304, [("OData-Version", "4.0")])
        annotations = "odata.include-annotations" in prefer
        body = {"@odata.context": self._context(table, select, entity=True)}
        body.update(self.represent(table, row, select, annotations))
        if expand:
            self._expand(table, row, body, expand, annotations)
        return _json(200, body, [("ETag", etag)])

    def _property(self, table: Table, key, prop: str, req: Request, params, prefer, ctx) -> Response:
        method = req.method.upper()
        rid = self._find(table, key)
        if prop in table.collections:
            coll = table.collections[prop]
            child = self.tables[coll.child]
            if method != "GET":
                raise errors.no_http_resource(req.target)
            select = self._select(child, params)
            with self.store.lock:
                kids = [r for r in self.store.rows[child.logical].values() if r.get(coll.child_column) == rid]
            kids = self._query_rows(child, kids, params)
            if params.get("$top"):
                kids = kids[: self._top(params["$top"])]
            return _json(200, {"@odata.context": self._context(child, select),
                               "value": [self.represent(child, k, select) for k in kids]})
        if prop in table.navs:
            if method != "GET":
                raise errors.no_http_resource(req.target)
            nav = table.navs[prop]
            row = self.store.rows[table.logical][rid]
            tid = row.get(nav.column)
            type_col = table.columns[nav.column].type_column
            if not tid or (type_col and row.get(type_col) != nav.target):
                return Response(204, [("OData-Version", "4.0")])
            target = self.tables[nav.target]
            select = self._select(target, params)
            body = {"@odata.context": self._context(target, select, entity=True)}
            body.update(self.represent(target, self.store.rows[nav.target][tid], select))
            return _json(200, body)
        col = table.columns.get(prop)
        if col is None or col.type == "lookup":
            raise errors.resource_not_found(prop)
        if method == "GET":
            value = self.store.rows[table.logical][rid].get(prop)
            if value is None:
                return Response(204, [("OData-Version", "4.0")])
            return _json(200, {"@odata.context": f"{self.root}$metadata#{table.entity_set}({rid})/{prop}",
                               "value": value})
        if method == "PUT":
            body = self._body(req, table)
            if not isinstance(body, dict) or set(body) != {"value"}:
                raise errors.payload_error(table.entity_set, "A single property PUT needs a body {\"value\": ...}.")
            self.store.update(table, rid, {prop: body["value"]}, ctx)
            return Response(204, [("OData-Version", "4.0")])
        if method == "DELETE":
            self.store.update(table, rid, {prop: None}, ctx)
            return Response(204, [("OData-Version", "4.0")])
        raise errors.no_http_resource(req.target)

    def _ref(self, table: Table, key, prop: str, req: Request, ctx) -> Response:
        method = req.method.upper()
        rid = self._find(table, key)
        if prop in table.navs:
            if method == "DELETE":
                self.store.set_lookup(table, rid, prop, None)
                return Response(204, [("OData-Version", "4.0")])
            if method == "PUT":
                body = self._body(req, table)
                if not isinstance(body, dict) or not isinstance(body.get("@odata.id"), str):
                    raise errors.payload_error(table.entity_set, "A $ref body needs an '@odata.id' string.")
                target = self.store.resolve_reference(body["@odata.id"], ctx, table.entity_set)
                self.store.set_lookup(table, rid, prop, target)
                return Response(204, [("OData-Version", "4.0")])
        elif prop in table.collections and method == "POST":
            body = self._body(req, table)
            if not isinstance(body, dict) or not isinstance(body.get("@odata.id"), str):
                raise errors.payload_error(table.entity_set, "A $ref body needs an '@odata.id' string.")
            child, cid = self.store.resolve_reference(body["@odata.id"], ctx, table.entity_set)
            if child.logical != table.collections[prop].child:
                raise errors.bad_request(f"The navigation property '{prop}' cannot refer to a '{child.logical}'.")
            self.store.bind_children(table, rid, prop, [(child, cid)])
            return Response(204, [("OData-Version", "4.0")])
        elif prop not in table.collections:
            raise errors.resource_not_found(prop)
        raise errors.no_http_resource(req.target)

    # ------------------------------------------------------------------ writes

    def _created_headers(self, url: str, in_batch: bool) -> list[tuple[str, str]]:
        # A key echoed from the URL may hold any character; header values are ASCII on the wire
        # (http.server refuses anything outside latin-1 and drops the connection), so
        # percent-encode what is not printable ASCII, as the URL itself was sent.
        url = "".join(c if " " < c < "\x7f" else urllib.parse.quote(c, safe="") for c in url)
        headers = [("OData-Version", "4.0")]
        if in_batch:
            headers.append(("Location", url))
        headers.append(("OData-EntityId", url))
        return headers

    def _create(self, table: Table, req: Request, params, prefer, ctx, in_batch: bool) -> Response:
        body = self._body(req, table)
        rid = self.store.create(table, body, ctx)
        if prefer.get("return") == "representation":
            select = self._select(table, params)
            row = self.store.rows[table.logical][rid]
            payload = {"@odata.context": self._context(table, select, entity=True)}
            payload.update(self.represent(table, row, select))
            return _json(201, payload, [("Preference-Applied", "return=representation")], streaming=False)
        return Response(204, self._created_headers(self._entity_url(table, rid), in_batch))

    def _patch(self, table: Table, key, key_text: str, req: Request, params, prefer, ctx, in_batch) -> Response:
        body = self._body(req, table)
        if_match = req.headers.get("if-match")
        if_none_match = req.headers.get("if-none-match")
        if if_none_match and if_none_match.strip() != "*":
            if_none_match = None  # "If-None-Match: null" is a cache override, not a condition
        rid, created = self.store.upsert(table, key, body, ctx, if_match=if_match, if_none_match=if_none_match)
        if prefer.get("return") == "representation":
            select = self._select(table, params)
            payload = {"@odata.context": self._context(table, select, entity=True)}
            payload.update(self.represent(table, self.store.rows[table.logical][rid], select))
            return _json(201 if created else 200, payload, [("Preference-Applied", "return=representation")],
                         streaming=False)
        url = f"{self.root}{table.entity_set}({rid if isinstance(key, str) else key_text})"
        return Response(204, self._created_headers(url, in_batch))

    def _delete(self, table: Table, key, req: Request) -> Response:
        with self.store.atomic():
            rid = self._find(table, key)
            if_match = req.headers.get("if-match")
            if if_match and if_match.strip() != "*":
                if if_match.strip() != f'W/"{self.store.rows[table.logical][rid]["versionnumber"]}"':
                    raise errors.etag_mismatch()
            self.store.delete(table, rid)
        return Response(204, [("OData-Version", "4.0")])

    def _bulk(self, table: Table, action: str, req: Request, ctx: WriteContext) -> Response:
        if action not in ("CreateMultiple", "UpdateMultiple", "UpsertMultiple"):
            raise errors.resource_not_found(f"Microsoft.Dynamics.CRM.{action}")
        if not table.bulk:
            raise errors.unsupported_message(action, table.logical)
        body = self._body(req, table)
        if not isinstance(body, dict) or set(body) != {"Targets"} or not isinstance(body["Targets"], list):
            raise errors.bad_request("The action requires exactly one parameter 'Targets' holding an array of "
                                     f"Microsoft.Dynamics.CRM.{table.logical} entities.", code="0x80048d19")
        targets = body["Targets"]
        for t in targets:
            if not isinstance(t, dict) or "@odata.type" not in t:
                raise errors.payload_error(
                    table.entity_set,
                    "A resource without a type name was found, but no expected type was specified. To allow "
                    "entries without type information, the expected type must also be specified when the model "
                    "is specified.")
        self.bump("bulk_targets", len(targets))
        self.op_delay(len(targets))
        with self.store.atomic():  # standard tables: one transaction, any error rolls back all
            if action == "CreateMultiple":
                ids = []
                for t in targets:
                    ids.append(self.store.create(table, t, ctx))
                return _json(200, {"@odata.context": f"{self.root}$metadata#Microsoft.Dynamics.CRM."
                                                     "CreateMultipleResponse", "Ids": ids}, streaming=False)
            if action == "UpdateMultiple":
                seen = set()
                for t in targets:
                    rid = t.get(table.pk)
                    if not isinstance(rid, str):
                        raise errors.bad_request(f"The primary key '{table.pk}' is required for each target of "
                                                 "UpdateMultiple; alternate keys are not supported here.",
                                                 code="0x80040203")
                    rid = rid.lower()
                    if rid in seen:
                        continue  # duplicate targets: only the first is applied (documented)
                    seen.add(rid)
                    if rid not in self.store.rows[table.logical]:
                        raise errors.not_found(table.logical, rid)
                    self.store.update(table, rid, t, ctx)
                return Response(204, [("OData-Version", "4.0")])
            seen_keys = set()
            for t in targets:
                odata_id = t.get("@odata.id")
                body_t = {k: v for k, v in t.items() if k != "@odata.id"}
                if odata_id is not None:
                    if not isinstance(odata_id, str):
                        raise errors.payload_error(table.entity_set, "'@odata.id' must be a string.")
                    ref = odata_id
                    if ref.startswith(self.root):
                        ref = ref[len(self.root):]
                    ref = ref.lstrip("/")
                    name, key_text = _split_name_key(ref)
                    if name != table.entity_set or key_text is None:
                        raise errors.bad_request(f"The '@odata.id' value '{odata_id}' does not identify a "
                                                 f"{table.logical} record.")
                    key = parse_key(key_text)
                elif table.pk in t and isinstance(t[table.pk], str):
                    key = t[table.pk].lower()
                else:
                    raise errors.bad_request("Each UpsertMultiple target needs '@odata.id' or its primary key.",
                                             code="0x80040203")
                marker = json.dumps(key, sort_keys=True).casefold()
                if marker in seen_keys:
                    raise errors.bad_request("Duplicate key values were found in the UpsertMultiple request.",
                                             code="0x80040237")
                seen_keys.add(marker)
                rid = self.store.find(table, key)
                if rid is not None:
                    self.store.update(table, rid, body_t, ctx)
                elif isinstance(key, str):
                    self.store.create(table, body_t, ctx)
                else:
                    if any(c in body_t for c in key):
                        raise errors.unexpected()  # PR #127: key columns in @odata.id and body on create
                    self.store.create(table, body_t, ctx, key_values=key)
            return Response(204, [("OData-Version", "4.0")])

    # ------------------------------------------------------------------ $batch

    def _batch(self, req: Request) -> Response:
        items = batchmod.parse(req.body, req.headers.get("content-type"))
        self.bump("batch_requests", 1)
        prefer = parse_prefer(req.headers.get("prefer"))
        continue_on_error = "odata.continue-on-error" in prefer
        ctx = WriteContext(service_root=self.root)
        auth = req.headers.get("authorization")

        def dispatch(op: batchmod.Operation) -> batchmod.PartResponse:
            self.bump("operations", 1)
            self.op_delay(1)
            if len(op.url) > batchmod.MAX_PART_URL:
                resp = error_response(errors.ODataError(414, "", "The request URL is too long."), True)
            else:
                headers = dict(op.headers)
                if auth:
                    headers.setdefault("authorization", auth)
                resp = self.handle(Request(op.method, op.url, headers, op.body), ctx=ctx, in_batch=True)
            return batchmod.PartResponse(resp.status, resp.headers, resp.body)

        def register(op: batchmod.Operation, resp: batchmod.PartResponse) -> None:
            if op.content_id is None:
                return
            url = next((v for k, v in resp.headers if k == "OData-EntityId"), None)
            if url and url.startswith(self.root):
                ctx.content_ids[op.content_id] = url[len(self.root):]

        def forget(ops: list[batchmod.Operation]) -> None:
            for op in ops:
                if op.content_id is not None:
                    ctx.content_ids.pop(op.content_id, None)

        outcome = batchmod.execute(items, dispatch, self.store.changeset, register, forget,
                                   continue_on_error=continue_on_error,
                                   continue_after_failed_changeset=self.continue_after_failed_changeset)
        headers = [("Content-Type", f"multipart/mixed; boundary={outcome.boundary}"), ("OData-Version", "4.0")]
        if continue_on_error:
            headers.append(("Preference-Applied", "odata.continue-on-error"))
        return Response(outcome.status, headers, outcome.body, reason="BadRequest" if outcome.status == 400 else None)
