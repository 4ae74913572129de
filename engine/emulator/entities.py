"""The entity-set handlers that change rows: create, upsert/update, delete, single-property
``PUT``/``DELETE`` and ``$ref`` (associate/disassociate), plus the ``GET`` of a row's property
or navigation, which shares their key and property resolution.
"""

from __future__ import annotations

from . import errors
from .reads import Reads
from .schema import Table
from .store import Store
from .wire import Request, Response, created_headers, json_response, read_body


class EntityHandlers:
    """One request on ``set(key)``, ``set(key)/prop`` or ``set(key)/nav/$ref``, or a create on ``set``."""

    def __init__(self, store: Store, reads: Reads):
        self.store = store
        self.tables = store.tables
        self.reads = reads

    @property
    def root(self) -> str:
        """Absolute service root (the reads' root)."""
        return self.reads.root

    def property_request(self, table: Table, key, prop: str, req: Request, params, prefer, ctx) -> Response:
        method = req.method.upper()
        rid = self.reads.find(table, key)
        if prop in table.collections:
            coll = table.collections[prop]
            child = self.tables[coll.child]
            if method != "GET":
                raise errors.no_http_resource(req.target)
            select = self.reads.select(child, params)
            with self.store.lock:
                kids = [r for r in self.store.rows[child.logical].values() if r.get(coll.child_column) == rid]
            kids = self.reads.query_rows(child, kids, params)
            if params.get("$top"):
                kids = kids[: self.reads.top(params["$top"])]
            return json_response(200, {"@odata.context": self.reads.context(child, select),
                               "value": [self.reads.represent(child, k, select) for k in kids]})
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
            select = self.reads.select(target, params)
            body = {"@odata.context": self.reads.context(target, select, entity=True)}
            body.update(self.reads.represent(target, self.store.rows[nav.target][tid], select))
            return json_response(200, body)
        col = table.columns.get(prop)
        if col is None or col.type == "lookup":
            raise errors.resource_not_found(prop)
        if method == "GET":
            value = self.store.rows[table.logical][rid].get(prop)
            if value is None:
                return Response(204, [("OData-Version", "4.0")])
            return json_response(200, {"@odata.context": f"{self.root}$metadata#{table.entity_set}({rid})/{prop}",
                               "value": value})
        if method == "PUT":
            body = read_body(req, table)
            if not isinstance(body, dict) or set(body) != {"value"}:
                raise errors.payload_error(table.entity_set, "A single property PUT needs a body {\"value\": ...}.")
            self.store.update(table, rid, {prop: body["value"]}, ctx)
            return Response(204, [("OData-Version", "4.0")])
        if method == "DELETE":
            self.store.update(table, rid, {prop: None}, ctx)
            return Response(204, [("OData-Version", "4.0")])
        raise errors.no_http_resource(req.target)

    def ref_request(self, table: Table, key, prop: str, req: Request, ctx) -> Response:
        method = req.method.upper()
        rid = self.reads.find(table, key)
        if prop in table.navs:
            if method == "DELETE":
                self.store.set_lookup(table, rid, prop, None)
                return Response(204, [("OData-Version", "4.0")])
            if method == "PUT":
                body = read_body(req, table)
                if not isinstance(body, dict) or not isinstance(body.get("@odata.id"), str):
                    raise errors.payload_error(table.entity_set, "A $ref body needs an '@odata.id' string.")
                target = self.store.resolve_reference(body["@odata.id"], ctx, table.entity_set)
                self.store.set_lookup(table, rid, prop, target)
                return Response(204, [("OData-Version", "4.0")])
        elif prop in table.collections and method == "POST":
            body = read_body(req, table)
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

    def create(self, table: Table, req: Request, params, prefer, ctx, in_batch: bool) -> Response:
        body = read_body(req, table)
        rid = self.store.create(table, body, ctx)
        if prefer.get("return") == "representation":
            select = self.reads.select(table, params)
            row = self.store.rows[table.logical][rid]
            payload = {"@odata.context": self.reads.context(table, select, entity=True)}
            payload.update(self.reads.represent(table, row, select))
            return json_response(201, payload, [("Preference-Applied", "return=representation")], streaming=False)
        # ctx.service_root is the root this request was answered under (self.root, read once)
        return Response(204, created_headers(f"{ctx.service_root}{table.entity_set}({rid})", in_batch))

    def patch(self, table: Table, key, key_text: str, req: Request, params, prefer, ctx, in_batch) -> Response:
        body = read_body(req, table)
        if_match = req.headers.get("if-match")
        if_none_match = req.headers.get("if-none-match")
        if if_none_match and if_none_match.strip() != "*":
            if_none_match = None  # "If-None-Match: null" is a cache override, not a condition
        rid, created = self.store.upsert(table, key, body, ctx, if_match=if_match, if_none_match=if_none_match)
        if prefer.get("return") == "representation":
            select = self.reads.select(table, params)
            payload = {"@odata.context": self.reads.context(table, select, entity=True)}
            payload.update(self.reads.represent(table, self.store.rows[table.logical][rid], select))
            return json_response(201 if created else 200, payload, [("Preference-Applied", "return=representation")],
                         streaming=False)
        url = f"{ctx.service_root}{table.entity_set}({rid if isinstance(key, str) else key_text})"
        return Response(204, created_headers(url, in_batch))

    def delete(self, table: Table, key, req: Request) -> Response:
        with self.store.atomic():
            rid = self.reads.find(table, key)
            if_match = req.headers.get("if-match")
            if if_match and if_match.strip() != "*":
                if if_match.strip() != f'W/"{self.store.rows[table.logical][rid]["versionnumber"]}"':
                    raise errors.etag_mismatch()
            self.store.delete(table, rid)
        return Response(204, [("OData-Version", "4.0")])
