"""``make demo`` runs on the realistic cost model, time-scaled, and says what the sync cost."""

from __future__ import annotations

import io
import json

from mail2dataverse.demo import DEMO_ORG, run_demo


def test_demo_runs_on_the_realistic_model_and_prints_the_server_time_it_used():
    assert DEMO_ORG["cost_model"] == "realistic" and DEMO_ORG["time_scale"] > 1 and DEMO_ORG["web_servers"] > 1
    out = io.StringIO()
    assert run_demo(out=out) == 0
    text = out.getvalue()
    assert "server time, as a real org would charge it" in text
    assert "0 throttled, 0 timed out" in text and "user1 on server 0:" in text


def test_demo_json_carries_the_usage_report():
    out = io.StringIO()
    assert run_demo(fmt="json", out=out) == 0
    usage = json.loads(out.getvalue())["server_usage"]["first_run"]
    assert usage["cost_model"]["name"] == "realistic" and usage["web_servers"] == DEMO_ORG["web_servers"]
    assert usage["totals"]["execution_seconds"] > 0 and usage["totals"]["timeouts"] == 0


def test_demo_explains_normal_outcomes_and_its_counts_add_up():
    import re

    out = io.StringIO()
    assert run_demo(out=out) == 0
    text = out.getvalue()
    assert "unlinked: the email is in the org" in text and "A normal" in text
    assert "unresolved: 3 addresses matched no contact" in text
    written, linked, unlinked, nothing = map(int, re.search(
        r"(\d+) emails written: (\d+) linked to the record it is about, (\d+) unlinked, (\d+) with nothing", text).groups())
    assert written == 8 and linked + unlinked + nothing == written and linked == 1
    assert unlinked == text.count("\n  unlinked /")  # the summary lists each one
    assert text.count("→ unresolved") == 3  # what landed shows the same three addresses
    contacts, accounts = map(int, re.search(r"(\d+) contacts, (\d+) accounts in the org", text).groups())
    assert contacts == 6 and accounts == 4  # 6 created; 3 created + 1 already there
    total, first, rerun, reads = map(int, re.search(
        r"(\d+) requests in all: (\d+) by the first sync, (\d+) by the re-run, (\d+) reading what landed", text).groups())
    assert first + rerun + reads == total
    assert re.search(rf"\n  {total} requests, ", text)  # the usage summary counts the same requests
