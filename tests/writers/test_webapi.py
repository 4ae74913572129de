"""WebApiClient: headers, retries, throttling, auth refresh, batching, parallelism, secrecy."""

from __future__ import annotations

import http.client
import logging
import threading
from datetime import datetime, timezone

import pytest
import requests

from mail2dataverse.auth import NoAuth, StaticToken
from mail2dataverse.errors import AuthError, WebApiError
from mail2dataverse.operations import ChangeSet, Operation
from mail2dataverse.writers.governor import RAMP_STEP
from mail2dataverse.writers.webapi import WebApiClient, parse_retry_after

from .fakes import ORG, ROOT, FakeBatchServer, client_with, ids_in, parse_batch_request, script

GUID = "6cd81853-7b75-e911-a97a-000d3a34a1bd"
CREATED = (204, {"OData-EntityId": f"{ROOT}contacts({GUID})"}, None)
SECRET = "t0k3n-SECRET-value"


class RecordingAuth:
    """Hands out numbered tokens and records every call."""

    def __init__(self):
        self.calls: list[bool] = []

    def token(self, *, force_refresh: bool = False) -> str | None:
        self.calls.append(force_refresh)
        return f"tok{len(self.calls)}{'-fresh' if force_refresh else ''}"


# ----------------------------------------------------------------------------- single request


def test_send_headers_url_encoding_and_entity_id():
    client, adapter, _ = client_with(script(CREATED))
    result = client.send(Operation("POST", "contacts", {"emailaddress1": "a+b@x.com", "lastname": "Zoë"}))
    assert result.ok and result.status == 204 and result.entity_id == GUID
    req = adapter.requests[0]
    assert req.url == ROOT + "contacts"
    assert req.headers["Accept"] == "application/json"
    assert req.headers["OData-MaxVersion"] == "4.0" and req.headers["OData-Version"] == "4.0"
    assert req.headers["Content-Type"] == "application/json; charset=utf-8"
    assert req.headers["Authorization"] == "Bearer t0k3n"
    assert req.body == b'{"emailaddress1":"a+b@x.com","lastname":"Zo\\u00eb"}'

    client.send(Operation("GET", "contacts?$filter=emailaddress1 eq 'o''b+1&2@x.com'"))
    assert adapter.requests[1].url == ROOT + "contacts?$filter=emailaddress1%20eq%20'o''b%2B1%262@x.com'"
    assert "Content-Type" not in adapter.requests[1].headers


def test_service_root_and_no_auth_sends_no_authorization_header():
    client, adapter, _ = client_with(script((200, {}, {"value": []})), auth=NoAuth())
    assert client.service_root == ORG + "/api/data/v9.2/"
    client.send(Operation("GET", "WhoAmI"))
    assert "Authorization" not in adapter.requests[0].headers


def test_send_maps_error_body():
    err = {"error": {"code": "0x80040217", "message": "Entity 'contact' With Id = x Does Not Exist"}}
    client, _, _ = client_with(script((404, {}, err)))
    result = client.send(Operation("PATCH", f"contacts({GUID})", {"a": 1}, headers={"If-Match": "*"}))
    assert (result.status, result.error_code, result.ok) == (404, "0x80040217", False)
    assert "Does Not Exist" in result.error_message
    assert client.stats["errors_by_code"] == {"0x80040217": 1}


def test_token_is_asked_before_every_request():
    auth = RecordingAuth()
    client, adapter, _ = client_with(script(CREATED), auth=auth)
    for _ in range(3):
        client.send(Operation("POST", "contacts", {}))
    assert auth.calls == [False, False, False]
    assert [r.headers["Authorization"] for r in adapter.requests] == ["Bearer tok1", "Bearer tok2", "Bearer tok3"]


# ----------------------------------------------------------------------------- retry policy


def test_401_refreshes_the_token_once_and_resends():
    auth = RecordingAuth()
    client, adapter, sleeps = client_with(script((401, {}, None), CREATED), auth=auth)
    assert client.send(Operation("POST", "contacts", {})).status == 204
    assert auth.calls == [False, True]
    assert adapter.requests[1].headers["Authorization"] == "Bearer tok2-fresh"
    assert client.stats["auth_refreshes"] == 1 and sleeps == []


