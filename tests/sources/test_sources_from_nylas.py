"""`--from-nylas` end to end through the command line, and the options a sync shares between
its two exports (a fake `nylas` on PATH: tests/sources/fixtures/fake_nylas.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fake_cli import fake_nylas  # noqa: F401 - the fixture, used by name
from mail2dataverse.cli import main
from mail2dataverse.errors import ConfigError, SourceError
from mail2dataverse.sources import nylas_export

FIXTURES = Path(__file__).parent / "fixtures"


def list_calls(fake) -> dict[str, list[str]]:
    """``{"email": argv, "contacts": argv}`` of the list commands the fake saw."""
    return {c["argv"][0]: c["argv"] for c in fake.calls() if c["argv"][1:2] == ["list"]}


def test_preview_from_nylas_limits_messages_but_exports_every_contact(fake_nylas, capsys):
    # `--limit N` is documented as "at most N messages": the contacts the emails' parties bind
    # to must all be there, so `contacts list` keeps its huge limit.
    fake_nylas.set(contacts=FIXTURES / "contacts.json")
    assert main(["preview", "--from-nylas", "g-1", "--limit", "2", "--format", "json"]) == 0
    calls = list_calls(fake_nylas)
    assert calls["email"] == ["email", "list", "g-1", "--json", "--all-folders", "--limit", "2"]
    assert calls["contacts"] == ["contacts", "list", "g-1", "--json", "--limit", "1000000"]
    records = json.loads(capsys.readouterr().out)
    assert any(r["kind"] == "contact" and r["outcome"] == "create" for r in records)
    assert sum(r["kind"] == "email" and r["outcome"] == "create" for r in records) == 3  # the fake ignores --limit


def test_preview_from_nylas_with_null_output_writes_nothing(fake_nylas, capsys):
    fake_nylas.set("null")
    assert main(["preview", "--from-nylas", "--format", "json"]) == 0
    (summary,) = json.loads(capsys.readouterr().out)  # nothing to write: the summary alone
    assert summary["kind"] == "summary" and not any(n for t in summary["tables"].values() for n in t.values())


@pytest.mark.parametrize("mode,words", [
    ("auth", "failed with exit status 1: Error: authentication failed"),
    ("truncated", "printed output that is not a complete JSON array"),
    ("empty", "the file is empty"),
])
def test_sync_from_nylas_failures_are_one_line_exit_2_before_any_request(fake_nylas, capsys, mode, words, tmp_path):
    from mail2dataverse.emulator import Emulator

    fake_nylas.set(mode)
    with Emulator() as emu:
        status = main(["sync", "--from-nylas", "g-1", "--url", emu.base_url, "--auth", "none",
                       "--state", str(tmp_path / "s.sqlite3")])
        # the org is asked who we are (a wrong URL fails fast), then the export is refused
        # before the first read or write
        assert emu.stats["requests"] == 1
    err = capsys.readouterr().err.strip()
    assert status == 2
    assert words in err and "\n" not in err


def test_limit_is_for_messages_and_contacts_limit_for_contacts(fake_nylas):
    fake_nylas.set(output=FIXTURES / "contacts.json")
    with nylas_export("contacts", limit=5, contacts_limit=300):
        pass
    assert list_calls(fake_nylas)["contacts"][-2:] == ["--limit", "300"]


def test_several_contact_sources_are_read_as_one_export(fake_nylas, tmp_path):
    inbox = [{"id": "c-inbox-1", "grant_id": "g-1", "emails": [{"email": "new@partner.example"}], "source": "inbox"}]
    (tmp_path / "inbox.json").write_text(json.dumps(inbox), encoding="utf-8")
    fake_nylas.set(output=FIXTURES / "contacts.json", contacts_by_source={"inbox": tmp_path / "inbox.json"})
    book = json.loads((FIXTURES / "contacts.json").read_text(encoding="utf-8"))
    with nylas_export("contacts", grant="g-1", source="address_book, inbox") as src:
        assert src.count == len(book) + 1
        refs, records = zip(*src)
        assert src.meta["commands"][1][-2:] == ["--source", "inbox"]
    assert list(records) == [*book, *inbox]
    assert [r.index for r in refs] == list(range(len(book) + 1))
    assert {r.source for r in refs} == {"nylas:g-1/contacts"}
    sources = [c["argv"][-1] for c in fake_nylas.calls() if c["argv"][:2] == ["contacts", "list"]]
    assert sources == ["address_book", "inbox"]
    with pytest.raises(ConfigError, match="unknown contacts source 'sent'"):
        nylas_export("contacts", source=["inbox", "sent"])


def test_a_damaged_second_contact_source_fails_the_whole_export(fake_nylas, tmp_path):
    (tmp_path / "inbox.json").write_text('[{"id": "c1"}, {"id": ', encoding="utf-8")
    fake_nylas.set(output=FIXTURES / "contacts.json", contacts_by_source={"inbox": tmp_path / "inbox.json"})
    with pytest.raises(SourceError, match=r"not a complete JSON array: nylas:default/contacts#2:1:\d+: invalid JSON at byte"):
        nylas_export("contacts", source=["address_book", "inbox"])


@pytest.mark.parametrize("mode,transient", [("auth", True), ("truncated", True), ("empty", True)])
def test_failed_runs_are_marked_transient(fake_nylas, mode, transient):
    # hosts retry a queued mailbox whose export failed this way instead of giving it up
    fake_nylas.set(mode)
    with pytest.raises(SourceError) as err:
        nylas_export("messages")
    assert err.value.transient is transient


def test_a_missing_cli_is_not_transient(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(SourceError) as err:
        nylas_export("messages")
    assert err.value.transient is False
