"""The writer's side of throughput (issue 12), against the emulator's cost model and with fakes.

Each test states a property of the run's end state or of what was sent: never how long it took.
Time-scaled emulators make modeled minutes pass in real seconds.
"""

from __future__ import annotations

import json
import threading
import uuid
from urllib.parse import unquote

import requests

from mail2dataverse.auth import StaticToken
from mail2dataverse.emulator import Emulator
from mail2dataverse.operations import ChangeSet, Operation, Rows
from mail2dataverse.writers.webapi import WebApiClient

from .fakes import FakeBatchServer, client_with, parse_batch_request


def _email(n: int) -> ChangeSet:
    activityid = str(uuid.uuid5(uuid.NAMESPACE_URL, f"throughput-{n}"))
    body = {"activityid": activityid, "subject": f"s{n}", "messageid": f"<{n}@x>"}
    return ChangeSet([
        Operation("POST", "emails", body, content_id="1", tag=n, rows=Rows("emails", "activityid", (activityid,), True)),
        Operation("PATCH", "$1", {"statecode": 1, "statuscode": 4}, content_id="2", tag=n),
    ])


def _client(emu: Emulator, *tokens: str, **kwargs) -> WebApiClient:
    auth = [StaticToken(t) for t in tokens] if tokens else StaticToken("throughput")
    kwargs.setdefault("max_retries", 20)
    return WebApiClient(emu.base_url, auth, **kwargs)


def _ids(emu: Emulator) -> list[str]:
    return [row["activityid"] for row in emu.records("email")]


def test_a_batch_that_would_pass_two_minutes_is_never_sent():
    # 3 modeled seconds per email: the old fixed 1,000-operation batch would need 1,500 s.
    costs = {"create.email": 2.0, "state.email": 1.0}
    with Emulator(cost_model="realistic", costs=costs, time_scale=200) as emu, _client(emu) as client:
        results = client.execute([_email(n) for n in range(120)])
        usage = emu.usage()
        assert all(r.ok for r in results)
        assert sorted(_ids(emu)) == sorted({r.operation.body["activityid"] for r in results if r.operation.method == "POST"})
        assert usage["totals"]["timeouts"] == 0 and client.stats["timeouts"] == 0
        # Batches aim at 20 s of measured server time: at 1.5 s per operation, a dozen operations.
        assert client.sizer.size("emails create") * 1.5 < 120


def test_a_timed_out_batch_is_settled_without_duplicates_or_false_failures():
    # 40 s per email: the first batch (10 operations, 5 emails) passes 2 minutes; the emulator
    # keeps the 2 change sets that finished before its cut and answers the SQL timeout.
    with Emulator(cost_model="realistic", costs={"create.email": 40.0}, time_scale=400) as emu, _client(emu) as client:
        results = client.execute([_email(n) for n in range(10)])
        stats, usage = client.stats, emu.usage()
        assert [r.status for r in results] == [204] * 20  # none reported failed
        ids = _ids(emu)
        assert len(ids) == len(set(ids)) == 10  # each email once
        assert usage["totals"]["timeouts"] >= 1 and stats["timeouts"] >= 1
        assert stats["settled_landed"] >= 1  # found in the org, not resent
        assert client.sizer.size("emails create") <= 4  # shrunk: at most 2 emails of 40 s


class CutAfterCommit:
    """A fake org: applies the first $batch, then cuts the connection before its answer arrives.

    Settling lookups (GET emails?...In(...)) answer from what was applied.
    """

    def __init__(self):
        self.server = FakeBatchServer()
        self.created: list[str] = []
        self.cut = False
        self.lock = threading.Lock()

    def __call__(self, request):
        if request.method == "GET":
            url = unquote(request.url)
            wanted = json.loads(url[url.index("PropertyValues=") + len("PropertyValues="):].split("])", 1)[0] + "]")
            rows = [{"activityid": i} for i in wanted if i in self.created]
            return 200, {}, {"value": rows}
        parts = parse_batch_request(request.headers["Content-Type"], request.body)
        answer = self.server(request)
        with self.lock:
            self.created += [p.body["activityid"] for p in parts if p.method == "POST"]
            if not self.cut:
                self.cut = True
                return requests.exceptions.ChunkedEncodingError("Connection broken: IncompleteRead")
        return answer