def test_second_401_is_returned_not_looped():
    auth = RecordingAuth()
    client, adapter, _ = client_with(script((401, {}, None)), auth=auth)
    result = client.send(Operation("GET", "WhoAmI"))
    assert result.status == 401 and len(adapter.requests) == 2 and auth.calls == [False, True]


def test_429_honours_retry_after_seconds():
    client, adapter, sleeps = client_with(script((429, {"Retry-After": "7"}, None), (429, {"Retry-After": "2"}, None), CREATED))
    assert client.send(Operation("POST", "contacts", {})).status == 204
    assert sleeps == [7.0, 2.0]
    stats = client.stats
    assert stats["throttled"] == 2 and stats["retry_after_seconds_total"] == 9.0 and stats["retries"] == 2
    assert stats["requests"] == 3


def test_429_with_http_date_and_without_retry_after():
    future = "Wed, 21 Oct 2015 07:28:30 GMT"
    assert parse_retry_after(future, now=datetime(2015, 10, 21, 7, 28, 0, tzinfo=timezone.utc)) == 30.0
    assert parse_retry_after("0.5") == 0.5
    assert parse_retry_after("soon") is None and parse_retry_after(None) is None
    client, _, sleeps = client_with(script((429, {}, None), CREATED), backoff_base=0.5)
    client.send(Operation("GET", "x"))
    assert len(sleeps) == 1 and 0 <= sleeps[0] <= 0.5


def test_5xx_backoff_is_exponential_with_full_jitter_and_bounded():
    client, adapter, sleeps = client_with(script((503, {}, None)), max_retries=6, backoff_base=1, backoff_cap=10)
    result = client.send(Operation("GET", "x"))
    assert result.status == 503 and len(adapter.requests) == 7
    ceilings = [1, 2, 4, 8, 10, 10]
    assert len(sleeps) == 6 and all(0 <= s <= c for s, c in zip(sleeps, ceilings))
    assert client.stats["retries"] == 6


@pytest.mark.parametrize(
    "exc",
    [
        requests.exceptions.ConnectionError("Connection aborted.", http.client.RemoteDisconnected("Remote end closed connection")),
        requests.exceptions.ChunkedEncodingError("Connection broken: IncompleteRead"),
        requests.exceptions.ReadTimeout("read timed out"),
        http.client.RemoteDisconnected("Remote end closed connection without response"),
        ConnectionResetError(104, "Connection reset by peer"),
    ],
    ids=["ConnectionError", "ChunkedEncodingError", "ReadTimeout", "RemoteDisconnected", "ConnectionResetError"],
)
def test_dropped_connections_are_retried(exc):
    client, adapter, sleeps = client_with(script(exc, exc, CREATED))
    assert client.send(Operation("POST", "contacts", {})).status == 204
    assert len(adapter.requests) == 3 and len(sleeps) == 2
    assert client.stats["transport_errors"] == 2


def test_transport_failure_after_max_retries_says_what_happened():
    client, adapter, _ = client_with(script(requests.exceptions.ConnectionError("refused")), max_retries=3)
    result = client.send(Operation("POST", "contacts", {}))
    assert result.status == 0 and result.error_code == "TransportError"
    assert "ConnectionError: refused" in result.error_message and "after 4 attempts" in result.error_message
    assert len(adapter.requests) == 4
    with pytest.raises(WebApiError, match="TransportError"):
        list(client.query_all("contacts"))


def test_certificate_failures_are_not_retried():
    exc = requests.exceptions.SSLError("[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed")
    client, adapter, sleeps = client_with(script(exc))
    assert client.send(Operation("GET", "x")).status == 0
    assert len(adapter.requests) == 1 and sleeps == []


def test_other_4xx_are_not_retried():
    client, adapter, sleeps = client_with(script((400, {}, {"error": {"code": "0x0", "message": "bad"}})))
    assert client.send(Operation("GET", "x")).error_code == "0x0"
    assert len(adapter.requests) == 1 and sleeps == []


