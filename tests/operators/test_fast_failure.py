"""Until the org has answered once, a wrong URL ends the run at once with exit 2, naming the cause."""

from __future__ import annotations

import http.server
import socket
import threading

import pytest
import requests

from mail2dataverse.auth import StaticToken
from mail2dataverse.emulator import Emulator
from mail2dataverse.probe import OrgUnreachable, classify, probe

from .helpers import SAMPLE, read_report, run, stale_report


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # closed again when the with block ends: nothing listens


def test_sync_against_a_closed_port_exits_2_naming_the_cause_and_leaves_a_fresh_report(tmp_path):
    report = tmp_path / "report.json"
    stale_report(report)
    port = closed_port()
    proc = run("sync", *SAMPLE, "--url", f"http://127.0.0.1:{port}", "--auth", "none",
               "--state", str(tmp_path / "s.sqlite3"), "--report", str(report), timeout=60)
    assert proc.returncode == 2, proc.stderr
    assert f"connection refused at 127.0.0.1:{port}: nothing is listening there" in proc.stderr
    assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
    data = read_report(report)
    assert data["outcome"] == "usage_error" and data["exit_status"] == 2 and data["ok"] is False
    assert data["run"]["id"] != "yesterday" and "connection refused" in data["error"]
    assert "Nothing was written" in data["summary_text"]


def test_dns_failure_is_named():
    with pytest.raises(OrgUnreachable) as caught:
        probe("http://no-such-org.invalid", StaticToken("t"))
    assert caught.value.cause == "dns"
    assert "'no-such-org.invalid' does not resolve" in str(caught.value)


def test_tls_failure_is_named_and_not_retried():
    with Emulator(tls=True) as emu:
        with pytest.raises(OrgUnreachable) as caught:
            probe(emu.base_url, StaticToken("t"))
        assert caught.value.cause == "tls" and "--ca-file" in str(caught.value)
        # the same org with its CA trusted answers
        assert probe(emu.base_url, StaticToken("t"), verify=emu.ca_file).user_id


class _Html(http.server.BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 - http.server's name
        body = b"<html><body>It works!</body></html>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def test_a_server_that_is_not_dataverse_is_named(tmp_path):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Html)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        proc = run("sync", *SAMPLE, "--url", url, "--auth", "none", "--state", str(tmp_path / "s.sqlite3"))
    finally:
        server.shutdown()
        server.server_close()
    assert proc.returncode == 2
    assert "answers, but not as a Dataverse org" in proc.stderr and "HTTP 200 text/html" in proc.stderr


def test_a_refused_token_is_named_with_what_to_check():
    with Emulator() as emu:
        with pytest.raises(OrgUnreachable) as caught:
            probe(emu.base_url, StaticToken(""))  # no token at all: the org's Bearer challenge
    assert caught.value.cause == "token_refused" and "application user" in str(caught.value)


def test_classify_names_each_transport_cause():
    refused = requests.exceptions.ConnectionError(ConnectionRefusedError(111, "Connection refused"))
    assert classify(refused) == "refused"
    assert classify(requests.exceptions.ConnectTimeout("timed out")) == "timeout"
    assert classify(requests.exceptions.SSLError("certificate verify failed")) == "tls"
    assert classify(requests.exceptions.ConnectionError(socket.gaierror(-2, "Name or service not known"))) == "dns"
    assert classify(requests.exceptions.ConnectionError("Connection aborted, RemoteDisconnected")) == "dropped"


def test_an_org_that_has_answered_gets_retries(tmp_path):
    # 50 % injected 503s: the probe's 503 is the service's own (JSON, OData-Version), so the
    # run goes on and the client's retries carry it through.
    from mail2dataverse.config import load_config
    from mail2dataverse.demo import sample_path, seed_org
    from mail2dataverse.sync import Inputs, sync

    inputs = Inputs(messages=str(sample_path("messages.json")), contacts=str(sample_path("contacts.json")))
    with Emulator(faults="503=0.5,seed=3") as emu:
        seed_org(emu)
        report = sync(inputs, load_config(sample_path("config.yaml")), url=emu.base_url, auth=StaticToken("t"),
                      client_options={"max_retries": 12, "backoff_base": 0.001, "backoff_cap": 0.01})
    assert report.exit_code() == 0 and report.http["retries"] > 0


def test_a_preview_against_a_closed_port_fails_fast_too(tmp_path):
    port = closed_port()
    proc = run("preview", *SAMPLE, "--url", f"http://127.0.0.1:{port}", "--auth", "none")
    assert proc.returncode == 2 and f"connection refused at 127.0.0.1:{port}" in proc.stderr
    assert proc.stdout == ""
