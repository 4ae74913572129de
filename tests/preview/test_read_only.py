"""``preview --url`` reads the org and never writes to it: proved on the wire.

Every HTTP request the emulator receives is recorded before it is handled. The only requests
allowed are GETs and ``$batch`` POSTs whose every part is a GET (no change set, no write of any
kind); the org's rows are the same before and after, and the emulator counts no write.
"""

from __future__ import annotations

import re

from mail2dataverse.cli import main

from .conftest import sample_args

_PART_REQUEST = re.compile(rb"^(GET|POST|PATCH|PUT|DELETE|MERGE) (\S+) HTTP/1\.1\r?$", re.M)
TABLES = ("account", "contact", "email", "activityparty", "systemuser", "opportunity", "incident")


def _record_requests(emu):
    seen = []
    original = emu._process

    def recording(req):
        seen.append((req.method, req.target, bytes(req.body or b"")))
        return original(req)

    emu._process = recording
    return seen


def _snapshot(emu):
    return {t: sorted(map(repr, emu.records(t))) for t in TABLES}


def test_preview_against_an_org_sends_only_reads(diff_org, sales_rules, capsys):
    before = _snapshot(diff_org)
    seen = _record_requests(diff_org)
    for fmt in ("json", "table", "html"):
        assert main(["preview", *sample_args(), "--config", str(sales_rules), "--url", diff_org.base_url,
                     "--auth", "none", "--format", fmt]) == 0
    capsys.readouterr()
    assert seen, "the preview read nothing from the org"
    parts = 0
    for method, target, body in seen:
        if method == "GET":
            continue
        assert (method, target.split("?")[0]) == ("POST", "/api/data/v9.2/$batch"), (method, target)
        assert b"changeset" not in body.lower(), "a change set is a write"
        requests = _PART_REQUEST.findall(body)
        assert requests and all(m == b"GET" for m, _ in requests), requests
        parts += len(requests)
    assert parts > 0  # the lookups went out batched, as a sync batches them
    assert diff_org.stats["writes"] == 0
    assert _snapshot(diff_org) == before


def test_sync_dry_run_with_a_url_is_the_same_read_only_preview(diff_org, sales_rules, capsys):
    seen = _record_requests(diff_org)
    args = [*sample_args(), "--config", str(sales_rules), "--url", diff_org.base_url, "--auth", "none"]
    assert main(["sync", "--dry-run", *args]) == 0
    dry = capsys.readouterr().out
    assert main(["preview", *args]) == 0
    assert capsys.readouterr().out == dry
    assert diff_org.stats["writes"] == 0
    assert all(m == "GET" or t.startswith("/api/data/v9.2/$batch") for m, t, _ in seen)