# ----------------------------------------------------------------------------- $batch


def _ops(n, start=0):
    return [Operation("POST", "contacts", {"n": i}, tag=i) for i in range(start, start + n)]


def test_execute_splits_into_batches_of_at_most_max_operations_without_splitting_change_sets():
    server = FakeBatchServer()
    client, adapter, _ = client_with(server, max_batch_operations=5, max_parallel=1)
    cs = ChangeSet(_ops(3, start=100))
    items = [*_ops(4), cs, *_ops(2, start=10), ChangeSet(_ops(5, start=200))]
    results = client.execute(items)
    assert [len(b) for b in server.batches] == [4, 5, 5]
    assert ids_in(server.batches[1]) == [100, 101, 102, 10, 11]
    assert [r.operation.tag for r in results] == [0, 1, 2, 3, 100, 101, 102, 10, 11, 200, 201, 202, 203, 204]
    assert all(r.status == 204 and r.entity_id for r in results)
    stats = client.stats
    assert stats["batches"] == 3 and stats["operations"] == 14 and stats["requests"] == 3


def test_batch_request_headers_and_prefer_continue_on_error():
    server = FakeBatchServer()
    client, adapter, _ = client_with(server)
    client.execute(_ops(2))
    client.execute(_ops(2), continue_on_error=False)
    first, second = adapter.requests
    assert first.url == ROOT + "$batch" and first.method == "POST"
    assert first.headers["Content-Type"].startswith('multipart/mixed; boundary="batch_')
    assert first.headers["Prefer"] == "odata.continue-on-error"
    assert "Prefer" not in second.headers
    assert first.headers["Authorization"] == "Bearer t0k3n" and first.headers["OData-Version"] == "4.0"
    assert b"POST /api/data/v9.2/contacts HTTP/1.1\r\n" in first.body


def test_failed_change_set_results():
    server = FakeBatchServer()
    client, _, _ = client_with(server)
    cs = ChangeSet([Operation("POST", "emails", {"n": 1}, content_id="1"), Operation("PATCH", "$1", {"n": 2, "fail": True}, content_id="2")])
    ok_cs = ChangeSet([Operation("POST", "emails", {"n": 3}, content_id="1"), Operation("PATCH", "$1", {"n": 4}, content_id="2")])
    results = client.execute([cs, ok_cs, Operation("POST", "contacts", {"n": 5})])
    assert [(r.status, r.rolled_back) for r in results] == [(0, True), (400, False), (204, False), (204, False), (204, False)]
    assert results[1].error_code == "0x80044331" and "rolled back" in results[0].error_message
    # the server saw batch-wide Content-IDs and the second change set's reference renumbered
    parts = server.batches[0]
    assert [p.content_id for p in parts] == ["1", "2", "3", "4", None]
    assert parts[3].target == "$3"
    assert client.stats["errors_by_code"] == {"0x80044331": 1}


def test_batch_rejected_as_a_whole_maps_to_every_operation():
    client, _, _ = client_with(script((400, {}, {"error": {"code": "0x80048d19", "message": "Stream was not readable."}})))
    results = client.execute([ChangeSet(_ops(2)), *_ops(1)])
    assert [r.status for r in results] == [400, 400, 400]
    assert all(r.error_code == "0x80048d19" and r.error_message.startswith("batch rejected: ") for r in results)


def test_batch_throttled_then_accepted_and_connection_dropped_then_accepted():
    server = FakeBatchServer()
    outcomes = [(429, {"Retry-After": "3"}, None), requests.exceptions.ConnectionError("reset")]

    def before(request):
        return outcomes.pop(0) if outcomes else None

    server.before = before
    client, adapter, sleeps = client_with(server)
    results = client.execute(_ops(3))
    assert [r.status for r in results] == [204, 204, 204]
    assert len(adapter.requests) == 3 and sleeps[0] == 3.0 and len(sleeps) == 2
    assert client.stats["throttled"] == 1


