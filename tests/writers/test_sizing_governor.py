"""Batch sizes from measured server time, the read timeout that follows them, and the governor."""

from __future__ import annotations

import threading

from mail2dataverse.operations import ChangeSet, Operation, Rows
from mail2dataverse.writers.governor import CONCURRENCY_LIMIT, Governor, Lane
from mail2dataverse.writers.sizing import MIN_TIMEOUT, REQUEST_LIMIT, BatchSizer, kind_of, units_of

from .fakes import FakeBatchServer, client_with, parse_batch_request


def test_kinds_and_units():
    cs = ChangeSet([Operation("POST", "emails", {}), Operation("PATCH", "$1", {})])
    bulk = Operation("POST", "contacts/Microsoft.Dynamics.CRM.CreateMultiple", {"Targets": [{}, {}, {}]})
    assert (kind_of(cs), units_of(cs)) == ("emails create", 2)
    assert (kind_of(bulk), units_of(bulk)) == ("contacts CreateMultiple", 3)
    assert kind_of(Operation("GET", "contacts?$filter=x eq 1")) == "contacts read"
    assert kind_of(Operation("PATCH", "contacts(1)", {})) == "contacts update"


def test_sizes_start_small_grow_at_most_twofold_towards_the_target_and_shrink_on_a_timeout():
    sizer = BatchSizer(target_seconds=20)
    assert sizer.size("emails create") == 10 and sizer.predict({"emails create": 10}) is None
    sizer.observe({"emails create": 10}, 1.0)  # 0.1 s per operation: 200 would take 20 s
    assert sizer.size("emails create") == 20
    for _ in range(5):
        sizer.observe({"emails create": sizer.size("emails create")}, 0.1 * sizer.size("emails create"))
    assert sizer.size("emails create") == 200
    assert sizer.fits({"emails create": 200}) and not sizer.fits({"emails create": 700})  # 70 s > 60 s
    sizer.shrink({"emails create": 200}, took_at_least=REQUEST_LIMIT)
    assert sizer.size("emails create") == 100 and sizer.per_unit("emails create") >= 0.2
    assert sizer.snapshot()["emails create"]["shrunk"] == 1


def test_work_is_shared_out_down_to_the_fastest_measured_cost_not_one_inflated_by_queueing():
    sizer = BatchSizer(target_seconds=20)
    for _ in range(12):  # quick answers while little is in flight: 2 ms an operation
        sizer.observe({"emails create": sizer.size("emails create")}, 0.002 * sizer.size("emails create"))
    assert sizer.share_floor("emails create", 0.5) == 250
    for _ in range(40):  # then 52 in flight on a busy server: each answer also waited behind the others
        sizer.observe({"emails create": 100}, 1.6)
    assert sizer.per_unit("emails create") > 0.01  # the running estimate follows the queueing...
    assert sizer.share_floor("emails create", 0.5) == 250  # ...the floor does not: batches stay large
    # Work that really costs more is cut as finely as its cost says, and never beyond its size.
    costly = BatchSizer(target_seconds=20)
    costly.observe({"contacts update": 10}, 1.0)
    assert costly.share_floor("contacts update", 0.5) == 5
    assert BatchSizer().share_floor("leads read", 0.5) == BatchSizer().size("leads read")  # nothing measured


def test_the_read_timeout_follows_the_predicted_time_of_the_batch():
    sizer = BatchSizer()
    assert sizer.read_timeout(None) == REQUEST_LIMIT + 15  # nothing measured: the service's limit
    assert sizer.read_timeout(1.0) == MIN_TIMEOUT
    assert sizer.read_timeout(20.0) == 70.0
    assert sizer.read_timeout(60.0) == REQUEST_LIMIT + 15
    sizer.time_scale = 100.0  # the emulator's clock: real seconds shrink, with a real floor
    assert sizer.read_timeout(20.0) == 10.0


def test_the_governor_ramps_from_the_hint_never_above_its_cap_and_cuts_on_throttling():
    now = [0.0]
    lane = Lane("user1", None, cap=80, clock=lambda: now[0])
    assert lane.cap == CONCURRENCY_LIMIT  # never above the service's concurrency limit
    governor = Governor([lane], clock=lambda: now[0])
    lane.adopt_hint(3)
    assert lane.slots == 3
    for _ in range(100):
        governor.release(governor.acquire(), "ok")
    assert lane.slots == CONCURRENCY_LIMIT
    governor.release(governor.acquire(), "throttled", retry_after=5.0)
    assert lane.slots == int(CONCURRENCY_LIMIT * 0.75) and not lane.free(now[0])
    now[0] = 5.0
    assert lane.free(now[0]) and lane.figures["rested_seconds"] == 5.0
    before = lane.allowance
    governor.release(governor.acquire(), "ok")
    assert lane.allowance - before < 1  # holding: grows by one per allowance's worth of answers


def test_answers_sent_before_a_cut_do_not_cut_again():
    now = [0.0]
    lane = Lane("user1", None, cap=52, clock=lambda: now[0])
    governor = Governor([lane], clock=lambda: now[0])
    for _ in range(40):
        governor.release(governor.acquire(), "ok")
    assert lane.slots == 52
    # An overshoot: 30 requests in flight, all sent before any cut, all answered 429.
    sent = []
    for _ in range(30):
        governor.acquire()
        sent.append(lane.cuts)
    for mark in sent:
        governor.release(lane, "throttled", retry_after=1.0, sent_at_cut=mark)
    assert lane.slots == int(52 * 0.75)  # one cut for the round, not thirty
    assert lane.figures["throttled"] == 30 and lane.figures["concurrency_cuts"] == 1
    assert not lane.free(now[0]) and lane.figures["rested_seconds"] == 1.0  # every 429 still rests
    now[0] = 1.0
    # A request sent after the cut and throttled in its turn cuts again.
    governor.acquire()
    mark = lane.cuts
    governor.release(lane, "slow", sent_at_cut=mark)
    assert lane.slots == int(52 * 0.75 * 0.75) and lane.figures["concurrency_cuts"] == 2


def test_saturated_answers_stop_the_ramp():
    lane = Lane("user1", None, cap=52)
    governor = Governor([lane])
    start = lane.allowance
    governor.release(governor.acquire(), "ok", slowdown=5.0)
    assert lane.allowance < start and not lane.ramping


def test_no_two_requests_in_flight_write_the_same_row():
    server = FakeBatchServer()
    lock = threading.Lock()
    in_flight: list[str] = []
    overlap: list[str] = []
    release = threading.Event()

    def handler(request):
        rows = [p.target for p in parse_batch_request(request.headers["Content-Type"], request.body)]
        with lock:
            overlap.extend(r for r in rows if r in in_flight)
            in_flight.extend(rows)
        release.wait(timeout=0.2)  # hold it a moment so a second request could overlap
        try:
            return server(request)
        finally:
            with lock:
                for r in rows:
                    in_flight.remove(r)

    client, adapter, _ = client_with(handler, max_batch_operations=1, max_parallel=4)
    ops = [Operation("PATCH", f"contacts({n % 2})", {"n": i}, tag=i, rows=Rows("contacts", "contactid", (str(n % 2),)))
           for i, n in enumerate(range(6))]
    results = client.execute(ops)
    assert [r.status for r in results] == [204] * 6
    assert overlap == []
    assert len(adapter.requests) == 6
