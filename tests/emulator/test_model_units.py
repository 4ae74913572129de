"""Unit tests of the service model's parts: modeled clock, cost model, limits, web servers.

The raw-HTTP behaviour built from them is in test_economics.py; these pin the arithmetic with a
fake clock, so nothing here sleeps.
"""

from __future__ import annotations

import pytest

from mail2dataverse.emulator.clock import ModeledClock, format_seconds
from mail2dataverse.emulator.costs import (REALISTIC, CostModel, RequestMeter, RequestTimedOut, bulk_message,
                                           load_cost_file, metering, parse_overrides, parse_seconds, write)
from mail2dataverse.emulator.limits import Governor, Limits, Throttled
from mail2dataverse.emulator.webservers import WebFarm


class FakeTime:
    def __init__(self):
        self.t = 1000.0
        self.slept: list[float] = []

    def monotonic(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.t += seconds


# ---------------------------------------------------------------------- clock

def test_clock_runs_scale_times_faster_and_sleeps_real_time():
    ft = FakeTime()
    clock = ModeledClock(50, monotonic=ft.monotonic, sleep=ft.sleep)
    assert clock.now() == 0
    ft.t += 2
    assert clock.now() == 100 and clock.real_elapsed() == 2
    clock.sleep(300)  # a 5-minute window
    assert ft.slept == [6.0] and clock.now() == 400
    clock.sleep_until(399)  # already past: no sleep
    assert ft.slept == [6.0]
    assert clock.to_real(120) == 2.4 and clock.to_modeled(0.5) == 25


@pytest.mark.parametrize("bad", [0, -1, float("inf"), float("nan"), "2"])
def test_clock_refuses_a_bad_scale(bad):
    with pytest.raises(ValueError):
        ModeledClock(bad)


def test_retry_after_format_is_whole_seconds_when_whole():
    assert format_seconds(27) == "27" and format_seconds(0.27) == "0.27" and format_seconds(1 / 3) == "0.333"
    assert format_seconds(0.0001) == "0.001"  # never "0": a client would not wait at all


# ---------------------------------------------------------------------- costs

def test_figures_fall_back_from_table_to_star_to_kind():
    model = CostModel.build("realistic")
    assert model.figure("create", "contact") == REALISTIC["create.contact"]
    assert model.figure("create", "new_widget") == REALISTIC["create.*"]
    assert model.figure("row") == REALISTIC["row"] and model.figure("row", "contact") == REALISTIC["row"]
    assert CostModel.build("none").figure("create", "contact") == 0 and not CostModel.build("none").charges


def test_overrides_parse_units_and_reject_unknown_names():
    assert parse_overrides(["create.contact=200ms", "row=0.001,query=1s"]) == {
        "create.contact": 0.2, "row": 0.001, "query": 1.0}
    model = CostModel.build("none", parse_overrides("create.*=0.5"))
    assert model.figure("create", "email") == 0.5 and model.name == "none+overrides"
    for bad in ("creat.contact=1", "create.contact", "create.contact=-1", "create.a b=1", "row=abc"):
        with pytest.raises(ValueError):
            parse_overrides(bad)
    assert parse_seconds("1.5") == 1.5 and parse_seconds(2) == 2.0


def test_cost_file_yaml_and_json(tmp_path):
    y = tmp_path / "costs.yaml"
    y.write_text("create.contact: 0.3\nrow: 2ms\n", encoding="utf-8")
    assert load_cost_file(y) == {"create.contact": 0.3, "row": 0.002}
    j = tmp_path / "costs.json"
    j.write_text('{"update.*": 0.07}', encoding="utf-8")
    assert load_cost_file(j) == {"update.*": 0.07}
    bad = tmp_path / "bad.yaml"
    bad.write_text("nonsense.contact: 1\n", encoding="utf-8")
    with pytest.raises(ValueError, match="bad.yaml"):
        load_cost_file(bad)


def test_meter_charges_bulk_figures_inside_a_bulk_message_and_cuts_past_the_limit():
    meter = RequestMeter(CostModel.build("realistic"), limit=1.0)
    with metering(meter):
        write("create", "contact")
        with bulk_message():
            write("create", "contact")
            write("update", "contact")
        write("state", "email")
    assert meter.total == pytest.approx(0.12 + 0.04 + 0.05 + 0.06)
    assert meter.by_kind == pytest.approx({"create": 0.12, "bulk_create": 0.04, "bulk_update": 0.05, "state": 0.06})
    meter.charge("row", units=1000)  # 0.5 s: 0.77 in total, still inside
    with pytest.raises(RequestTimedOut) as exc:
        meter.charge("row", units=1000)
    assert exc.value.limit == 1.0 and exc.value.elapsed > 1.0
    write("create", "contact")  # outside a request: nothing to charge, no error


def test_op_latency_counts_as_server_time():
    meter = RequestMeter(CostModel.build("none"), limit=120, op_latency=1.0)
    meter.operations(100)
    for _ in range(20):
        meter.operations()
    with pytest.raises(RequestTimedOut):
        meter.operations()  # the 121st operation passes 2 minutes


# ---------------------------------------------------------------------- limits

def test_request_count_bites_after_the_lag_with_retry_after_until_the_window_frees():
    gov = Governor(Limits(max_requests=3, window_s=60, lag_s=10, grace_s=1, escalation_s=5))
    for t in (0, 1, 2):
        gov.admit(t)
        gov.release(t, 0)
    gov.admit(3)  # over, but the excess has not lasted 10 s yet
    gov.release(3, 0)
    with pytest.raises(Throttled) as exc:
        gov.admit(13)
    # four requests in the window; three must leave: the one at t=1 expires at 61
    assert exc.value.kind == "requests" and exc.value.code == "0x80072322" and exc.value.retry_after == 48
    assert exc.value.message == "Number of requests exceeded the limit of 3 over time window of 60 seconds."
    assert gov.throttled["requests"] == 1 and gov.requests == 4


def test_pushing_during_the_rest_extends_it_but_requests_already_on_their_way_do_not():
    gov = Governor(Limits(max_requests=1, window_s=60, lag_s=0, grace_s=1, escalation_s=5))
    gov.admit(0)
    gov.release(0, 0)
    with pytest.raises(Throttled) as first:
        gov.admit(10)
    assert first.value.retry_after == 50
    with pytest.raises(Throttled) as in_flight:
        gov.admit(10.5)  # within the grace: not extended
    assert in_flight.value.retry_after == 50
    with pytest.raises(Throttled) as pushed:
        gov.admit(20)
    assert pushed.value.retry_after == 45 and gov.escalations == 1  # 60 + 5 - 20
    for t in range(21, 40):
        with pytest.raises(Throttled):
            gov.admit(t)
    with pytest.raises(Throttled) as capped:
        gov.admit(40)
    assert capped.value.retry_after <= 60  # never more than one window from now
    gov2 = Governor(Limits(max_requests=1, window_s=60, lag_s=0))
    gov2.admit(0)
    gov2.release(0, 0)
    with pytest.raises(Throttled):
        gov2.admit(10)
    gov2.admit(60)  # a client that waited the Retry-After is admitted again


def test_execution_time_limit_and_remaining():
    gov = Governor(Limits(max_exec_s=10, window_s=100, lag_s=0))
    gov.admit(0)
    gov.release(1, 6)
    gov.admit(2)
    gov.release(3, 6)
    assert gov.remaining(3) == (5998, 0.0)
    with pytest.raises(Throttled) as exc:
        gov.admit(4)
    # 12 s in the window; after the 6 s ending at t=1 expire (t=101) it is 6 s, under 10
    assert exc.value.kind == "execution_time" and exc.value.code == "0x80072321" and exc.value.retry_after == 97
    assert exc.value.message.startswith("Combined execution time of incoming requests exceeded limit of 10000 "
                                        "milliseconds over time window of 100 seconds.")
    assert gov.remaining(200) == (6000, 10.0)


def test_concurrency_bites_at_once_and_frees_with_the_slot():
    gov = Governor(Limits(max_concurrent=2, lag_s=300))
    gov.admit(0)
    gov.admit(0)
    with pytest.raises(Throttled) as exc:
        gov.admit(0)
    assert exc.value.code == "0x80072326" and exc.value.retry_after == 1
    assert exc.value.message == "Number of concurrent requests exceeded the limit of 2."
    gov.release(0.5, 0.1, timed_out=True)
    gov.admit(0.5)
    assert gov.peak_concurrency == 2 and gov.timeouts == 1 and gov.throttled["concurrency"] == 1


@pytest.mark.parametrize("bad", [dict(max_requests=-1), dict(window_s=0), dict(lag_s=float("nan"))])
def test_limits_refuse_bad_settings(bad):
    with pytest.raises(ValueError):
        Limits(**bad)


# ---------------------------------------------------------------------- web servers

def test_round_robin_without_cookie_and_affinity_with_it():
    farm = WebFarm(3, seed=1)
    assert [farm.route(None) for _ in range(4)] == [(0, True), (1, True), (2, True), (0, True)]
    value = farm.affinity_value(2)
    assert farm.route(f"other=1; ARRAffinity={value}") == (2, False)
    assert farm.route(f"ARRAffinitySameSite={value}") == (2, False)
    assert farm.route("ARRAffinity=not-a-server") == (1, True)  # stale cookie: balanced, cookie re-set
    assert farm.route('ARRAffinity="unterminated') == (2, True)
    headers = farm.set_cookie_headers(1, secure=False)
    assert headers == [("Set-Cookie", f"ARRAffinity={farm.affinity_value(1)}; Path=/; HttpOnly")]
    assert len(farm.set_cookie_headers(1, secure=True)) == 2
    with pytest.raises(ValueError):
        WebFarm(0)


def test_each_user_and_server_has_its_own_budget_and_tokens_stay_out_of_the_report():
    farm = WebFarm(2, Limits(max_requests=1, window_s=60, lag_s=0))
    a0, a1, b0 = farm.governor("secret-a", 0), farm.governor("secret-a", 1), farm.governor("secret-b", 0)
    assert len({id(a0), id(a1), id(b0)}) == 3 and farm.governor("secret-a", 0) is a0
    a0.admit(0)
    a0.release(0, 2.5)
    with pytest.raises(Throttled):
        a0.admit(1)
    a1.admit(1)  # the same user on the other server
    b0.admit(1)  # another user on the same server
    report = farm.usage(1)
    assert "secret" not in repr(report)
    assert [(r["user"], r["server"], r["requests"]) for r in report["usage"]] == [
        ("user1", 0, 1), ("user1", 1, 1), ("user2", 0, 1)]
    assert report["usage"][0]["throttled"]["requests"] == 1 and report["usage"][0]["execution_seconds"] == 2.5
    assert report["totals"]["requests"] == 3 and report["execution_seconds_per_second_per_user_and_server"] == 20.0
    assert WebFarm(1).usage(0)["execution_seconds_per_second_per_user_and_server"] == 4.0  # 1,200 s per 300 s
    farm.reset()
    assert farm.usage(2)["usage"] == []
