"""The scaffolded function_app.py, imported with the azure-functions package and invoked
in-process against the emulator: HTTP, timer, fan-out and queue handlers, poison handling."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import azure.functions as func
import pytest
import requests
from azure.functions.queue import QueueMessage  # the runtime's classes (with dequeue_count, past_due)
from azure.functions.timer import TimerRequest

from mail2dataverse import hosting
from mail2dataverse.demo import seed_org
from mail2dataverse.emulator import Emulator

from .conftest import SAMPLE_MAILBOX, SAMPLE_MESSAGES, SAMPLES, OutBinding, handlers

SAMPLE_SUBJECTS = {m["subject"] for m in json.loads((SAMPLES / "messages.json").read_text("utf-8"))}


def post(body: bytes = b"", route: str = "sync") -> func.HttpRequest:
    return func.HttpRequest(method="POST", url=f"http://localhost:7071/api/{route}", body=body,
                            headers={"Content-Type": "application/json"})


def answer(resp: func.HttpResponse) -> dict:
    assert resp.mimetype == "application/json"
    return json.loads(resp.get_body())


def emails(emu) -> list[dict]:
    return emu.records("email")


def test_http_sync_writes_the_mailbox_and_answers_200_then_writes_nothing_on_rerun(function_app, settings, emu, tmp_path):
    sync = handlers(function_app)["sync"]
    resp = sync(post())
    result = answer(resp)
    assert resp.status_code == 200, result["summary"]
    assert result["ok"] is True and result["status"] == 200
    (entry,) = result["mailboxes"]
    assert entry["mailbox"] == "sample" and entry["ok"] is True
    report = entry["report"]
    assert report["inputs"]["messages"] == SAMPLE_MESSAGES
    created = report["entities"]["email"]["created"]
    assert created > 0 and created == result["totals"]["entities"]["email"]["created"] == len(emails(emu))
    assert {e["subject"] for e in emails(emu)} <= SAMPLE_SUBJECTS
    assert len(emu.records("contact")) == report["entities"]["contact"]["created"]
    assert Path(settings["MAIL2DATAVERSE_STATE"]).with_name("m2d.sample.sqlite3").exists()  # one state file per mailbox

    emu.reset_stats()
    again = answer(sync(post()))
    assert again["status"] == 200
    assert again["totals"]["entities"]["email"]["created"] == 0
    assert again["totals"]["entities"]["email"]["unchanged"] == created
    assert emu.stats["writes"] == 0 and len(emails(emu)) == created


def test_http_sync_mailboxes_from_the_body_only_inside_the_input_root(function_app, settings, emu, monkeypatch):
    sync = handlers(function_app)["sync"]
    body = json.dumps({"mailboxes": [{"name": "from-body", "messages": "messages.json", "contacts": "contacts.json"}]}).encode()
    refused = sync(post(body))
    assert refused.status_code == 400 and "MAIL2DATAVERSE_INPUT_ROOT" in answer(refused)["error"]
    assert emails(emu) == []
    monkeypatch.setenv("MAIL2DATAVERSE_INPUT_ROOT", str(SAMPLES))
    resp = sync(post(body))
    result = answer(resp)
    assert resp.status_code == 200 and [e["mailbox"] for e in result["mailboxes"]] == ["from-body"]
    assert len(emails(emu)) == result["totals"]["entities"]["email"]["created"] > 0


def test_http_sync_bad_body_is_400_and_bad_settings_are_500(function_app, settings, emu, monkeypatch):
    sync = handlers(function_app)["sync"]
    resp = sync(post(b"{not json"))
    assert resp.status_code == 400 and answer(resp)["error"].startswith("request body: not valid JSON")
    monkeypatch.delenv("DATAVERSE_URL")
    resp = sync(post())
    assert resp.status_code == 500 and "DATAVERSE_URL" in answer(resp)["error"]
    monkeypatch.setenv("MAIL2DATAVERSE_MAILBOXES", "")
    resp = sync(post())
    assert resp.status_code == 500 and answer(resp)["error"].startswith("no mailboxes")
    assert emails(emu) == []


def test_a_failed_mailbox_gives_500_and_does_not_stop_the_others(function_app, settings, emu, monkeypatch, tmp_path):
    broken = {"name": "broken", "messages": str(tmp_path / "missing.json")}
    monkeypatch.setenv("MAIL2DATAVERSE_MAILBOXES", json.dumps([broken, SAMPLE_MAILBOX]))
    resp = handlers(function_app)["sync"](post())
    result = answer(resp)
    assert resp.status_code == 500 and result["ok"] is False
    first, second = result["mailboxes"]
    assert first["mailbox"] == "broken" and first["ok"] is False and "missing.json" in first["error"]
    assert "report" not in first
    assert second["ok"] is True and second["report"]["entities"]["email"]["created"] == len(emails(emu)) > 0
    assert result["totals"]["mailboxes_failed"] == 1
    assert "broken: FAILED" in result["summary"]


def test_records_the_service_refuses_give_207_with_the_failures(function_app, settings, monkeypatch):
    # The same org with a shorter email subject column: the service refuses most emails.
    with Emulator(email_subject_max=30) as strict:
        seed_org(strict)
        monkeypatch.setenv("DATAVERSE_URL", strict.base_url)
        resp = handlers(function_app)["sync"](post())
        result = answer(resp)
        assert resp.status_code == 207 and result["ok"] is False
        report = result["mailboxes"][0]["report"]
        failed = report["entities"]["email"]["failed"]
        assert failed > 0 and result["totals"]["records_failed"] == failed
        assert {f["code"] for f in report["failures"]} == {"0x80044331"}
        assert all("subject" in f["message"] for f in report["failures"])
        assert len(strict.records("email")) == report["entities"]["email"]["created"]
        assert all(len(e["subject"]) <= 30 for e in strict.records("email"))


def test_timer_syncs_on_schedule_and_fails_the_run_when_a_mailbox_fails(function_app, settings, emu, monkeypatch, tmp_path, caplog):
    caplog.set_level(logging.INFO)
    timer = handlers(function_app)["sync_timer"]
    assert timer(TimerRequest(past_due=True)) is None
    assert len(emails(emu)) > 0
    assert "the timer is past due" in caplog.text
    assert any('"status": 200' in r.getMessage() for r in caplog.records)
    monkeypatch.setenv("MAIL2DATAVERSE_MAILBOXES", json.dumps([{"name": "broken", "messages": str(tmp_path / "nope.json")}]))
    with pytest.raises(RuntimeError, match="broken: FAILED"):
        timer(TimerRequest())


def test_fan_out_enqueues_one_message_per_mailbox_and_each_is_synced_once(function_app, settings, emu, monkeypatch):
    second = {**SAMPLE_MAILBOX, "name": "sample-copy"}  # a second mailbox seeing the same mail
    monkeypatch.setenv("MAIL2DATAVERSE_MAILBOXES", json.dumps([SAMPLE_MAILBOX, second]))
    fn = handlers(function_app)
    out = OutBinding()
    resp = fn["enqueue"](post(route="enqueue"), out)
    assert resp.status_code == 202 and answer(resp)["enqueued"] == ["sample", "sample-copy"]
    assert [json.loads(m)["name"] for m in out.value] == ["sample", "sample-copy"]
    assert emails(emu) == []  # fan-out writes nothing itself

    for text in out.value:
        poison = OutBinding()
        msg = QueueMessage(id="m", body=text.encode(), dequeue_count=1)
        assert fn["queue_sync"](msg, poison) is None
        assert poison.value is None
    subjects = [e["subject"] for e in emails(emu)]
    assert subjects and len(subjects) == len(set(subjects))  # the second mailbox duplicated nothing


def test_enqueue_with_a_bad_body_enqueues_nothing(function_app, settings):
    out = OutBinding()
    resp = handlers(function_app)["enqueue"](post(b'{"mailboxes": [3]}', route="enqueue"), out)
    assert resp.status_code == 400 and out.value is None


def test_queue_message_with_a_permanent_error_goes_to_poison_at_once(function_app, settings, emu, tmp_path):
    poison = OutBinding()
    body = json.dumps({"name": "lost", "messages": str(tmp_path / "gone.json")})
    handlers(function_app)["queue_sync"](QueueMessage(id="1", body=body.encode(), dequeue_count=1), poison)
    report = json.loads(poison.value)
    assert report["poison"] is True and report["permanent"] is True
    assert report["mailbox"] == "lost" and report["message"] == body and "gone.json" in report["error"]
    assert emails(emu) == []


def test_queue_message_failing_transiently_is_retried_then_reported(function_app, settings, emu, monkeypatch):
    def unreachable(*args, **kwargs):
        raise requests.ConnectionError("connection refused")

    monkeypatch.setattr(hosting, "sync", unreachable)
    queue_sync = handlers(function_app)["queue_sync"]
    body = json.dumps(SAMPLE_MAILBOX).encode()
    for attempt in (1, 2):  # MAIL2DATAVERSE_MAX_DEQUEUE=3 in the settings
        poison = OutBinding()
        with pytest.raises(requests.ConnectionError):  # the runtime makes the message visible again
            queue_sync(QueueMessage(id="1", body=body, dequeue_count=attempt), poison)
        assert poison.value is None
    poison = OutBinding()
    assert queue_sync(QueueMessage(id="1", body=body, dequeue_count=3), poison) is None  # no raise: not lost
    report = json.loads(poison.value)
    assert (report["poison"], report["permanent"], report["dequeue_count"]) == (True, False, 3)
    assert report["error"] == "ConnectionError: connection refused"
    assert json.loads(report["message"]) == SAMPLE_MAILBOX  # re-queue it as is


@pytest.fixture
def nylas_on_path(tmp_path, monkeypatch):
    """The fake ``nylas`` of tests/sources on PATH, printing the sample mailbox.

    Returns a function that switches its mode (``ok``, ``auth``, ...)."""
    import os
    import stat
    import sys

    fake = Path(__file__).parents[1] / "sources" / "fixtures" / "fake_nylas.py"
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    exe = bin_dir / "nylas"
    exe.write_text(f"#!{sys.executable}\n{fake.read_text(encoding='utf-8')}", encoding="utf-8")
    exe.chmod(exe.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}")
    monkeypatch.setenv("FAKE_NYLAS_OUTPUT", str(SAMPLES / "messages.json"))
    monkeypatch.setenv("FAKE_NYLAS_CONTACTS", str(SAMPLES / "contacts.json"))
    monkeypatch.delenv("FAKE_NYLAS_LOG", raising=False)
    return lambda mode: monkeypatch.setenv("FAKE_NYLAS_MODE", mode)


def test_queue_message_for_a_grant_runs_the_nylas_cli_and_retries_when_it_fails(function_app, settings, emu, nylas_on_path):
    queue_sync = handlers(function_app)["queue_sync"]
    nylas_on_path("auth")  # exit status 1: may be fixed before the next attempt
    poison = OutBinding()
    with pytest.raises(hosting.SourceError, match="nylas contacts list failed with exit status 1"):
        queue_sync(QueueMessage(id="1", body=b'{"grant": "g-1"}', dequeue_count=1), poison)
    assert poison.value is None and emails(emu) == []
    nylas_on_path("ok")
    assert queue_sync(QueueMessage(id="1", body=b'{"grant": "g-1"}', dequeue_count=2), poison) is None
    assert poison.value is None
    assert {e["subject"] for e in emails(emu)} == SAMPLE_SUBJECTS
