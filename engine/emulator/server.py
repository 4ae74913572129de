"""HTTP layer: a threaded HTTP/1.1 server (optionally TLS) in front of :class:`~.app.Service`.

Per request it checks the bearer token, draws the injected faults, routes to a web server and
takes the user's budget there (:mod:`.economy`), dispatches under the cost meter, and writes the
response with the headers every Dataverse response carries (``OData-Version: 4.0``,
``x-ms-dop-hint``, a request id). ``/_emulator/usage`` (outside the service root) reports the
budgets used. Accepted sockets get
``TCP_NODELAY``: without it ``http.client`` on a kept-alive connection stalls ~40 ms per request
on delayed ACKs, and every benchmark would measure that stall instead of the emulator.
"""

from __future__ import annotations

import json
import os
import socket
import ssl
import tempfile
import threading
import time
import uuid
from http.server import ThreadingHTTPServer
from pathlib import Path

from . import errors
from .app import Service
from .catalog import build_catalog
from .clock import ModeledClock
from .costs import CostModel
from .costs import operations as charge_operations
from .economy import Economy
from .faults import FaultInjector, FaultProfile
from .httphead import HeadReader
from .limits import Throttled
from .orgfiles import load_state_file, read_extension, seed_org
from .rules_attachments import AttachmentRules, organization_row
from .security import Security
from .state import dumps_state
from .store import Options, Store
from .wire import MAX_URL, Request, Response, error_response

_DROP = object()
TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256
    allow_reuse_address = True

    def __init__(self, addr, handler, emulator: "Emulator"):
        self.emulator = emulator
        self.open_sockets: set[socket.socket] = set()
        self.sockets_lock = threading.Lock()
        super().__init__(addr, handler)


class _Handler(HeadReader):  # the request head read without the email parser's multipart walk
    protocol_version = "HTTP/1.1"
    server_version = "Microsoft-IIS/10.0"
    sys_version = ""
    timeout = 120  # idle keep-alive connections are closed after this

    def setup(self) -> None:
        super().setup()
        try:
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            pass
        with self.server.sockets_lock:
            self.server.open_sockets.add(self.connection)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            with self.server.sockets_lock:
                self.server.open_sockets.discard(self.connection)

    def handle(self) -> None:
        if isinstance(self.connection, ssl.SSLSocket):
            try:
                self.connection.do_handshake()
            except (ssl.SSLError, OSError):
                return
        try:
            super().handle()
        except (ConnectionError, ssl.SSLError, socket.timeout):
            pass

    def version_string(self) -> str:
        return self.server_version

    def log_message(self, format, *args) -> None:  # noqa: A002 - signature fixed by the base class
        return  # quiet: tests and benchmarks run thousands of requests

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            return b"".join(chunks)
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _dispatch(self) -> None:
        body = self._read_body()
        headers = {k.lower(): v for k, v in self.headers.items()}
        req = Request(self.command, self.path, headers, body)
        resp = self.server.emulator._process(req)
        if resp is _DROP:
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return
        self._write(resp)

    def _write(self, resp: Response) -> None:
        self.send_response(resp.status, resp.reason)
        for name, value in resp.headers:
            self.send_header(name, value)
        if resp.status != 304:
            self.send_header("Content-Length", str(len(resp.body)))
        # A request refused while its head is read (send_error) has no headers yet: it is
        # closed anyway, and reading them would crash the handler before anything is answered.
        headers = getattr(self, "headers", None)
        if headers is not None and headers.get("Connection", "").lower() == "close":
            self.close_connection = True
        self.end_headers()
        if resp.body and self.command != "HEAD":
            self.wfile.write(resp.body)
        self.wfile.flush()

    do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _dispatch

    def send_error(self, code, message=None, explain=None):
        """Malformed requests (bad request line, URL too long) — answered in the service's style."""
        self.close_connection = True
        if self.request_version == self.default_request_version and len(self.requestline.split()) >= 3:
            # A bad or unsupported version leaves http.server's HTTP/0.9 default in place, and an
            # HTTP/0.9 answer is a bare body no HTTP/1.x client can read: answer with a status
            # line, as IIS does ("HTTP/1.1 505 HTTP Version Not Supported").
            self.request_version = "HTTP/1.1"
        if code == 414:
            resp = Response(414, [("Content-Type", "text/html; charset=us-ascii")],
                            b"<h2>Bad Request - Request URL Too Long</h2><hr><p>HTTP Error 414. "
                            b"The request URL is too long.</p>")
        else:
            resp = error_response(errors.ODataError(code, "", message or "Bad Request"))
        resp.headers.append(("Connection", "close"))  # as http.server says: nothing more is read
        # Malformed requests and unsupported methods still carry the headers every response has.
        resp = self.server.emulator._finish(resp)
        try:
            self._write(resp)
        except OSError:
            pass


