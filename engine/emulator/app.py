"""The Web API itself, independent of the socket layer: request in, response out.

:class:`Service` routes ``/api/data/v9.2/...`` to the rooms that answer it and renders errors
the way the service does. The rooms: :mod:`.reads` (``GET`` of sets and rows),
:mod:`.entities` (writes on a set or row, properties, ``$ref``), :mod:`.actions` (bulk actions,
``WhoAmI``), :mod:`.metadata` (``EntityDefinitions``) and ``$batch`` below, whose parts are
dispatched through the same :meth:`Service.handle`, so a request behaves identically inside and
outside a batch, apart from what the service itself varies (``Location`` headers, the 64 KB URL
limit, ``$n`` references). :mod:`.wire` holds the request/response shapes they share.
"""

from __future__ import annotations

import re
import urllib.parse
from typing import Callable

from . import batch as batchmod
from . import costs, csdl, errors, metadata
from .actions import WHOAMI, BulkActions, who_am_i
from .entities import EntityHandlers
from .keys import parse_key
from .reads import Reads
from .security import Security, sdk_message_filters
from .references import WriteContext
from .schema import Table
from .store import Store
from .wire import Request, Response, error_response, json_response, parse_prefer, split_name_key, split_segments

_ALLOWED_OPTIONS = {"$select", "$filter", "$orderby", "$top", "$count", "$expand", "$skiptoken"}
_UNSUPPORTED_PARAMS = {"fetchXml", "savedQuery", "userQuery"}
_PRIVILEGE_FUNCTION = "Microsoft.Dynamics.CRM.RetrieveUserPrivilegeByPrivilegeName"
_ROOT_PATH = "/api/data/v9.2/"  # the path of every service root
# First segments the service answers itself (the checks below them run only for these).
_SERVICE_HEADS = frozenset(("$metadata", "$batch", "WhoAmI", "EntityDefinitions", "sdkmessagefilters"))
# "set(key)" with nothing _split_target or _route would read apart: no "/", query, fragment,
# escape, tab or line break, so its path is itself and its one segment names a row.
_PLAIN_ROW = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\([^/?#%\t\r\n]*\)")
# The versions' paths a request may use, with and without the closing slash.
_VERSION_ROOTS = tuple((f"/api/data/{v}/", f"/api/data/{v}") for v in ("v9.2", "v9.0", "v9.1"))  # the usual first


class Service:
    """Routes Web API requests to the store; thread-safe (the store holds the lock)."""

    def __init__(self, store: Store, *, root: Callable[[], str], bump: Callable[[str, int], None],
                 op_delay: Callable[[int], None],
                 continue_after_failed_changeset: bool = True, security: Security | None = None,
                 bypass_privilege: bool = False):
        self.store = store
        self.tables = store.tables
        self._root = root
        self.bump = bump  # thread-safe counter increment owned by the server
        self.op_delay = op_delay
        self.continue_after_failed_changeset = continue_after_failed_changeset
        self.bypass_privilege = bypass_privilege
        self._csdl: str | None = None
        self._targets: dict[str, tuple[str, str, str, list[str]]] = {}  # see _split_target
        # Batch-part URLs that _route answered as a create on an entity set (a remembered
        # path-only target, one segment, no key, no query) -> that set's table: see _batch.
        self._creates: dict[str, Table] = {}
        self.reads = Reads(store, root)
        self.entities = EntityHandlers(store, self.reads)
        self.bulk = BulkActions(store, root, bump, op_delay)
        # One role for both privilege functions; the privileges the store enforces (the
        # override of createdon) are read from its rules, so what is reported is what is applied.
        self.security = security or Security(enforced=store.writer.rules.privileges)

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
        found = self._targets.get(req.target)
        target, path, query, segments = found or self._split_target(req.target, ctx, in_batch)
        params = self._params(query) if query else {}
        method = req.method.upper()
        if not segments or segments == [""]:
            return self._service_document()
        head = segments[0]
        if not in_batch and head != "$batch":
            self.bump("operations", 1)
        if not self.bypass_privilege and not self._BYPASS.keys().isdisjoint(req.headers):
            self._check_bypass(req.headers)
        if head in _SERVICE_HEADS or head.startswith("EntityDefinitions("):  # not an entity set's
            if head == "$metadata" and len(segments) == 1:
                if method != "GET":
                    raise errors.no_http_resource(self.root + path)
                if self._csdl is None:
                    self._csdl = csdl.render(self.tables)
                return Response(200, [("Content-Type", "application/xml"), ("OData-Version", "4.0")],
                                self._csdl.encode("utf-8"))
            if head == "$batch":
                if method != "POST" or in_batch or len(segments) != 1:
                    raise errors.no_http_resource(self.root + path)
                return self._batch(req)
            if head == "WhoAmI" and len(segments) == 1:
                if method != "GET":
                    raise errors.no_http_resource(self.root + path)
                costs.charge("whoami")
                return who_am_i(self.root)
            if head == "EntityDefinitions" or head.startswith("EntityDefinitions("):
                if method != "GET":
                    raise errors.no_http_resource(self.root + path)
                costs.charge("metadata")
                status, body = metadata.handle(self.store, self.tables, segments, params, self.root)
                return json_response(status, body)
            if head == "sdkmessagefilters" and len(segments) == 1 and method == "GET":
                costs.charge("metadata")
                return sdk_message_filters(self.root, self.tables, params)
        name, key_text = split_name_key(head)
        table = self.store.by_set.get(name)
        if table is None:
            raise errors.resource_not_found(name)
        prefer = parse_prefer(req.headers.get("prefer"))
        if key_text is None:
            if len(segments) == 1:
                if method == "GET":
                    return self.reads.list_entities(table, params, prefer, target)
                if method == "POST":
                    if in_batch and not query and req.target in self._targets:
                        if len(self._creates) >= 4096:
                            self._creates.clear()
                        self._creates[req.target] = table
                    return self.entities.create(table, req, params, prefer, ctx, in_batch)
            elif len(segments) == 2 and segments[1] == "$count" and method == "GET":
                return self.reads.count_entities(table, params)
            elif len(segments) == 2 and segments[1].startswith("Microsoft.Dynamics.CRM.") and method == "POST":
                return self.bulk.run(table, segments[1][len("Microsoft.Dynamics.CRM."):], req, ctx)
            raise errors.no_http_resource(self.root + path)
        key = parse_key(key_text)
        if len(segments) == 1:
            if method == "GET":
                return self.reads.get_entity(table, key, params, prefer, req)
            if method == "PATCH":
                return self.entities.patch(table, key, key_text, req, params, prefer, ctx, in_batch)
            if method == "DELETE":
                return self.entities.delete(table, key, req)
            raise errors.no_http_resource(self.root + path)
        prop = segments[1]
        if len(segments) == 2 and prop.startswith(_PRIVILEGE_FUNCTION) and table.logical == "systemuser":
            return self._user_privilege(prop, method)
        if (len(segments) == 2 and table.logical == "systemuser" and method == "GET"
                and prop == "Microsoft.Dynamics.CRM.RetrieveUserPrivileges()" and isinstance(key, str)):
            costs.charge("metadata")
            return self.security.retrieve_user_privileges(self.root, key, self.store.table_rows.find(table, key) is not None)
        if len(segments) == 2:
            return self.entities.property_request(table, key, prop, req, params, prefer, ctx)
        if len(segments) == 3 and segments[2] == "$ref":
            return self.entities.ref_request(table, key, prop, req, ctx)
        raise errors.resource_not_found(segments[2])

    def _split_target(self, target: str, ctx: WriteContext, in_batch: bool) -> tuple[str, str, str, list[str]]:
        """``(target as a path, decoded path under the version root, query, path segments)``.

        A path-only target (``/api/data/v9.2/emails``, what most batch parts name) is a pure
        function of its text, so a short one's answer is remembered (the segments are only read). ``$n``
        targets depend on the batch's Content-IDs and absolute ones on the service root: split
        every time.
        """
        remember = target.startswith("/") and "://" not in target and len(target) <= 256
        root = ctx.service_root  # self.root, read when the request's context was made
        if in_batch and target.startswith("$"):
            ref, _, tail = target[1:].partition("/")
            if ref not in ctx.content_ids:
                raise errors.bad_request(f"Content-ID Reference: '${ref}' does not exist in the batch context.")
            rest = ctx.content_ids[ref] + ("/" + tail if tail else "")
            if "://" in root and "#" not in rest and "\t" not in rest and "\r" not in rest and "\n" not in rest:
                # What the steps below make of root + rest (the first version root is the
                # service root's): its path as is, without building the absolute URL.
                path, _, query = rest.partition("?")
                path_only = urllib.parse.unquote(path)
                return (_ROOT_PATH + path + ("?" + query if query else ""), path_only, query,
                        split_segments(path_only) if path_only else [])
            target = root + rest
        if "://" in target:
            rest = target[len(root):] if target.startswith(root) else None
            if rest is not None and "#" not in rest and "\t" not in rest and "\r" not in rest and "\n" not in rest:
                # Under the service root with nothing urlsplit would strip (tab, CR, LF) or cut
                # (a fragment): its path as is.
                path, _, query = rest.partition("?")
                target = _ROOT_PATH + path + ("?" + query if query else "")
            else:
                parsed = urllib.parse.urlsplit(target)
                target = parsed.path + ("?" + parsed.query if parsed.query else "")
        raw_path, _, query = target.partition("?")
        if not raw_path.startswith("/"):
            raw_path = _ROOT_PATH + raw_path  # relative part URLs in a batch ("tasks")
        for p, bare in _VERSION_ROOTS:
            if raw_path.startswith(p) or raw_path == bare:
                rest = raw_path[len(p):]
                break
        else:
            raise errors.no_http_resource(target)
        path = urllib.parse.unquote(rest)
        found = (target, path, query, split_segments(path) if path else [])
        if remember:
            if len(self._targets) >= 4096:
                self._targets.clear()
            self._targets[target] = found
        return found

    def _user_privilege(self, prop: str, method: str) -> Response:
        """``systemusers(id)/Microsoft.Dynamics.CRM.RetrieveUserPrivilegeByPrivilegeName(PrivilegeName='x')``."""
        m = re.fullmatch(re.escape(_PRIVILEGE_FUNCTION) + r"\(PrivilegeName='([^']*)'\)", prop)
        if method != "GET" or m is None:
            raise errors.bad_request(f"Invalid call of {_PRIVILEGE_FUNCTION}: give PrivilegeName='<name>'.")
        held = [p for p in self.security.held(WHOAMI["UserId"]) if p["PrivilegeName"] == m.group(1)]
        return json_response(200, {"@odata.context": f"{self.root}$metadata#Microsoft.Dynamics.CRM."
                                                     "RetrieveUserPrivilegeByPrivilegeNameResponse", "RolePrivileges": held})

    # Headers that skip custom logic, and the privilege each needs (bypass-custom-business-logic.md).
    _BYPASS = {"mscrm.bypasscustompluginexecution": "prvBypassCustomPlugins",
               "mscrm.bypassbusinesslogicexecution": "prvBypassCustomBusinessLogic"}

    def _check_bypass(self, headers: dict[str, str]) -> None:
        """Refuse a bypass header from a caller without its privilege (403 PrivilegeDenied)."""
        if self.bypass_privilege:
            return
        for name, privilege in self._BYPASS.items():
            value = headers.get(name)
            if value is None or value.strip().lower() == "false":
                continue
            caller = WHOAMI["UserId"]
            raise errors.ODataError(
                403, "0x80040220",
                f"Principal user (Id={caller}, type=8, roleCount=1, privilegeCount=0, accessMode=0), is missing "
                f"{privilege} privilege (Id={errors.privilege_id(privilege)}) on OTC=undefined for entity ''. "
                f"context.Caller={caller}")

    def _params(self, query: str) -> dict[str, str]:
        out: dict[str, str] = {}
        if not query:
            return out
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
        return json_response(200, {"@odata.context": f"{self.root}$metadata",
                           "value": [{"name": t.entity_set, "kind": "EntitySet", "url": t.entity_set}
                                     for t in self.tables.values()]}, streaming=False)

    # ------------------------------------------------------------------ $batch

    def _batch(self, req: Request) -> Response:
        items = batchmod.parse(req.body, req.headers.get("content-type"))
        self.bump("batch_requests", 1)
        prefer = parse_prefer(req.headers.get("prefer"))
        continue_on_error = "odata.continue-on-error" in prefer
        root = self.root
        ctx = WriteContext(service_root=root)
        auth = req.headers.get("authorization")

        dispatched = [0]  # counted here, added to the server's statistics once per batch
        creates = self._creates
        # A part that _route would answer only with its checks passing as they did before (no
        # bypass header to check, no Prefer to read) goes to the create handler directly.
        plain = self.bypass_privilege or self._BYPASS.keys().isdisjoint

        def dispatch(op: batchmod.Operation) -> batchmod.PartResponse:
            dispatched[0] += 1
            self.op_delay(1)
            if len(op.url) > batchmod.MAX_PART_URL:
                resp = error_response(errors.ODataError(414, "", "The request URL is too long."), True)
            else:
                headers = op.headers.copy()  # the parser's headers are read-only and shared
                if auth:
                    headers.setdefault("authorization", auth)
                try:  # handle(), without its frame: the context is the batch's
                    req = Request(op.method, op.url, headers, op.body)
                    if "prefer" in headers or not (plain is True or plain(headers)):
                        resp = self._route(req, ctx, True)
                    elif op.method == "POST" and (table := creates.get(op.url)) is not None:
                        resp = self.entities.create(table, req, {}, {}, ctx, True)
                    elif op.method == "PATCH" and (row := content_id_row(self.store.by_set, op.url, ctx)) is not None:
                        resp = self.entities.patch(*row, req, {}, {}, ctx, True)
                    else:
                        resp = self._route(req, ctx, True)
                except errors.ODataError as err:
                    resp = error_response(err, True)
            return batchmod.PartResponse(resp.status, resp.headers, resp.body)

        def register(op: batchmod.Operation, resp: batchmod.PartResponse) -> None:
            if op.content_id is None:
                return
            for name, url in resp.headers:
                if name == "OData-EntityId":
                    if url and url.startswith(root):
                        ctx.content_ids[op.content_id] = url[len(root):]
                    return

        def forget(ops: list[batchmod.Operation]) -> None:
            for op in ops:
                if op.content_id is not None:
                    ctx.content_ids.pop(op.content_id, None)

        try:
            outcome = batchmod.execute(items, dispatch, self.store.changeset, register, forget,
                                       continue_on_error=continue_on_error,
                                       continue_after_failed_changeset=self.continue_after_failed_changeset)
        finally:
            if dispatched[0]:
                self.bump("operations", dispatched[0])
        headers = [("Content-Type", f"multipart/mixed; boundary={outcome.boundary}"), ("OData-Version", "4.0")]
        if continue_on_error:
            headers.append(("Preference-Applied", "odata.continue-on-error"))
        return Response(outcome.status, headers, outcome.body, reason="BadRequest" if outcome.status == 400 else None)


def content_id_row(by_set: dict[str, Table], target: str, ctx: WriteContext) -> tuple[Table, str | dict, str] | None:
    """``(table, key, key text)`` when ``target`` is ``$n`` and Content-ID ``n`` made a row URL
    that :meth:`Service._split_target` and :meth:`Service._route` read as one row of an entity
    set (no further segment, query, escape or character they treat apart); else None (the
    router reads it)."""
    if target[:1] != "$" or "/" in target:
        return None
    rest = ctx.content_ids.get(target[1:])
    if rest is None or _PLAIN_ROW.fullmatch(rest) is None:
        return None
    name, key_text = split_name_key(rest)
    table = by_set.get(name)
    if table is None or name in _SERVICE_HEADS:
        return None
    return table, parse_key(key_text), key_text
