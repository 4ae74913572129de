"""What work costs: modeled server time per operation, and the 2-minute limit per request.

A real org charges execution time for every operation a request carries, and that time is what
the service-protection limits count (1,200 s per user per web server per 5 minutes) and what
the 2-minute request limit cuts (reference ``throughput-on-a-real-org.md`` §1, §3). The emulator
models it with a :class:`CostModel` — a table of figures in modeled seconds — and a
:class:`RequestMeter` per HTTP request that the store and the router charge as they work.

Figures are named ``kind`` or ``kind.table`` (``create.contact``); a table without its own
figure uses ``kind.*``. The kinds:

``request``       every HTTP request (authentication, routing, serialisation)
``create``        a row created (deep-inserted children such as activity parties are rows too)
``update``        a row's columns changed
``state``         a row's ``statecode`` changed (SetState; charged besides ``update`` when a
                  PATCH also changes other columns)
``delete``        a row deleted
``bulk_create``   one target of CreateMultiple (or an UpsertMultiple target that creates)
``bulk_update``   one target of UpdateMultiple (or an UpsertMultiple target that updates)
``associate``     a lookup set or cleared through ``$ref`` or a navigation-property PUT/DELETE
``retrieve``      a GET of one row
``query``         a GET of a collection (``$filter``, ``In(...)``, ``$expand``)
``row``           each row a GET returns
``scan_row``      each row a query has to examine because no index answers its filter
``attachment_mb`` each MB of attachment content (``activitymimeattachment.body``,
                  ``annotation.documentbody``)
``metadata``      ``EntityDefinitions`` and ``$metadata``
``whoami``        ``WhoAmI``

The ``realistic`` figures are estimates (see docs/emulator.md, "What work costs", for their
sources); ``none`` charges nothing. Every figure can be overridden (:func:`parse_overrides`).
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

#: The realistic model, in modeled seconds. Estimates: see docs/emulator.md for each one's source.
REALISTIC: dict[str, float] = {
    "request": 0.003,
    "create.*": 0.04,
    "create.contact": 0.12,
    "create.account": 0.12,
    "create.lead": 0.12,
    "create.opportunity": 0.15,
    "create.incident": 0.15,
    "create.email": 0.10,
    "create.activityparty": 0.015,
    "create.activitymimeattachment": 0.04,
    "create.annotation": 0.05,
    "create.task": 0.06,
    "create.phonecall": 0.06,
    "update.*": 0.03,
    "update.contact": 0.08,
    "update.account": 0.08,
    "update.email": 0.06,
    "state.*": 0.05,
    "state.email": 0.06,
    "delete.*": 0.05,
    "bulk_create.*": 0.01,
    "bulk_create.contact": 0.04,
    "bulk_create.account": 0.04,
    "bulk_update.*": 0.03,
    "bulk_update.contact": 0.05,
    "bulk_update.account": 0.05,
    "associate": 0.03,
    "retrieve": 0.005,
    "query": 0.01,
    "row": 0.0005,
    "scan_row": 0.00002,
    "attachment_mb": 0.25,
    "metadata": 0.02,
    "whoami": 0.002,
}

KINDS = ("request", "create", "update", "state", "delete", "bulk_create", "bulk_update",
         "associate", "retrieve", "query", "row", "scan_row", "attachment_mb", "metadata", "whoami")
MODELS = ("none", "realistic")
#: The service's limit per request ("A Dataverse message operation must complete within 2 minutes").
REQUEST_LIMIT_S = 120.0


def parse_seconds(text: str | float | int) -> float:
    """``120ms`` / ``0.12s`` / ``0.12`` (seconds when unitless) → seconds; raises ValueError."""
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        value = float(text)
    else:
        raw = str(text).strip().lower()
        if raw.endswith("ms"):
            value = float(raw[:-2]) / 1000
        elif raw.endswith("s"):
            value = float(raw[:-1])
        else:
            value = float(raw)
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"a cost must be a non-negative number of seconds, got {text!r}")
    return value


def _check_name(name: str) -> None:
    kind, _, table = name.partition(".")
    if kind not in KINDS:
        raise ValueError(f"unknown cost figure {name!r} (kinds: {', '.join(KINDS)})")
    if table and not (table == "*" or table.replace("_", "").isalnum()):
        raise ValueError(f"cost figure {name!r}: the part after the dot is a table's logical name or '*'")


def parse_overrides(items) -> dict[str, float]:
    """``["create.contact=0.2", "row=1ms"]`` (or one comma-separated string) → figures."""
    if isinstance(items, str):
        items = [items]
    out: dict[str, float] = {}
    for item in items:
        for part in filter(None, (p.strip() for p in item.split(","))):
            name, sep, value = part.partition("=")
            if not sep:
                raise ValueError(f"cost override {part!r} is not NAME=SECONDS")
            name = name.strip()
            _check_name(name)
            out[name] = parse_seconds(value)
    return out


def load_cost_file(path: str | Path) -> dict[str, float]:
    """Figures from a YAML or JSON mapping ``{name: seconds}``; errors name the file."""
    path = Path(path)
    text = path.read_text(encoding="utf-8")
    try:
        if path.suffix.lower() == ".json":
            data = json.loads(text)
        else:
            import yaml

            data = yaml.safe_load(text)
    except Exception as exc:  # noqa: BLE001 - any parse error is reported with the file's name
        raise ValueError(f"{path}: not a YAML/JSON mapping of cost figures: {exc}") from exc
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a mapping of cost figures, e.g. 'create.contact: 0.12'")
    out: dict[str, float] = {}
    for name, value in data.items():
        try:
            _check_name(str(name))
            out[str(name)] = parse_seconds(value)
        except ValueError as exc:
            raise ValueError(f"{path}: {exc}") from None
    return out


@dataclass(frozen=True)
class CostModel:
    """A named table of figures (modeled seconds); lookups fall back from ``kind.table`` to ``kind.*``."""

    name: str = "none"
    figures: dict[str, float] = field(default_factory=dict)

    @classmethod
    def build(cls, name: str = "none", overrides: dict[str, float] | None = None) -> "CostModel":
        """The ``none`` or ``realistic`` model with ``overrides`` applied on top."""
        if name not in MODELS:
            raise ValueError(f"cost model must be one of {', '.join(MODELS)}, got {name!r}")
        figures = dict(REALISTIC) if name == "realistic" else {}
        for key in overrides or {}:
            _check_name(key)
        figures.update(overrides or {})
        return cls(name if not overrides else f"{name}+overrides", figures)

    @property
    def charges(self) -> bool:
        """Whether any figure is non-zero (``none`` without overrides charges nothing)."""
        return any(self.figures.values())

    def figure(self, kind: str, table: str | None = None) -> float:
        """The cost of one unit of ``kind`` on ``table``."""
        f = self.figures
        if not f:
            return 0.0  # the "none" model: every figure is zero
        if table is not None:
            value = f.get(f"{kind}.{table}")
            if value is not None:
                return value
            value = f.get(f"{kind}.*")
            if value is not None:
                return value
        return f.get(kind, 0.0)

    def describe(self) -> dict[str, Any]:
        """Name and figures, for the usage report and logs."""
        return {"name": self.name, "figures": dict(sorted(self.figures.items()))}


class RequestTimedOut(Exception):
    """The request's modeled server time passed its limit; raised where the work was cut.

    Deliberately not an ``ODataError``: no handler on the way up may turn it into a per-part
    error. Store transactions roll back on it (so the operation running at the cut, and its
    change set, are undone) and the HTTP layer answers the whole request with the timeout error.
    """

    def __init__(self, elapsed: float, limit: float):
        super().__init__(f"modeled server time {elapsed:.3f}s passed the {limit:.0f}s request limit")
        self.elapsed = elapsed
        self.limit = limit


class RequestMeter:
    """The modeled server time one HTTP request has used so far, with its limit.

    ``charge`` raises :class:`RequestTimedOut` when the total passes ``limit``; the caller has
    not committed the charged work yet (charges sit inside the store's transactions), so the cut
    operation never lands. ``op_latency`` is the fault profile's per-operation delay, modeled as
    server time like any other cost.
    """

    def __init__(self, model: CostModel, limit: float = REQUEST_LIMIT_S, op_latency: float = 0.0):
        self.model = model
        self.limit = limit
        self.op_latency = op_latency
        self.total = 0.0
        self.bulk = False  # inside CreateMultiple/UpdateMultiple/UpsertMultiple
        self.by_kind: dict[str, float] = {}
        # Whether any figure can cost something. When none can, a figure's charge adds nothing
        # and its limit check cannot fire (the total moves only by charge_seconds, which checks
        # at once), so the module-level charge()/write() skip the meter: ~100,000 calls per
        # 10,000 messages with the cost model off.
        self.priced = model.charges

    def charge(self, kind: str, table: str | None = None, units: float = 1.0) -> None:
        """Add ``units`` of ``kind`` (on ``table``); raise :class:`RequestTimedOut` past the limit."""
        cost = self.model.figure(kind, table) * units
        if cost:
            self.total += cost
            self.by_kind[kind] = self.by_kind.get(kind, 0.0) + cost
        self._check()

    def charge_seconds(self, label: str, seconds: float) -> None:
        """Add ``seconds`` of server time that no figure names (a fault's slow response)."""
        self.total += seconds
        self.by_kind[label] = self.by_kind.get(label, 0.0) + seconds
        self._check()

    def operations(self, n: int = 1) -> None:
        """``n`` operations start (a batch part, a bulk message's targets): charge the injected op latency."""
        if self.op_latency and n:
            self.charge_seconds("op_latency", self.op_latency * n)

    def write(self, kind: str, table: str, units: float = 1.0) -> None:
        """Charge a create/update of ``table``, at the bulk figure inside a bulk message."""
        if self.bulk and kind in ("create", "update"):
            kind = "bulk_" + kind
        self.charge(kind, table, units)

    def _check(self) -> None:
        if self.total > self.limit:
            raise RequestTimedOut(self.total, self.limit)


_CURRENT: contextvars.ContextVar[RequestMeter | None] = contextvars.ContextVar("emulator_meter", default=None)


@contextlib.contextmanager
def metering(meter: RequestMeter) -> Iterator[RequestMeter]:
    """Make ``meter`` the one :func:`charge` and :func:`write` add to, on this thread."""
    token = _CURRENT.set(meter)
    try:
        yield meter
    finally:
        _CURRENT.reset(token)


@contextlib.contextmanager
def bulk_message() -> Iterator[None]:
    """Inside a bulk message: creates and updates cost their ``bulk_*`` figure."""
    meter = _CURRENT.get()
    if meter is None:
        yield
        return
    previous, meter.bulk = meter.bulk, True
    try:
        yield
    finally:
        meter.bulk = previous


def current() -> RequestMeter | None:
    """The meter of the request this thread is serving (None outside a request, e.g. seeding)."""
    return _CURRENT.get()


def charge(kind: str, table: str | None = None, units: float = 1.0) -> None:
    """Charge the current request (no-op outside one, or when no figure costs anything)."""
    meter = _CURRENT.get()
    if meter is not None and meter.priced:
        meter.charge(kind, table, units)


def write(kind: str, table: str, units: float = 1.0) -> None:
    """Charge a create/update of ``table`` to the current request (bulk figure inside a bulk message)."""
    meter = _CURRENT.get()
    if meter is not None and meter.priced:
        meter.write(kind, table, units)


def priced_meter() -> RequestMeter | None:
    """The current request's meter when some figure costs something, else None (a caller with
    several charges to make asks once)."""
    meter = _CURRENT.get()
    return meter if meter is not None and meter.priced else None


def operations(n: int = 1) -> None:
    """Charge ``n`` operations' injected latency to the current request (no-op outside one)."""
    meter = _CURRENT.get()
    if meter is not None and meter.op_latency:
        meter.operations(n)