def test_a_cut_off_batch_is_settled_by_looking_up_what_landed():
    org = CutAfterCommit()
    client, adapter, _ = client_with(org, max_parallel=1)
    results = client.execute([_email(n) for n in range(8)])
    assert [r.status for r in results] == [204] * 16
    assert len(org.created) == len(set(org.created)) == 8  # nothing that landed was sent again
    assert client.stats["settled_landed"] >= 1
    landed = [r for r in results if r.headers.get("x-mail2dataverse-settled")]
    assert landed and all(r.ok for r in landed)


def test_an_execution_time_429_shrinks_batches_and_concurrency_and_the_run_completes():
    # 10 s of execution time per 10 s window, no lag: 300 emails of ~0.3 s need 9 windows.
    costs = {"create.email": 0.2, "state.email": 0.1}
    faults = "exec=10s,window=10s,lag=0s"
    with Emulator(cost_model="realistic", costs=costs, faults=faults, time_scale=100) as emu, _client(emu) as client:
        results = client.execute([_email(n) for n in range(300)])
        usage = emu.usage()
        lane = client.lanes[0]
        assert all(r.ok for r in results)
        assert len(set(_ids(emu))) == 300
        assert usage["totals"]["throttled"]["execution_time"] >= 1
        assert lane.figures["throttled"] >= 1 and lane.figures["rested_seconds"] > 0
        assert not lane.ramping and lane.figures["concurrency_cuts"] >= 1
        assert client.sizer.snapshot()["emails create"]["shrunk"] >= 1


def test_a_burst_of_429s_cuts_the_allowance_once_per_round_trip():
    # The first four requests (the allowance before any answer) are all in flight before any
    # is answered, and all are refused at once, as the service refuses every request over its
    # concurrency limit or past a spent budget: one cut for the burst (a cut per 429 took the
    # allowance to 1), every 429 still counted, and everything lands.
    server = FakeBatchServer()
    cond = threading.Condition()
    burst: list[object] = []

    def before(request):
        with cond:
            if len(burst) >= 4:
                return None
            burst.append(request)
            cond.notify_all()
            # until all four are in flight, or 5 s pass: a guard against deadlock, not a timing assertion
            cond.wait_for(lambda: len(burst) >= 4, timeout=5)
        return 429, {"Retry-After": "0"}, {"error": {"code": "0x80072326", "message": "Number of concurrent requests exceeded the limit of 52."}}

    server.before = before
    client, _, _ = client_with(server, max_batch_operations=2, max_parallel=8)
    lane = client.lanes[0]
    assert lane.slots == 4
    results = client.execute([Operation("POST", "contacts", {"n": i}, tag=i) for i in range(40)])
    assert [r.status for r in results] == [204] * 40
    assert lane.figures["throttled"] == 4 and lane.figures["concurrency_cuts"] == 1


def _servers_used(emu: Emulator) -> set[int]:
    return {u["server"] for u in emu.usage()["usage"] if u["requests"]}


def test_requests_carry_no_affinity_cookie_unless_asked():
    ops = [Operation("POST", "contacts", {"lastname": f"n{i}"}) for i in range(4)]
    with Emulator(web_servers=4) as emu, _client(emu, max_parallel=1) as client:
        for op in ops:
            assert client.execute([op])[0].ok
        assert len(client.session.cookies) == 0
        assert _servers_used(emu) == {0, 1, 2, 3}  # no cookie: the balancer spreads them
        assert client.stats["users"][0]["web_servers_seen"] == 4  # read from the answers, not kept
    with Emulator(web_servers=4) as emu, _client(emu, max_parallel=1, keep_affinity=True) as client:
        for op in ops:
            assert client.execute([op])[0].ok
        assert "ARRAffinity" in client.session.cookies
        assert len(_servers_used(emu)) == 1  # the cookie pins every request to one server


def test_two_users_share_the_work():
    with Emulator() as emu, _client(emu, "user-a", "user-b", max_batch_operations=2) as client:
        results = client.execute([_email(n) for n in range(40)])
        assert all(r.ok for r in results) and len(set(_ids(emu))) == 40
        per_user = {u["user"]: u["requests"] for u in emu.usage()["usage"]}
        assert len(per_user) == 2 and all(n > 0 for n in per_user.values())
        assert [u["requests"] > 0 for u in client.stats["users"]] == [True, True]


