"""How big a ``$batch`` (or a bulk message) may be: sized by the server time it is measured to take.

A real org gives every request two minutes ("A Dataverse message operation must complete within
2 minutes", analyze-performance.md) and charges each operation server time that depends on the
table, its plug-ins and the operation kind: 300 simple creates fit where only 50 heavy ones do.
So no batch size is right for every org. :class:`BatchSizer` keeps, per *kind* (entity set and
operation: ``emails create``, ``contacts CreateMultiple``, ``contacts read``...), an estimate of
the server seconds one unit costs (a unit is an operation, or a target of a bulk message), and:

* starts every kind small (:data:`START_UNITS`, Microsoft's "start with a small batch size of 10");
* after each answer, measures the request's server time (its elapsed time, converted from the
  emulator's accelerated clock when the answer says ``x-emulator-time-scale``), updates the
  estimate, and lets the size grow (at most doubling per answer) towards :attr:`target_seconds`
  (tens of seconds: big enough that request overhead is nothing, far from the limit);
* never lets a batch be *predicted* to take more than :attr:`max_seconds` (half the limit);
* shrinks on a timeout, the service's SQL timeout (``-2147204783``) or an execution-time 429
  (``0x80072321``): the estimate at least doubles and the size halves.

The client's read timeout follows the batch (:meth:`read_timeout`): a few times its predicted
time, at least :data:`MIN_TIMEOUT`, never more than the service's limit plus a grace, since the
service ends any request by then.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterable, Sequence

from mail2dataverse.operations import ChangeSet, Operation

#: The service's limit on one request, in (modeled) seconds.
REQUEST_LIMIT = 120.0
#: Time for the service's own timeout answer to arrive after its limit.
GRACE = 15.0
#: The shortest read timeout: a small batch on a busy org still gets this long.
MIN_TIMEOUT = 30.0
#: The shortest read timeout in real seconds: on an emulator whose clock runs many times faster,
#: a loaded client machine's own delays must not pass for the service's slowness.
MIN_REAL_TIMEOUT = 10.0
#: Units a kind starts with before anything was measured.
START_UNITS = 10
#: Units a bulk message may carry (the service's recommendation for CreateMultiple et al.).
MAX_BULK_TARGETS = 1000
#: Answers quicker than this (server seconds) are not used to detect a saturated server.
SATURATION_MIN_SECONDS = 1.0
#: How fast a new measurement moves the estimate (exponentially weighted mean).
SMOOTHING = 0.4

BULK_MESSAGES = ("CreateMultiple", "UpdateMultiple", "UpsertMultiple")


def bulk_message(op: Operation) -> str | None:
    """``CreateMultiple`` / ``UpdateMultiple`` / ``UpsertMultiple`` when ``op`` is one, else None."""
    if op.method != "POST" or "Microsoft.Dynamics.CRM." not in op.path:
        return None
    name = op.path.rsplit(".", 1)[-1]
    return name if name in BULK_MESSAGES and isinstance((op.body or {}).get("Targets"), list) else None


def kind_of(item: Operation | ChangeSet) -> str:
    """``"<entity set> <operation>"``: what an item's cost is measured and sized by.

    A change set is sized by its first member (the create an email's change set exists for).
    """
    op = item.operations[0] if isinstance(item, ChangeSet) else item
    key = (op.method, op.path)
    kind = _KINDS.get(key)
    if kind is not None:
        return kind
    path = op.path.split("?", 1)[0]
    entity_set = path.split("(", 1)[0].split("/", 1)[0]
    bulk = bulk_message(op)
    if bulk:
        return f"{entity_set} {bulk}"  # (depends on the body too: not kept)
    kind = f"{entity_set} {_VERBS.get(op.method, op.method.lower())}"
    if "Microsoft.Dynamics.CRM." not in op.path and len(op.path) <= 512:
        if len(_KINDS) >= 4096:
            _KINDS.clear()
        _KINDS[key] = kind
    return kind


_VERBS = {"GET": "read", "POST": "create", "PATCH": "update", "PUT": "update", "DELETE": "delete"}
#: ``(method, path) → kind`` of paths that are no bulk message: asked for every item queued, and
#: the write paths (``emails``, ``$1``) repeat all run long. Bounded, and only short paths (a
#: lookup's ``$filter`` never repeats).
_KINDS: dict[tuple[str, str], str] = {}


def units_of(item: Operation | ChangeSet) -> int:
    """What an item costs in sizing units: operations, a bulk message's targets counted one each."""
    if isinstance(item, ChangeSet):
        return len(item.operations)
    if bulk_message(item):
        return max(1, len(item.body["Targets"]))
    return 1


class BatchSizer:
    """Per-kind estimates of server seconds per unit, and the batch sizes and timeouts they give.

    :param max_units: the most operations one ``$batch`` may hold (the service allows 1,000;
        ``batch_size`` in the configuration lowers it).
    :param target_seconds: the server time a batch should take once measured.
    :param max_seconds: no batch is sent that is predicted to take longer.
    :param start_units: units per batch of a kind before anything was measured.
    """

    def __init__(self, *, max_units: int = 1000, target_seconds: float = 20.0, max_seconds: float = REQUEST_LIMIT / 2,
                 start_units: int = START_UNITS):
        if not 0 < target_seconds <= max_seconds < REQUEST_LIMIT:
            raise ValueError("need 0 < target_seconds <= max_seconds < the 120 s request limit")
        self.max_units = max_units
        self.target_seconds = target_seconds
        self.max_seconds = max_seconds
        self.start_units = max(1, min(start_units, max_units))
        #: the emulator's ``x-emulator-time-scale`` (1 against a real org): modeled seconds per real second
        self.time_scale = 1.0
        self._lock = threading.Lock()
        self._per_unit: dict[str, float] = {}
        self._size: dict[str, int] = {}
        self._measured: dict[str, list[float]] = {}  # kind -> [requests, units, server seconds]
        self._best: dict[str, float] = {}  # kind -> the lowest seconds per unit measured
        self._shrunk: dict[str, int] = {}  # kind -> times its size was cut

    # ------------------------------------------------------------------ what to send

    def size(self, kind: str, *, bulk: bool = False) -> int:
        """Units the next batch (or bulk message) of ``kind`` may hold."""
        cap = MAX_BULK_TARGETS if bulk else self.max_units
        with self._lock:
            return max(1, min(cap, self._size.get(kind, self.start_units)))

    def per_unit(self, kind: str) -> float | None:
        """Estimated server seconds per unit of ``kind``, or None before the first measurement."""
        with self._lock:
            return self._per_unit.get(kind)

    def predict(self, units_by_kind: dict[str, int]) -> float | None:
        """Predicted server seconds of a request holding these units; None if a kind is unmeasured."""
        total = 0.0
        with self._lock:
            for kind, units in units_by_kind.items():
                est = self._per_unit.get(kind)
                if est is None:
                    return None
                total += est * units
        return total

    def fits(self, units_by_kind: dict[str, int]) -> bool:
        """Whether a request holding these units stays within :attr:`max_seconds` as predicted."""
        predicted = self.predict(units_by_kind)
        return predicted is None or predicted <= self.max_seconds

    def read_timeout(self, predicted: float | None) -> float:
        """The client's read timeout in *real* seconds for a request predicted to take ``predicted``.

        Unmeasured: the service's limit plus a grace (the service answers by then). Measured: three
        times the prediction plus 10 s, at least :data:`MIN_TIMEOUT`, at most that same ceiling.
        """
        ceiling = REQUEST_LIMIT + GRACE
        modeled = ceiling if predicted is None else min(ceiling, max(MIN_TIMEOUT, 3 * predicted + 10))
        return max(modeled / self.time_scale, min(MIN_REAL_TIMEOUT, modeled))

    def service_gave_up_by(self, started: float) -> float:
        """When (``time.monotonic``) the service has surely ended a request sent at ``started``."""
        return started + (REQUEST_LIMIT + GRACE) / self.time_scale

    # ------------------------------------------------------------------ what the service said

    def observe(self, units_by_kind: dict[str, int], server_seconds: float) -> float:
        """One answered request took ``server_seconds``: update estimates and sizes of its kinds.

        A request mixing kinds has its time shared out in proportion to what each kind was
        expected to cost (equal shares per unit before any estimate exists).

        :returns: how much slower per unit this request was than the fastest one of its main
            kind (1.0 = as fast as ever). Work that slows down as more is sent at once means the
            server is saturated, whatever its limits say (:mod:`.governor` stops ramping then).
        """
        total_units = sum(units_by_kind.values())
        if total_units <= 0:
            return 1.0
        main = max(units_by_kind, key=units_by_kind.get)
        with self._lock:
            per_unit = server_seconds / total_units
            best = self._best.get(main)
            self._best[main] = per_unit if best is None else min(best, per_unit)
            # A quick answer says nothing about saturation: at a few milliseconds, scheduling
            # noise alone makes one answer several times slower than another.
            slowdown = per_unit / best if best and server_seconds >= SATURATION_MIN_SECONDS else 1.0
            weights = {k: u * self._per_unit.get(k, 1.0) for k, u in units_by_kind.items()}
            weight_sum = sum(weights.values()) or 1.0
            for kind, units in units_by_kind.items():
                share = server_seconds * weights[kind] / weight_sum
                observed = share / units
                old = self._per_unit.get(kind)
                self._per_unit[kind] = observed if old is None else old + SMOOTHING * (observed - old)
                m = self._measured.setdefault(kind, [0, 0, 0.0])
                m[0] += 1
                m[1] += units
                m[2] += share
                current = self._size.get(kind, self.start_units)
                wanted = self._units_for(kind, self.target_seconds)
                # Grow at most twofold per answer (the estimate of a kind seen once is rough).
                self._size[kind] = max(1, min(wanted, 2 * max(current, units)))
        return slowdown

    def shrink(self, units_by_kind: dict[str, int], *, took_at_least: float | None = None) -> None:
        """A request of these kinds timed out, hit the SQL timeout or the execution-time limit.

        :param took_at_least: server seconds the request is known to have used (its limit, for a
            timeout); the estimates rise to at least that spread over its units.
        """
        total_units = sum(units_by_kind.values()) or 1
        with self._lock:
            for kind, units in units_by_kind.items():
                old = self._per_unit.get(kind)
                floor = (took_at_least / total_units) if took_at_least else 0.0
                self._per_unit[kind] = max(floor, 2 * old if old is not None else floor)
                current = self._size.get(kind, self.start_units)
                self._size[kind] = max(1, min(current, units) // 2)
                self._shrunk[kind] = self._shrunk.get(kind, 0) + 1

    def share_floor(self, kind: str, seconds: float) -> int:
        """Units of ``kind`` below which cutting a batch to share work out is not worth a request:
        those that take ``seconds`` at the fastest this kind was measured (never more than its
        size).

        The fastest, not the running estimate: with many requests in flight on a server that is
        already busy, each answer also carries the time it queued behind the others, and the
        estimate grows with the very sharing it decides (at 52 in flight on the emulator without
        costs, 16 ms an email against 1-4 ms: batches of 30, three times the requests). Work
        that really costs more per unit is cut no finer for it: the size bounds a batch anyway.
        """
        with self._lock:
            return min(self._size.get(kind, self.start_units), self._units_for(kind, seconds, fastest=True))

    def _units_for(self, kind: str, seconds: float, *, fastest: bool = False) -> int:
        """Units of ``kind`` that take ``seconds`` at the running estimate (or the ``fastest`` measured)."""
        est = self._per_unit.get(kind)
        if fastest and est:
            est = min(est, self._best.get(kind) or est)
        if not est:
            return self.max_units
        return max(1, int(seconds / est))

    # ------------------------------------------------------------------ reporting

    def snapshot(self) -> dict[str, dict[str, float]]:
        """Per kind: measured server seconds per unit, the current size, requests and units sent
        (answered ones), and how often its size was cut (``shrunk``)."""
        with self._lock:
            out = {}
            for kind in self._shrunk.keys() - self._measured.keys():
                self._measured[kind] = [0, 0, 0.0]
            for kind, (requests, units, seconds) in sorted(self._measured.items()):
                out[kind] = {
                    "server_seconds_per_operation": round(seconds / units, 4) if units else 0.0,
                    "estimate_seconds_per_operation": round(self._per_unit.get(kind, 0.0), 4),
                    "batch_size": self._size.get(kind, self.start_units),
                    "requests": int(requests),
                    "operations": int(units),
                    "server_seconds": round(seconds, 2),
                    "shrunk": self._shrunk.get(kind, 0),
                }
            return out


def units_by_kind(items: Iterable[Operation | ChangeSet]) -> dict[str, int]:
    """Units per kind of ``items`` (what :meth:`BatchSizer.observe` and :meth:`~BatchSizer.predict` take)."""
    out: dict[str, int] = {}
    for item in items:
        kind = kind_of(item)
        out[kind] = out.get(kind, 0) + units_of(item)
    return out


def fair_share(pending_units: int, slots: int, floor: int) -> int:
    """Units per batch that keep ``slots`` requests busy with ``pending_units`` left (at least ``floor``)."""
    return max(floor, math.ceil(pending_units / max(1, slots)))


def split_bulk(op: Operation, first: int) -> tuple[Operation, Operation]:
    """A bulk message cut after its ``first`` targets: the two messages, tags and rows sliced alike.

    Only for a message whose tag is a :class:`~mail2dataverse.operations.BulkTag` (its items
    match the targets one for one); :class:`~mail2dataverse.operations.Rows` are sliced too.
    """
    from mail2dataverse.operations import BulkTag, Rows

    targets: Sequence = op.body["Targets"]
    tag = op.tag

    def part(lo: int, hi: int | None) -> Operation:
        body = {**op.body, "Targets": list(targets[lo:hi])}
        new_tag = BulkTag(tag.kind, tag.table, list(tag.items[lo:hi])) if isinstance(tag, BulkTag) else tag
        rows = op.rows
        if rows is not None:
            rows = Rows(rows.entity_set, rows.column, tuple(rows.values[lo:hi]), rows.created)
        return Operation(op.method, op.path, body, dict(op.headers), op.content_id, new_tag, rows)

    return part(0, first), part(first, None)