class Emulator:
    """A strict local Dataverse Web API (``/api/data/v9.2``), startable in-process or from the CLI.

    Use as a context manager::

        with Emulator(alternate_keys=(("contact", "emailaddress1"),)) as emu:
            requests.post(emu.service_root + "contacts", json={...}, headers={"Authorization": "Bearer x"})

    ``faults`` is a :class:`FaultProfile` or its string form (see :mod:`.faults`); ``latency_ms`` adds
    to every request; ``token_ttl`` expires each bearer token that many seconds after its first use;
    ``state_file`` is loaded on start and saved on stop; ``seed`` makes generated ids and injected
    faults repeatable; ``anonymous=True`` also accepts requests without an ``Authorization`` header
    (what ``sync --auth none`` sends), while a header that is present is still checked.

    The service's economics (docs/emulator.md, "What work costs"): ``cost_model`` is ``"none"``
    (the default here, so tests stay fast) or ``"realistic"``, ``costs`` overrides single figures
    (``{"create.contact": 0.2}``), ``web_servers`` puts that many servers behind the affinity
    cookie, each with its own limits, and ``time_scale`` runs the modeled clock that many times
    faster than real time (``clock`` replaces the clock itself, for tests). The other keyword-only
    options select behaviour for points the reference marks UNCONFIRMED (documented there too).
    ``drop_privileges`` takes privileges out of the application user's seeded role and
    ``privilege_depths`` lowers some (``{"prvReadContact": "Local"}``): what
    ``RetrieveUserPrivileges`` answers (:mod:`.security`).

    ``org_profile`` is ``base``, ``sales``, ``service`` or ``sales+service`` (the tables the org
    has); ``schema_extend`` a YAML file of custom columns and tables (:mod:`.extend`); ``seed_file``
    an org's records in the demo's ``org.json`` shape, loaded on start and never written;
    ``bypass_privilege`` grants the caller prvBypassCustomPlugins / prvBypassCustomBusinessLogic.
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0, tls: bool = False, alternate_keys=(),
                 latency_ms: float = 0, faults: FaultProfile | str | None = None, token_ttl: float | None = None,
                 state_file: str | os.PathLike | None = None, seed: int = 0, *, email_subject_max: int = 800,
                 statecode_on_create: str = "reject", continue_after_failed_changeset: bool = True,
                 undeclared_key_code: str = "0x0", dop_hint: int = 4, anonymous: bool = False,
                 cost_model: str = "none", costs: dict[str, float] | None = None, web_servers: int = 1,
                 time_scale: float = 1.0, clock: ModeledClock | None = None,
                 attachment_rules: AttachmentRules | None = None, organization: dict | None = None,
                 drop_privileges: tuple[str, ...] = (), privilege_depths: dict[str, str] | None = None,
                 org_profile: str = "sales+service", schema_extend: str | os.PathLike | None = None,
                 seed_file: str | os.PathLike | None = None, bypass_privilege: bool = False):
        if statecode_on_create not in ("reject", "ignore"):
            raise ValueError("statecode_on_create must be 'reject' or 'ignore'")
        self.host = host
        self.port = port
        self.tls = tls
        self._service_root: tuple[tuple, str] = ((), "")  # (host, port, TLS) it was formatted for
        self.latency_ms = latency_ms
        self.token_ttl = token_ttl
        self.state_file = Path(state_file) if state_file else None
        self.seed_value = seed
        self.dop_hint = dop_hint
        self.anonymous = anonymous
        self.ca_file: str | None = None
        self.stats: dict[str, int] = {}
        self._stats_lock = threading.Lock()
        self.reset_stats()
        self._tokens: dict[str, float] = {}
        self._tokens_lock = threading.Lock()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._tmpdir: tempfile.TemporaryDirectory | None = None
        self.seed_file = Path(seed_file) if seed_file else None
        self._loaded = False  # the state file is written back only over a store that was loaded
        self.tables = build_catalog(org_profile, email_subject_max, read_extension(schema_extend))
        self.store = Store(self.tables, alternate_keys,
                           Options(statecode_on_create=statecode_on_create, undeclared_key_code=undeclared_key_code),
                           seed=seed, rules=attachment_rules)
        self._organization = {**organization_row(), **(organization or {})}
        self.store.seed("organization", self._organization)
        self.store.on_commit = lambda rows: self._bump("writes", rows)
        self.service = Service(self.store, root=lambda: self.service_root, bump=self._bump,
                               op_delay=charge_operations,
                               continue_after_failed_changeset=continue_after_failed_changeset,
                               security=Security(tuple(drop_privileges), privilege_depths,
                                                 enforced=self.store.writer.rules.privileges),
                               bypass_privilege=bypass_privilege)
        self.clock = clock or ModeledClock(time_scale)
        self.faults = FaultProfile.parse(faults) if isinstance(faults, str) else faults or FaultProfile()
        self.economy = Economy(cost_model=_cost_model(cost_model, costs), clock=self.clock,
                               limits=self.faults.limits(), web_servers=web_servers, seed=seed, tls=tls)
        self.set_faults(self.faults)

    # ------------------------------------------------------------------ public API

    @property
    def base_url(self) -> str:
        """``http(s)://host:port`` with the bound port, no trailing slash."""
        scheme = "https" if self.tls else "http"
        return f"{scheme}://{self.host}:{self.port}"

    @property
    def service_root(self) -> str:
        """``base_url + "/api/data/v9.2/"``, formatted again only when host, port or TLS change."""
        key = (self.tls, self.host, self.port)  # read several times per operation
        if self._service_root[0] != key:
            self._service_root = (key, self.base_url + "/api/data/v9.2/")
        return self._service_root[1]

    def set_faults(self, profile: FaultProfile | str | None) -> None:
        """Replace the fault profile at runtime (resets the service-protection windows)."""
        if isinstance(profile, str):
            profile = FaultProfile.parse(profile)
        self.faults = profile or FaultProfile()
        self._injector = FaultInjector(self.faults, self.seed_value)
        self.economy.set_limits(self.faults.limits())

    def usage(self) -> dict:
        """What ``GET /_emulator/usage`` answers: clock, cost model, per user and web server usage."""
        return self.economy.usage()

    def reset_stats(self) -> None:
        """Zero the counters in :attr:`stats`."""
        base = {"requests": 0, "batch_requests": 0, "operations": 0, "writes": 0, "throttled": 0, "faults": 0,
                "dropped": 0, "unauthorized": 0, "bulk_targets": 0}
        self.stats.clear()
        self.stats.update(base)

    def records(self, table: str) -> list[dict]:
        """Copies of the stored rows of ``table`` (logical names; lookups hold the target id).

        Rows are stored sparse; here every column of the table is present (null when unset).
        """
        with self.store.lock:
            blank = dict.fromkeys(self.tables[table].columns)
            return [{**blank, **r} for r in self.store.rows[table].values()]

    def seed(self, table: str, row: dict) -> str:
        """Pre-create a row (statecode, read-only columns and lookup ids allowed) and return its id."""
        return self.store.seed(table, row)

    def declare_key(self, table: str, columns, name: str | None = None) -> None:
        """Declare an alternate key at runtime (fails if existing rows have duplicate values)."""
        self.store.declare_key(table, columns, name)

    def start(self) -> "Emulator":
        """Bind, load the state file if any, and serve on a background thread."""
        if self.state_file and self.state_file.exists():
            self.store.load(load_state_file(self.state_file))
            if not self.store.rows["organization"]:  # a state file from before the table existed
                self.store.seed("organization", self._organization)
        self._loaded = True
        if self.seed_file and not (self.state_file and self.state_file.exists()):
            seed_org(self.store, self.seed_file)  # a state file already holds the org seeded earlier
        self._server = _Server((self.host, self.port), _Handler, self)
        self.port = self._server.server_address[1]
        if self.tls:
            self._setup_tls()
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name=f"dataverse-emulator:{self.port}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, close open connections and save the state file if configured."""
        if self._server is not None:
            self._server.shutdown()
            with self._server.sockets_lock:
                for s in list(self._server.open_sockets):
                    try:
                        s.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        if self.state_file and self._loaded:
            self.save_state()
        if self._tmpdir is not None:
            self._tmpdir.cleanup()
            self._tmpdir = None

    def save_state(self, path: str | os.PathLike | None = None) -> None:
        """Write the store as JSON (atomically, via a temporary file)."""
        target = Path(path) if path else self.state_file
        if target is None:
            raise ValueError("no state file configured")
        tmp = target.with_suffix(target.suffix + ".tmp")
        tmp.write_text(dumps_state(self.store), encoding="utf-8")
        os.replace(tmp, target)

    def __enter__(self) -> "Emulator":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # ------------------------------------------------------------------ internals

    def _setup_tls(self) -> None:
        import trustme

        ca = trustme.CA()
        hosts = {self.host, "127.0.0.1", "localhost"}
        cert = ca.issue_cert(*sorted(hosts))
        self._tmpdir = tempfile.TemporaryDirectory(prefix="dataverse-emulator-")
        ca_path = Path(self._tmpdir.name) / "ca.pem"
        ca.cert_pem.write_to_path(str(ca_path))
        self.ca_file = str(ca_path)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        cert.configure_cert(ctx)
        self._server.socket = ctx.wrap_socket(self._server.socket, server_side=True,
                                              do_handshake_on_connect=False)

    def _bump(self, key: str, n: int = 1) -> None:
        with self._stats_lock:
            self.stats[key] = self.stats.get(key, 0) + n

    def _auth(self, req: Request) -> Response | None:
        value = req.headers.get("authorization", "")
        if not value and self.anonymous:
            return None
        scheme, _, token = value.partition(" ")
        challenge = (f"Bearer authorization_uri=https://login.microsoftonline.com/{TENANT}/oauth2/authorize, "
                     f"resource_id={self.base_url}/")
        if scheme.lower() != "bearer" or not token.strip():
            return Response(401, [("WWW-Authenticate", challenge), ("OData-Version", "4.0")])
        if self.token_ttl is not None:
            now = time.monotonic()
            with self._tokens_lock:
                first = self._tokens.setdefault(token, now)
            if now - first > self.token_ttl:
                return Response(401, [("WWW-Authenticate", 'Bearer error=invalid_token, error_description='
                                       '"Error during token validation!", ' + challenge[len("Bearer "):]),
                                      ("OData-Version", "4.0")])
        return None

    def _process(self, req: Request):
        """Faults, limits and auth around one HTTP request; returns a Response or ``_DROP``."""
        if req.target.startswith("/_emulator/"):
            return self._control(req)
        self._bump("requests")
        if len(req.target) > MAX_URL:
            # Through _finish like every other answer: clients read OData-Version and
            # x-ms-dop-hint from whatever comes back, errors included.
            return self._finish(Response(414, [("Content-Type", "text/html; charset=us-ascii")],
                                         b"<h2>Bad Request - Request URL Too Long</h2><hr><p>HTTP Error 414. "
                                         b"The request URL is too long.</p>"))
        denied = self._auth(req)
        if denied is not None:
            self._bump("unauthorized")
            return self._finish(denied)
        decision = self._injector.decide()
        if decision["drop"]:
            self._bump("faults")
            self._bump("dropped")
            return _DROP
        if decision["503"]:
            self._bump("faults")
            return self._finish(error_response(errors.ODataError(
                503, "0x80040216", "The service is temporarily unavailable. Please try again later.")))
        economy = self.economy
        route = economy.route(req)
        if decision["429"]:
            self._bump("faults")
            self._bump("throttled")
            return self._finish(economy.injected_throttle(self.faults.retry_after_s, route))
        try:
            ticket = economy.admit(req, route)
        except Throttled as refusal:
            self._bump("throttled")
            return self._finish(economy.throttled_response(refusal, route))
        try:
            resp = economy.execute(ticket, lambda: self.service.handle(req),
                                   latency_s=(self.latency_ms + self.faults.latency_ms) / 1000,
                                   op_latency_s=self.faults.op_latency_ms / 1000,
                                   extra_s=self.faults.slow_ms / 1000 if decision["slow"] else 0.0)
            if decision["slow"]:
                self._bump("faults")
            if decision["drop_after"]:
                self._bump("faults")
                self._bump("dropped")
                return _DROP
        finally:
            economy.release(ticket)
        return self._finish(economy.finish(resp, route, ticket))

    def _control(self, req: Request) -> Response:
        """``/_emulator/usage``: GET the report, DELETE to start counting again."""
        path = req.target.partition("?")[0]
        if path != "/_emulator/usage":
            return self._finish(error_response(errors.ODataError(404, "", f"No emulator resource {path!r}.")))
        if req.method == "GET":
            body = json.dumps(self.usage(), indent=1).encode("utf-8")
            return Response(200, [("Content-Type", "application/json; charset=utf-8")], body)
        if req.method == "DELETE":
            self.economy.reset_usage()
            return Response(204, [])
        return Response(405, [("Allow", "GET, DELETE")])

    def _finish(self, resp: Response) -> Response:
        names = {k.lower() for k, _ in resp.headers}
        if "odata-version" not in names:
            resp.headers.append(("OData-Version", "4.0"))
        resp.headers.append(("x-ms-dop-hint", str(self.dop_hint)))
        resp.headers.append(("REQ_ID", str(uuid.uuid4())))
        resp.headers.append(("x-ms-service-request-id", str(uuid.uuid4())))
        return resp


def _cost_model(name: str | CostModel, overrides: dict[str, float] | None) -> CostModel:
    if isinstance(name, CostModel):
        return name if not overrides else CostModel(name.name + "+overrides", {**name.figures, **overrides})
    return CostModel.build(name, overrides)