def test_a_throttled_user_rests_while_the_other_works():
    server = FakeBatchServer()
    throttled = []

    def before(request):
        if request.headers["Authorization"] == "Bearer a" and not throttled:
            throttled.append(request)
            return 429, {"Retry-After": "30"}, {"error": {"code": "0x80072321", "message": "Combined execution time"}}
        return None

    server.before = before
    client, adapter, sleeps = client_with(server, auth=[StaticToken("a"), StaticToken("b")], max_batch_operations=2,
                                          max_parallel=1)
    results = client.execute([Operation("POST", "contacts", {"n": i}, tag=i) for i in range(12)])
    assert [r.status for r in results] == [204] * 12
    assert throttled and sleeps == []  # nobody waited: user b took the work while a rested
    after = adapter.requests[adapter.requests.index(throttled[0]) + 1:]
    assert after and all(r.headers["Authorization"] == "Bearer b" for r in after)
    a, b = client.stats["users"]
    assert a["throttled"] == 1 and a["rested_seconds"] == 30.0 and b["throttled"] == 0


def test_a_change_set_waits_for_the_row_it_binds_to_that_another_request_creates():
    # A reply and the email it answers, created by one run: the reply's bind would fail if it
    # overtook its parent, so the writer holds it back until the parent has its result, even
    # with free slots and the two in separate batches.
    import time

    server = FakeBatchServer()
    log: list[tuple[str, list]] = []
    lock = threading.Lock()

    def handler(request):
        from .fakes import ids_in
        ids = ids_in(parse_batch_request(request.headers["Content-Type"], request.body))
        with lock:
            log.append(("start", ids))
        if 0 in ids:
            time.sleep(0.2)  # room for a reply sent too early to overtake its parent
        out = server(request)
        with lock:
            log.append(("end", ids))
        return out

    parent_id = str(uuid.uuid4())
    parent = ChangeSet([Operation("POST", "emails", {"n": 0, "activityid": parent_id}, tag=0,
                                  rows=Rows("emails", "activityid", (parent_id,), True))])
    unrelated = [ChangeSet([Operation("POST", "emails", {"n": n}, tag=n)]) for n in (2, 3)]
    reply = ChangeSet([Operation("POST", "emails", {"n": 1, "parentactivityid@odata.bind": f"/emails({parent_id})"}, tag=1)],
                      after=frozenset({("emails", parent_id)}))
    client, _adapter, _sleeps = client_with(handler, max_batch_operations=1, max_parallel=4)
    results = client.execute([parent, reply, *unrelated])
    assert [r.status for r in results] == [204] * 4
    assert log.index(("end", [0])) < log.index(("start", [1]))
    # ... while work that binds to nothing unfinished went on meanwhile.
    assert log.index(("start", [2])) < log.index(("end", [0]))


def test_a_change_set_bound_to_a_row_created_earlier_in_its_own_batch_goes_with_it():
    server = FakeBatchServer()
    parent_id = str(uuid.uuid4())
    parent = ChangeSet([Operation("POST", "emails", {"n": 0, "activityid": parent_id}, tag=0,
                                  rows=Rows("emails", "activityid", (parent_id,), True))])
    reply = ChangeSet([Operation("POST", "emails", {"n": 1}, tag=1)], after=frozenset({("emails", parent_id)}))
    client, _adapter, _sleeps = client_with(server, max_parallel=1)
    results = client.execute([parent, reply])
    assert [r.status for r in results] == [204, 204]
    from .fakes import ids_in
    assert [ids_in(b) for b in server.batches] == [[0, 1]]  # one $batch: its parts run in order


def test_lookups_go_ahead_of_queued_writes_in_a_batch_of_their_own():
    # The planner waits for its lookups while thousands of its writes are queued: behind
    # them, the lookup's answer came only once the queue had drained, and the writer then
    # idled while the planner planned the next chunk.
    from .fakes import ids_in

    server = FakeBatchServer()
    first_in = threading.Event()
    release = threading.Event()

    def handler(request):
        if not first_in.is_set():
            first_in.set()
            release.wait(5)  # the first write batch is in flight while the lookups come
        return server(request)

    writes = [ChangeSet([Operation("POST", "emails", {"n": n}, tag=n)]) for n in range(6)]
    lookups = [Operation("GET", f"contacts?$filter=emailaddress1 eq 'a{n}@x.example'", tag=f"get{n}") for n in range(2)]
    client, _adapter, _sleeps = client_with(handler, max_batch_operations=2, max_parallel=1)
    job = client.submit(writes)
    assert first_in.wait(5)
    read = client.submit(lookups, first=True)
    release.set()
    assert [r.status for r in read.result()] == [200, 200]
    assert [r.status for r in job.result()] == [204] * 6
    sent = [[p.method for p in b] if b[0].method == "GET" else ids_in(b) for b in server.batches]
    assert sent == [[0, 1], ["GET", "GET"], [2, 3], [4, 5]]
