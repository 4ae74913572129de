"""nylas_export against a fake `nylas` executable on PATH (tests/sources/fixtures/fake_nylas.py)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from fake_cli import fake_nylas  # noqa: F401 - the fixture, used by name
from mail2dataverse.errors import ConfigError, SourceError
from mail2dataverse.sources import nylas_export
from mail2dataverse.sources import nylas_cli
from mail2dataverse.sources.nylas_cli import INSTALL_HINT, build_command

FIXTURES = Path(__file__).parent / "fixtures"


def test_messages_success_runs_every_folder_and_page(fake_nylas):
    with nylas_export("messages", grant="g-1", timeout=900) as src:
        assert src.count == 3  # validated before it was returned
        assert src.name == "nylas:g-1/messages"
        pairs = list(src)
    expected = json.loads((FIXTURES / "messages.json").read_text(encoding="utf-8"))
    assert [r for _, r in pairs] == expected
    assert pairs[0][0].source == "nylas:g-1/messages" and pairs[0][0].id == "18f3a9c2b7d41e05"
    list_call = fake_nylas.calls()[0]
    assert list_call == {"argv": ["email", "list", "g-1", "--json", "--all-folders", "--all"],
                         "NYLAS_API_TIMEOUT": "900s"}  # Go duration: a bare "900" is ignored
    assert src.meta["cli_version"] == "nylas version 3.1.28 (fake)"
    assert src.meta["command"][:3] == ["nylas", "email", "list"]
    assert src.warnings == []  # progress counters on stderr are not warnings


def test_messages_with_limit_and_default_grant(fake_nylas):
    with nylas_export("messages", limit=500, all_folders=False) as src:
        assert src.name == "nylas:default/messages"
    assert fake_nylas.calls()[0]["argv"] == ["email", "list", "--json", "--limit", "500"]


def test_contacts_use_a_large_limit_and_source(fake_nylas):
    fake_nylas.set(output=FIXTURES / "contacts.json")
    with nylas_export("contacts", grant="g-1", source="inbox", timeout=60) as src:
        assert [r["id"] for _, r in src][0] == "c4f1a8e2d3b5076a"
    assert fake_nylas.calls()[0] == {
        "argv": ["contacts", "list", "g-1", "--json", "--limit", "1000000", "--source", "inbox"],
        "NYLAS_API_TIMEOUT": "60s"}


def test_explicit_env_timeout_is_respected(fake_nylas):
    with nylas_export("messages", env={"NYLAS_API_TIMEOUT": "2h"}):
        pass
    assert fake_nylas.calls()[0]["NYLAS_API_TIMEOUT"] == "2h"


def test_null_is_no_rows(fake_nylas):
    fake_nylas.set("null")
    with nylas_export("messages") as src:
        assert src.count == 0
        assert list(src) == []


def test_auth_failure_shows_status_and_stderr_but_not_the_key(fake_nylas, monkeypatch):
    monkeypatch.setenv("NYLAS_API_KEY", "nyk_v0_supersecret123")
    fake_nylas.set("auth")
    with pytest.raises(SourceError) as err:
        nylas_export("messages")
    msg = str(err.value)
    assert msg.startswith("nylas email list failed with exit status 1: Error: authentication failed (401")
    assert "nylas auth config" in msg and "NYLAS_GRANT_ID" in msg
    assert "supersecret" not in msg and "***" in msg
    assert "\n" not in msg


def test_not_installed(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(SourceError) as err:
        nylas_export("messages")
    assert str(err.value) == INSTALL_HINT


def test_timeout_kills_the_cli(fake_nylas):
    fake_nylas.set("sleep")
    with pytest.raises(SourceError, match=r"^`email list` timed out after 1 s and was stopped") as err:
        nylas_export("messages", timeout=1)
    assert err.value.transient is True  # a queued mailbox is retried, not given up at once
    assert fake_nylas.calls()[0]["NYLAS_API_TIMEOUT"] == "1s"


@pytest.mark.parametrize("mode,reason", [("truncated", "truncated export"), ("empty", "the file is empty")])
def test_incomplete_output_yields_nothing(fake_nylas, mode, reason):
    fake_nylas.set(mode)
    with pytest.raises(SourceError) as err:
        nylas_export("messages")
    # damage is named file:line:column; an empty file has no position to name
    assert re.match(r"nylas email list printed output that is not a complete JSON array: "
                    r"nylas:default/messages(:\d+:\d+)?: ", str(err.value))
    assert reason in str(err.value)


def test_with_headers_merges_message_ids_and_warns_on_failures(fake_nylas):
    headers = json.loads((FIXTURES / "read_headers.json").read_text(encoding="utf-8"))["headers"]
    fake_nylas.set(headers={"18f3a9c2b7d41e05": headers,
                            "18f39b7e55a20c91": [{"name": "Message-ID", "value": "<sent@acme>"}]})
    with nylas_export("messages", grant="g-1", with_headers=True, header_workers=2) as src:
        records = [r for _, r in src]
        warnings = list(src.warnings)
    assert records[0]["headers"][0] == {"name": "Message-ID", "value": "<CAH7x2Lw9f3Q@mail.northwind-traders.example>"}
    assert records[1]["headers"] == [{"name": "Message-ID", "value": "<sent@acme>"}]
    assert "headers" not in records[2]  # kept, without headers
    assert [r["id"] for r in records] == ["18f3a9c2b7d41e05", "18f39b7e55a20c91", "18f3a4d01c9e7b22"]
    assert len(warnings) == 1
    assert warnings[0].startswith("message 18f3a4d01c9e7b22: headers not fetched (exit status 1: Error: failed")
    reads = sorted(c["argv"] for c in fake_nylas.calls() if c["argv"][:2] == ["email", "read"])
    assert reads[0] == ["email", "read", "18f39b7e55a20c91", "g-1", "--headers", "--json"]
    assert len(reads) == 3


def test_header_filter_limits_the_calls(fake_nylas):
    fake_nylas.set(headers={"18f3a9c2b7d41e05": [{"name": "Message-ID", "value": "<a@b>"}]})
    newer = lambda r: r["date"] >= "2025-03-04"  # noqa: E731 - what the incremental sync passes
    with nylas_export("messages", with_headers=True, header_filter=newer) as src:
        records = [r for _, r in src]
        assert src.warnings == []
    assert "headers" in records[0] and "headers" not in records[1]
    assert sum(c["argv"][:2] == ["email", "read"] for c in fake_nylas.calls()) == 1


def test_header_warnings_are_capped(fake_nylas, tmp_path, monkeypatch):
    monkeypatch.setattr(nylas_cli, "MAX_WARNINGS", 3)  # 100 in real runs; fewer processes here
    many = [{"id": f"m{i}", "grant_id": "g", "date": "2025-01-01T00:00:00Z"} for i in range(8)]
    out = tmp_path / "many.json"
    out.write_text(json.dumps(many), encoding="utf-8")
    fake_nylas.set(output=out)
    with nylas_export("messages", with_headers=True, header_workers=8) as src:
        assert sum(1 for _ in src) == len(many)
        assert len(src.warnings) == 3 + 1
        assert src.warnings[-1] == "headers could not be fetched for 5 more messages"


def test_one_option_set_serves_both_kinds(fake_nylas):
    # the sync passes the same options to the messages and the contacts export
    fake_nylas.set(output=FIXTURES / "contacts.json")
    with nylas_export("contacts", with_headers=True, source="inbox") as src:
        assert all("headers" not in r for _, r in src)
    assert not any(c["argv"][:2] == ["email", "read"] for c in fake_nylas.calls())
    assert build_command("messages", source="inbox") == ["nylas", "email", "list", "--json", "--all-folders", "--all"]
    assert build_command("contacts") == ["nylas", "contacts", "list", "--json", "--limit", "1000000"]
    with pytest.raises(ConfigError, match="unknown record kind"):
        build_command("events")
