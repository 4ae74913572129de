"""HTTP layer: auth and token expiry, keep-alive/TCP_NODELAY, limits, faults, concurrency, state, CLI."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from mail2dataverse.emulator import Emulator, FaultProfile

from .conftest import AUTH, Client, error_of


def test_missing_bearer_token_is_401(emu):
    r = requests.get(emu.service_root + "contacts")
    assert r.status_code == 401
    assert r.headers["WWW-Authenticate"].startswith("Bearer authorization_uri=https://login.microsoftonline.com/")
    assert r.headers["OData-Version"] == "4.0" and "x-ms-dop-hint" in r.headers
    assert requests.get(emu.service_root + "contacts", headers={"Authorization": "Basic abc"}).status_code == 401


def test_token_ttl_expires_tokens_after_first_use():
    with Emulator(token_ttl=0.3) as emu:
        h = {"Authorization": "Bearer first"}
        assert requests.get(emu.service_root + "contacts", headers=h).status_code == 200
        time.sleep(0.45)
        r = requests.get(emu.service_root + "contacts", headers=h)
        assert r.status_code == 401
        assert "error=invalid_token" in r.headers["WWW-Authenticate"]
        assert requests.get(emu.service_root + "contacts", headers={"Authorization": "Bearer second"}) \
            .status_code == 200


def test_keep_alive_and_tcp_nodelay(emu):
    s = requests.Session()
    s.headers.update(AUTH)
    for _ in range(3):
        assert s.get(emu.service_root + "contacts").status_code == 200
    with emu._server.sockets_lock:
        socks = list(emu._server.open_sockets)
    assert len(socks) == 1  # one kept-alive connection served all three requests
    assert socks[0].getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 1
    s.close()


def test_binds_loopback_by_default(emu):
    assert emu.base_url.startswith("http://127.0.0.1:") and not emu.base_url.endswith("/")
    assert emu.service_root == emu.base_url + "/api/data/v9.2/"


def test_request_count_limit_429():
    with Emulator(faults=FaultProfile(max_requests=3, window_s=60, lag_s=0)) as emu:
        c = Client(emu)
        statuses = [c.get("contacts").status_code for _ in range(4)]
        assert statuses == [200, 200, 200, 429]
        r = c.get("contacts")
        assert error_of(r) == ("0x80072322", "Number of requests exceeded the limit of 3 over time window of "
                                             "60 seconds.")
        assert 1 <= int(r.headers["Retry-After"]) <= 60
        assert emu.stats["throttled"] == 2
        # other users have their own window
        assert requests.get(emu.service_root + "contacts", headers={"Authorization": "Bearer other"}) \
            .status_code == 200


def test_batch_counts_as_one_request_for_the_limit():
    with Emulator(faults=FaultProfile(max_requests=2, window_s=60, lag_s=0)) as emu:
        c = Client(emu)
        body = ("--b\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n\r\n"
                "GET /api/data/v9.2/contacts HTTP/1.1\r\n\r\n\r\n" * 5
                + "--b--\r\n")
        r = c.session.post(c.url("$batch"), data=body, headers={"Content-Type": "multipart/mixed; boundary=b"})
        assert r.status_code == 200 and r.text.count("HTTP/1.1 200 OK") == 5
        assert c.get("contacts").status_code == 200
        assert c.get("contacts").status_code == 429


def test_execution_time_limit_429():
    # Execution time is the work's modeled cost (latency is network time and does not count).
    with Emulator(costs={"query": 0.06}, faults=FaultProfile(max_exec_ms=50, window_s=60, lag_s=0)) as emu:
        c = Client(emu)
        assert c.get("contacts").status_code == 200
        r = c.get("contacts")
        assert r.status_code == 429
        code, message = error_of(r)
        assert code == "0x80072321"
        assert message.startswith("Combined execution time of incoming requests exceeded limit of 50 milliseconds "
                                  "over time window of 60 seconds.")
        assert int(r.headers["Retry-After"]) >= 1


def test_concurrency_limit_429():
    with Emulator(latency_ms=300, faults=FaultProfile(max_concurrent=1)) as emu:
        with ThreadPoolExecutor(3) as pool:
            results = list(pool.map(lambda _: requests.get(emu.service_root + "contacts", headers=AUTH), range(3)))
        codes = sorted(r.status_code for r in results)
        assert codes[0] == 200 and 429 in codes
        r = next(r for r in results if r.status_code == 429)
        assert error_of(r) == ("0x80072326", "Number of concurrent requests exceeded the limit of 1.")
        assert r.headers["Retry-After"].isdigit()


def test_injected_faults_are_seeded_and_repeatable():
    def run() -> list[int]:
        with Emulator(faults="429=0.3,503=0.2,seed=7") as emu:
            c = Client(emu)
            return [c.get("contacts").status_code for _ in range(30)]

    first, second = run(), run()
    assert first == second
    assert {200, 429, 503} <= set(first)


def test_injected_429_has_retry_after_and_set_faults_at_runtime(emu):
    c = Client(emu)
    emu.set_faults("429=1,retry_after=2")
    r = c.get("contacts")
    assert r.status_code == 429 and r.headers["Retry-After"] == "2" and error_of(r)[0] == "0x80072322"
    emu.set_faults(None)
    assert c.get("contacts").status_code == 200
    assert emu.stats["faults"] == 1


def test_drop_before_processing_writes_nothing(emu):
    emu.set_faults("drop=1")
    with pytest.raises(requests.ConnectionError):
        requests.post(emu.service_root + "contacts", json={"lastname": "x"}, headers=AUTH)
    assert emu.records("contact") == [] and emu.stats["dropped"] == 1


def test_drop_after_commit_keeps_the_write(emu):
    emu.set_faults("drop_after=1")
    with pytest.raises(requests.ConnectionError):
        requests.post(emu.service_root + "contacts", json={"lastname": "x"}, headers=AUTH)
    assert [c["lastname"] for c in emu.records("contact")] == ["x"]


def test_slow_responses_and_latency_profile():
    profile = FaultProfile.parse("slow=1:120ms,latency=5ms,op_latency=1ms,seed=1")
    assert (profile.rate_slow, profile.slow_ms, profile.latency_ms, profile.op_latency_ms) == (1.0, 120.0, 5.0, 1.0)
    with Emulator(faults=profile) as emu:
        c = Client(emu)
        assert c.get("contacts").status_code == 200
        assert emu.stats["faults"] == 1


@pytest.mark.parametrize("text", ["429=2", "bogus=1", "slow", "drop=x"])
def test_bad_fault_profiles_are_rejected(text):
    with pytest.raises(ValueError):
        FaultProfile.parse(text)


def test_concurrent_creates_of_one_id_get_one_success(emu):
    rid = str(uuid.uuid4())

    def post(_):
        return requests.post(emu.service_root + "contacts", json={"contactid": rid, "lastname": "x"},
                             headers=AUTH).status_code

    with ThreadPoolExecutor(8) as pool:
        codes = sorted(pool.map(post, range(16)))
    assert codes == [204] + [412] * 15
    assert len(emu.records("contact")) == 1


def test_concurrent_alternate_key_upserts_make_one_row():
    with Emulator(alternate_keys=(("contact", "emailaddress1"),)) as emu:
        def patch(i):
            return requests.patch(emu.service_root + "contacts(emailaddress1='same@x.com')",
                                  json={"lastname": f"n{i}"}, headers=AUTH).status_code

        with ThreadPoolExecutor(8) as pool:
            assert set(pool.map(patch, range(16))) == {204}
        assert len(emu.records("contact")) == 1


def test_state_file_round_trip(tmp_path):
    state = tmp_path / "state.json"
    with Emulator(state_file=state, alternate_keys=(("contact", "emailaddress1"),)) as emu:
        cid = Client(emu).create("contacts", {"emailaddress1": "a@x.com"})
    data = json.loads(state.read_text())
    assert cid in data["rows"]["contact"]
    with Emulator(state_file=state) as emu:
        c = Client(emu)
        assert c.get(f"contacts({cid})").json()["emailaddress1"] == "a@x.com"
        assert c.post("contacts", {"emailaddress1": "A@x.com"}).status_code == 412  # key came back too
        assert c.create("contacts", {"lastname": "second"}) != cid


def test_cli_serves_prints_url_and_ca_and_saves_state(tmp_path):
    state = tmp_path / "s.json"
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    proc = subprocess.Popen(
        [sys.executable, "-m", "mail2dataverse.emulator", "--port", "0", "--tls", "--state", str(state),
         "--alternate-key", "contact:emailaddress1", "--faults", "seed=3"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        base = proc.stdout.readline().strip()
        ca = proc.stdout.readline().strip()
        assert base.startswith("https://127.0.0.1:") and os.path.exists(ca)
        r = requests.patch(base + "/api/data/v9.2/contacts(emailaddress1='cli@x.com')", json={"lastname": "C"},
                           headers=AUTH, verify=ca)
        assert r.status_code == 204
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
    rows = json.loads(state.read_text())["rows"]["contact"]
    assert [r["emailaddress1"] for r in rows.values()] == ["cli@x.com"]


def test_cli_add_arguments_and_run_in_process(tmp_path):
    import argparse

    from mail2dataverse.emulator import cli

    parser = argparse.ArgumentParser()
    cli.add_arguments(parser)
    args = parser.parse_args(["--port", "0", "--alternate-key", "account:accountnumber", "--latency-ms", "1",
                              "--faults", "429=0.1,slow=0.05:200ms,seed=7", "--token-ttl", "3600"])
    assert args.alternate_key == [("account", ("accountnumber",))]
    assert args.faults.rate_429 == 0.1 and args.faults.slow_ms == 200
    with pytest.raises(SystemExit):
        parser.parse_args(["--alternate-key", "nocolon"])

    # run() until SIGINT, on a thread, capturing the printed URL
    import contextlib
    import io

    out = io.StringIO()
    stopper = threading.Timer(1.0, lambda: os.kill(os.getpid(), signal.SIGINT))
    if threading.current_thread() is not threading.main_thread():
        pytest.skip("signal handlers need the main thread")
    stopper.start()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
        assert cli.run(parser.parse_args(["--port", "0"])) == 0
    assert out.getvalue().splitlines()[0].startswith("http://127.0.0.1:")