def test_batch_transport_failure_marks_operations_not_executed():
    client, _, _ = client_with(script(requests.exceptions.ConnectionError("down")), max_retries=1)
    results = client.execute([ChangeSet(_ops(2)), *_ops(1)])
    assert [r.status for r in results] == [0, 0, 0]
    assert all(r.error_message.startswith("not executed or outcome unknown: ") for r in results)


def test_execute_refuses_what_the_service_would_reject():
    client, adapter, _ = client_with(FakeBatchServer(), max_batch_operations=2)
    with pytest.raises(ValueError, match="cannot fit"):
        client.execute([ChangeSet(_ops(3))])
    with pytest.raises(ValueError, match="GET is not allowed"):
        client.execute([ChangeSet([Operation("GET", "contacts")])])
    assert adapter.requests == [] and client.execute([]) == []


def test_auth_failure_propagates():
    class Broken:
        def token(self, *, force_refresh=False):
            raise AuthError("invalid_client", "AADSTS7000215: Invalid client secret provided.")

    client, adapter, _ = client_with(FakeBatchServer(), auth=Broken())
    with pytest.raises(AuthError, match="invalid_client"):
        client.execute(_ops(1))
    assert adapter.requests == []


# ----------------------------------------------------------------------------- parallelism


class ConcurrencyProbe:
    """Wraps a handler; records the most requests seen in flight at once."""

    def __init__(self, inner, want: int, hold: float = 5.0):
        self.inner, self.want, self.hold = inner, want, hold
        self.in_flight = self.max_seen = 0
        self.cond = threading.Condition()

    def __call__(self, request):
        with self.cond:
            self.in_flight += 1
            self.max_seen = max(self.max_seen, self.in_flight)
            self.cond.notify_all()
            # Hold each request until `want` were in flight together once (then let all go),
            # or until `hold` seconds pass: a cap against deadlock, not a timing assertion.
            self.cond.wait_for(lambda: self.max_seen >= self.want, timeout=self.hold)
        try:
            return self.inner(request)
        finally:
            with self.cond:
                self.in_flight -= 1


def test_parallel_batches_keep_input_order():
    probe = ConcurrencyProbe(FakeBatchServer(), want=3)
    client, _, _ = client_with(probe, max_batch_operations=10, max_parallel=3)
    items = [ChangeSet(_ops(2, start=i * 2)) if i % 3 == 0 else Operation("POST", "contacts", {"n": i * 2}, tag=i * 2) for i in range(60)]
    results = client.execute(items)
    expected = []
    for item in items:
        expected.extend(op.tag for op in (item.operations if isinstance(item, ChangeSet) else [item]))
    assert [r.operation.tag for r in results] == expected
    assert all(r.status == 204 for r in results)
    assert probe.max_seen == 3


def test_dop_hint_is_where_parallelism_starts_and_answers_raise_it_up_to_max_parallel():
    server = FakeBatchServer(extra_headers={"x-ms-dop-hint": "1"})
    probe = ConcurrencyProbe(server, want=5, hold=0.1)
    client, _, _ = client_with(probe, max_batch_operations=1, max_parallel=5)
    assert client.parallelism == 4  # before the service said anything
    client.execute(_ops(1))  # learns the hint: starts at 1, the answer raises it by the ramp's step
    assert client.parallelism == 1 + RAMP_STEP and client.stats["dop_hint"] == 1
    results = client.execute(_ops(40))
    assert [r.status for r in results] == [204] * 40
    assert client.parallelism == 5 and probe.max_seen <= 5  # never above max_parallel


# ----------------------------------------------------------------------------- query_all


