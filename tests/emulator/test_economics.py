"""What work costs, over raw HTTP: the 2-minute limit, the three 429s, web servers, the clock, usage.

Most tests run the emulator on a fake monotonic clock whose sleeps advance it, so modeled
minutes pass instantly and every figure is exact; the concurrency test needs real overlap and
uses a real clock running 20× fast.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from mail2dataverse.emulator import Emulator, FaultProfile
from mail2dataverse.emulator.clock import ModeledClock

from .conftest import AUTH, Client, error_of

SQL_TIMEOUT = ("0x80044151", "SQL timeout expired. CRM ErrorCode: -2147204783 Sql ErrorCode: -2146232060 Sql Number: -2")


class FakeTime:
    """A monotonic clock that only moves when a thread sleeps on it (thread-safe)."""

    def __init__(self, advance_on_sleep: bool = True):
        self.t = 0.0
        self.slept: list[float] = []
        self.advance_on_sleep = advance_on_sleep  # False: work "overlaps", as if sent in parallel
        self._lock = threading.Lock()

    def monotonic(self) -> float:
        with self._lock:
            return self.t

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.slept.append(seconds)
            if self.advance_on_sleep:
                self.t += seconds

    def advance(self, seconds: float) -> None:
        with self._lock:
            self.t += seconds


def fake_clock(scale: float = 1.0, advance_on_sleep: bool = True) -> tuple[ModeledClock, FakeTime]:
    ft = FakeTime(advance_on_sleep)
    return ModeledClock(scale, monotonic=ft.monotonic, sleep=ft.sleep), ft


def batch(parts: list[str], changeset: bool = False) -> tuple[str, str]:
    """A $batch body of POST /contacts parts (optionally all in one change set)."""
    def part(i: int, body: str) -> str:
        cid = f"Content-ID: {i}\r\n" if changeset else ""
        return ("Content-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n" + cid + "\r\n"
                "POST /api/data/v9.2/contacts HTTP/1.1\r\nContent-Type: application/json; type=entry\r\n\r\n"
                + body + "\r\n")
    if changeset:
        inner = "".join(f"--cs\r\n{part(i + 1, b)}" for i, b in enumerate(parts)) + "--cs--\r\n"
        body = "--b\r\nContent-Type: multipart/mixed; boundary=cs\r\n\r\n" + inner + "--b--\r\n"
    else:
        body = "".join(f"--b\r\n{part(i + 1, b)}" for i, b in enumerate(parts)) + "--b--\r\n"
    return body, "multipart/mixed; boundary=b"


def post_batch(c: Client, parts: list[str], changeset: bool = False, **headers):
    body, ctype = batch(parts, changeset)
    return c.session.post(c.url("$batch"), data=body.encode(), headers={"Content-Type": ctype, **headers})


def usage(emu: Emulator) -> dict:
    r = requests.get(emu.base_url + "/_emulator/usage")
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("application/json")
    return r.json()


def contacts(n: int) -> list[str]:
    return [f'{{"lastname":"c{i}"}}' for i in range(n)]


# ---------------------------------------------------------------------- two minutes per request

def test_batch_without_changesets_that_passes_two_minutes_keeps_what_finished_before_the_cut():
    clock, ft = fake_clock()
    with Emulator(costs={"create.contact": 10}, clock=clock) as emu:
        c = Client(emu)
        r = post_batch(c, contacts(20))
        assert r.status_code == 500 and error_of(r) == SQL_TIMEOUT
        # 12 creates take exactly 120 s; the 13th would pass the limit and is cut (rolled back).
        assert sorted(x["lastname"] for x in emu.records("contact")) == sorted(f"c{i}" for i in range(12))
        assert ft.slept and sum(ft.slept) == pytest.approx(120)  # the answer comes at the cut, not later
        u = usage(emu)["usage"][0]
        assert u["timeouts"] == 1 and u["execution_seconds"] == 120


def test_a_changeset_running_at_the_cut_rolls_back_whole():
    clock, _ = fake_clock()
    with Emulator(costs={"create.contact": 10}, clock=clock) as emu:
        r = post_batch(Client(emu), contacts(13), changeset=True)
        assert r.status_code == 500 and error_of(r) == SQL_TIMEOUT
        assert emu.records("contact") == []


def test_a_single_request_over_two_minutes_lands_nothing_and_one_inside_lands():
    clock, _ = fake_clock()
    with Emulator(costs={"create.contact": 130}, clock=clock) as emu:
        c = Client(emu)
        r = c.post("contacts", {"lastname": "x"})
        assert r.status_code == 500 and error_of(r) == SQL_TIMEOUT and emu.records("contact") == []
    clock, _ = fake_clock()
    with Emulator(costs={"create.contact": 119}, clock=clock) as emu:
        assert Client(emu).post("contacts", {"lastname": "x"}).status_code == 204


def test_injected_op_latency_counts_against_the_limit():
    """The reproduction of issue 12: 130 operations at 1 s each pass the 2 minutes."""
    clock, _ = fake_clock()
    with Emulator(faults="op_latency=1000ms", clock=clock) as emu:
        r = post_batch(Client(emu), contacts(130))
        assert r.status_code == 500 and len(emu.records("contact")) == 120


# ---------------------------------------------------------------------- the three limits

def test_request_count_429_after_the_lag_with_retry_after_and_no_ratelimit_headers():
    clock, ft = fake_clock()
    with Emulator(faults=FaultProfile(max_requests=2, window_s=60, lag_s=30), clock=clock) as emu:
        c = Client(emu)
        assert [c.get("contacts").status_code for _ in range(3)] == [200, 200, 200]  # over, inside the lag
        ft.advance(31)
        r = c.get("contacts")
        assert r.status_code == 429
        assert error_of(r) == ("0x80072322", "Number of requests exceeded the limit of 2 over time window of 60 "
                                             "seconds.")
        assert r.headers["Retry-After"] == "29"  # the 2nd of 3 requests (t=0) leaves at 60; now is 31
        assert "x-ms-ratelimit-burst-remaining-xrm-requests" not in r.headers
        assert r.headers["x-ms-dop-hint"] and r.headers["OData-Version"] == "4.0"
        assert usage(emu)["usage"][0]["throttled"]["requests"] == 1


def test_a_client_that_keeps_pushing_gets_a_longer_retry_after():
    clock, ft = fake_clock()
    with Emulator(faults=FaultProfile(max_requests=2, window_s=60, lag_s=0, escalation_s=5), clock=clock) as emu:
        c = Client(emu)
        assert c.get("contacts").status_code == 200
        ft.advance(30)
        assert c.get("contacts").status_code == 200
        ft.advance(1)
        first = c.get("contacts")
        assert first.status_code == 429 and first.headers["Retry-After"] == "29"  # the t=0 request leaves at 60
        ft.advance(2)
        pushed = c.get("contacts")
        assert pushed.headers["Retry-After"] == "32"  # 60 + 5 - 33
        ft.advance(40)
        assert c.get("contacts").status_code == 200  # waited it out
        assert usage(emu)["usage"][0]["escalations"] == 1


def test_execution_time_429_and_the_ratelimit_headers():
    # The clock does not move while requests work: 24 requests of 50 s all inside one instant,
    # as a client sending them in parallel would put them in one window.
    clock, ft = fake_clock(advance_on_sleep=False)
    with Emulator(costs={"create.contact": 50}, faults=FaultProfile(lag_s=0), clock=clock) as emu:
        c = Client(emu)
        r = c.post("contacts", {"lastname": "a"})
        assert r.status_code == 204
        assert r.headers["x-ms-ratelimit-burst-remaining-xrm-requests"] == "5999"
        assert r.headers["x-ms-ratelimit-time-remaining-xrm-requests"] == "1,150.00"
        for _ in range(23):
            assert c.post("contacts", {"lastname": "a"}).status_code == 204
        r = c.post("contacts", {"lastname": "a"})  # 24 × 50 s = 1,200 s in the window
        assert r.status_code == 429
        code, message = error_of(r)
        assert code == "0x80072321" and message == (
            "Combined execution time of incoming requests exceeded limit of 1200000 milliseconds over time window of "
            "300 seconds. Decrease number of concurrent requests or reduce the duration of requests and try again "
            "later.")
        assert r.headers["Retry-After"] == "300" and len(emu.records("contact")) == 24  # all leave at t=300
        assert usage(emu)["usage"][0]["throttled"]["execution_time"] == 1


def test_concurrency_429_is_immediate():
    with Emulator(costs={"whoami": 10}, time_scale=20, faults=FaultProfile(max_concurrent=2, lag_s=300)) as emu:
        barrier = threading.Barrier(4)

        def call(_):
            barrier.wait()
            return requests.get(emu.service_root + "WhoAmI", headers=AUTH)

        with ThreadPoolExecutor(4) as pool:
            results = list(pool.map(call, range(4)))
        refused = [r for r in results if r.status_code == 429]
        assert refused and sum(r.status_code == 200 for r in results) >= 1
        assert error_of(refused[0]) == ("0x80072326", "Number of concurrent requests exceeded the limit of 2.")
        assert float(refused[0].headers["Retry-After"]) == pytest.approx(1 / 20)  # 1 modeled second
        assert usage(emu)["usage"][0]["peak_concurrency"] == 2


def test_users_are_told_apart_by_their_token_and_never_named_by_it():
    clock, _ = fake_clock()
    with Emulator(faults=FaultProfile(max_requests=1, window_s=60, lag_s=0), clock=clock) as emu:
        a = requests.Session()
        a.headers.update({"Authorization": "Bearer token-of-a"})
        assert a.get(emu.service_root + "contacts").status_code == 200
        assert a.get(emu.service_root + "contacts").status_code == 429
        assert requests.get(emu.service_root + "contacts", headers={"Authorization": "Bearer token-of-b"}) \
            .status_code == 200
        report = usage(emu)
        assert "token-of" not in str(report) and [u["user"] for u in report["usage"]] == ["user1", "user2"]


# ---------------------------------------------------------------------- web servers

def test_each_web_server_keeps_its_own_limits_and_requests_without_cookie_are_balanced():
    clock, _ = fake_clock()
    with Emulator(web_servers=2, faults=FaultProfile(max_requests=1, window_s=60, lag_s=0), clock=clock) as emu:
        get = lambda: requests.get(emu.service_root + "contacts", headers=AUTH)  # noqa: E731 - no cookie jar
        assert [get().status_code for _ in range(4)] == [200, 200, 429, 429]  # server 0, 1, 0, 1
        assert [(u["server"], u["requests"], u["throttled"]["requests"]) for u in usage(emu)["usage"]] == [
            (0, 1, 1), (1, 1, 1)]


def test_the_affinity_cookie_pins_a_session_to_one_server():
    with Emulator(web_servers=3) as emu:
        s = requests.Session()
        s.headers.update(AUTH)
        first = s.get(emu.service_root + "contacts")
        assert first.headers["Set-Cookie"].startswith("ARRAffinity=")
        assert "Secure" not in first.headers["Set-Cookie"]  # plain http: a Secure cookie never comes back
        later = [s.get(emu.service_root + "contacts") for _ in range(5)]
        assert all("Set-Cookie" not in r.headers for r in later)
        rows = usage(emu)["usage"]
        assert [(u["server"], u["requests"]) for u in rows] == [(0, 6)]
        # A client that drops the cookie is spread over the others.
        for _ in range(2):
            requests.get(emu.service_root + "contacts", headers=AUTH)
        assert sorted(u["server"] for u in usage(emu)["usage"]) == [0, 1, 2]


def test_the_affinity_cookie_is_secure_over_tls():
    with Emulator(tls=True, web_servers=2) as emu:
        r = requests.get(emu.service_root + "contacts", headers=AUTH, verify=emu.ca_file)
        cookies = r.raw.headers.getlist("Set-Cookie")
        assert any(c.startswith("ARRAffinity=") and "Secure" in c for c in cookies)
        assert any(c.startswith("ARRAffinitySameSite=") and "SameSite=None" in c for c in cookies)


# ---------------------------------------------------------------------- the clock and usage

def test_time_scale_divides_every_wait_and_retry_after():
    clock, ft = fake_clock(scale=100)
    with Emulator(costs={"create.contact": 30}, latency_ms=2000,
                  faults=FaultProfile(max_requests=1, window_s=300, lag_s=0), clock=clock) as emu:
        c = Client(emu)
        assert c.post("contacts", {"lastname": "x"}).status_code == 204
        assert ft.slept == [pytest.approx(0.02), pytest.approx(0.3)]  # 2 s latency, 30 s of work, ÷ 100
        r = c.get("contacts")
        assert r.status_code == 429 and r.headers["Retry-After"] == "2.68"  # (300 - 32) modeled s ÷ 100
        assert r.headers["x-emulator-time-scale"] == "100"
        clock_report = usage(emu)["clock"]
        assert clock_report["time_scale"] == 100 and clock_report["modeled_seconds"] == pytest.approx(32)


def test_usage_reports_model_figures_and_resets():
    clock, _ = fake_clock()
    with Emulator(cost_model="realistic", clock=clock) as emu:
        c = Client(emu)
        c.create("contacts", {"lastname": "x"})
        report = usage(emu)
        assert report["cost_model"]["name"] == "realistic"
        assert report["cost_model"]["figures"]["create.contact"] == 0.12
        assert report["web_servers"] == 1 and report["execution_seconds_per_second_per_user_and_server"] == 4.0
        row = report["usage"][0]
        assert row["requests"] == 1 and row["execution_seconds"] == pytest.approx(0.123)
        assert row["window"]["requests"] == 1 and row["peak_concurrency"] == 1 and row["timeouts"] == 0
        assert report["totals"]["requests"] == 1
        assert requests.delete(emu.base_url + "/_emulator/usage").status_code == 204
        assert usage(emu)["usage"] == []
        assert requests.post(emu.base_url + "/_emulator/usage").status_code == 405
        assert requests.get(emu.base_url + "/_emulator/nothing").status_code == 404


def test_realistic_costs_by_kind():
    """Create, deep-inserted parties, state change, query per row returned."""
    clock, ft = fake_clock()
    with Emulator(cost_model="realistic", clock=clock) as emu:
        c = Client(emu)
        contact = c.create("contacts", {"lastname": "x"})
        email = c.create("emails", {"subject": "s", "email_activity_parties": [
            {"participationtypemask": 1, "addressused": "a@x.example"},
            {"participationtypemask": 2, "partyid_contact@odata.bind": f"/contacts({contact})"}]})
        assert c.patch(f"emails({email})", {"statecode": 1, "statuscode": 4}).status_code == 204
        assert c.get("contacts?$filter=lastname eq 'x'").status_code == 200
        ft.slept.clear()
        ex = usage(emu)["usage"][0]["execution_seconds"]
        # request 0.003 × 4; contact 0.12; email 0.10 + 2 parties × 0.015; state 0.06;
        # query 0.01 + 1 row × 0.0005 + 1 row scanned × 0.00002
        assert ex == pytest.approx(0.012 + 0.12 + 0.13 + 0.06 + 0.01 + 0.0005 + 0.00002, abs=1e-3)


# ---------------------------------------------------------------------- the command line

def test_cli_flags_default_to_the_realistic_model_and_refuse_bad_figures(tmp_path, capsys):
    import argparse

    from mail2dataverse.emulator.cli import add_arguments, run

    parser = argparse.ArgumentParser()
    add_arguments(parser)
    args = parser.parse_args([])
    assert (args.cost_model, args.web_servers, args.time_scale, args.cost) == ("realistic", 1, 1.0, [])
    args = parser.parse_args(["--cost", "create.contact=200ms", "--cost", "row=0.001", "--web-servers", "4",
                              "--time-scale", "100", "--cost-model", "none"])
    assert args.cost == [{"create.contact": 0.2}, {"row": 0.001}] and args.web_servers == 4
    for bad in (["--cost", "nonsense=1"], ["--cost", "row=-1"], ["--web-servers", "0"], ["--time-scale", "x"],
                ["--cost-model", "cheap"]):
        with pytest.raises(SystemExit):
            parser.parse_args(bad)
    bad_file = tmp_path / "costs.yaml"
    bad_file.write_text("create.contact: lots\n", encoding="utf-8")
    assert run(parser.parse_args(["--cost-file", str(bad_file)])) == 2
    assert "costs.yaml" in capsys.readouterr().err