def test_query_all_follows_next_links_with_the_same_page_size():
    pages = [
        (200, {}, {"value": [{"contactid": "1"}, {"contactid": "2"}], "@odata.nextLink": ROOT + "contacts?$select=fullname&$skiptoken=%3Ccookie%20p=%222%22%3E"}),
        (200, {}, {"value": [{"contactid": "3"}]}),
    ]
    client, adapter, _ = client_with(script(*pages))
    rows = list(client.query_all("contacts?$select=fullname&$filter=lastname eq 'O''Brien'", page_size=2))
    assert [r["contactid"] for r in rows] == ["1", "2", "3"]
    assert adapter.requests[0].url == ROOT + "contacts?$select=fullname&$filter=lastname%20eq%20'O''Brien'"
    assert adapter.requests[1].url == ROOT + "contacts?$select=fullname&$skiptoken=%3Ccookie%20p=%222%22%3E"
    assert all(r.headers["Prefer"] == "odata.maxpagesize=2" for r in adapter.requests)


def test_query_all_raises_service_errors_and_refuses_foreign_next_links():
    client, _, _ = client_with(script((400, {}, {"error": {"code": "0x0", "message": "Could not find a property named 'x'"}})))
    with pytest.raises(WebApiError) as info:
        list(client.query_all("contacts?$select=x"))
    assert info.value.status == 400 and info.value.code == "0x0" and "GET contacts?$select=x" in str(info.value)

    client, adapter, _ = client_with(script((200, {}, {"value": [{"n": 1}]})))
    # an absolute nextLink handed back in is used unchanged (no double encoding of %3C)
    link = ROOT + "contacts?$select=fullname&$skiptoken=%3Ccookie%20p=%222%22%3E"
    assert list(client.query_all(link)) == [{"n": 1}] and adapter.requests[0].url == link
    with pytest.raises(ValueError, match="another host"):
        list(client.query_all("https://evil.example/api/data/v9.2/contacts"))

    client, adapter, _ = client_with(script((200, {}, {"value": [{}], "@odata.nextLink": "https://evil.example/steal"})))
    with pytest.raises(WebApiError, match="another host"):
        list(client.query_all("contacts"))
    assert len(adapter.requests) == 1


# ----------------------------------------------------------------------------- secrecy


def test_token_never_appears_in_logs_results_or_errors(caplog):
    caplog.set_level(logging.DEBUG)
    outcomes = script(
        (401, {}, None),
        (429, {"Retry-After": "1"}, None),
        requests.exceptions.ConnectionError("dropped"),
        (503, {}, None),
        (400, {}, {"error": {"code": "0x0", "message": "bad"}}),
    )
    client, adapter, _ = client_with(outcomes, auth=StaticToken(SECRET))
    result = client.send(Operation("PATCH", "contacts(1)", {"a": 1}, headers={"If-Match": "*"}))
    results = client.execute(_ops(2))
    client2, _, _ = client_with(script(requests.exceptions.ConnectionError("x")), auth=StaticToken(SECRET), max_retries=0)
    with pytest.raises(WebApiError) as info:
        list(client2.query_all("contacts"))
    assert any(r.headers.get("Authorization") == f"Bearer {SECRET}" for r in adapter.requests)  # it was sent...
    text = "\n".join(
        [caplog.text, *(r.getMessage() for r in caplog.records), repr(result), *map(repr, results), str(info.value),
         repr(client), repr(client.auth), repr(client.stats)]
    )
    assert SECRET not in text  # ...and shown nowhere
    assert "401" in caplog.text and "throttled" in caplog.text


def test_parse_batch_request_helper_reads_what_we_send():
    # Guards the fake server itself: it must see what encode_batch wrote.
    from mail2dataverse.writers.batch import encode_batch

    ct, body = encode_batch([ChangeSet([Operation("POST", "a", {"n": 1}), Operation("PATCH", "$1", {"n": 2})]), Operation("GET", "b")])
    parts = parse_batch_request(ct, body)
    assert [(p.method, p.target, p.content_id, p.changeset) for p in parts] == [
        ("POST", "/api/data/v9.2/a", "1", 0), ("PATCH", "$1", "2", 0), ("GET", "/api/data/v9.2/b", None, None)
    ]


def test_client_context_manager_closes_its_own_session():
    with WebApiClient(ORG, NoAuth()) as client:
        assert client.service_root == ROOT
        adapter = client.session.get_adapter(ROOT)
        assert adapter._pool_maxsize >= 16
