"""Incremental runs fed by the sources this folder owns: a partial export (``--limit``, one
month's file) followed by a complete one, and an export that gains headers.

Both reproduced defects of the first incremental design (a single newest-date watermark, one
identity per message); the planner now keeps coverage ranges and looks up identity aliases.
"""

from __future__ import annotations

import json

import pytest

from mail2dataverse.auth import StaticToken
from mail2dataverse.config import load_config
from mail2dataverse.demo import sample_path, seed_org
from mail2dataverse.emulator import Emulator
from mail2dataverse.sync import Inputs, sync


def _sync(emu, messages, state, **kwargs):
    config = load_config(str(sample_path("config.yaml")))
    return sync(Inputs(messages=str(messages)), config, url=emu.base_url, auth=StaticToken("t"),
                state_path=str(state), client_options={"backoff_base": 0.001, "backoff_cap": 0.01}, **kwargs)


@pytest.fixture
def org():
    with Emulator() as emu:
        seed_org(emu)
        yield emu


def test_a_complete_export_after_a_partial_one_writes_the_older_messages(org, tmp_path):
    messages = json.loads(sample_path("messages.json").read_text("utf-8"))  # newest first
    newest = tmp_path / "newest.json"  # what `sync --from-nylas --limit 3` exports
    newest.write_text(json.dumps(messages[:3]), encoding="utf-8")
    everything = tmp_path / "all.json"
    everything.write_text(json.dumps(messages), encoding="utf-8")
    assert _sync(org, newest, tmp_path / "s.sqlite3").entities["email"].created == 3
    report = _sync(org, everything, tmp_path / "s.sqlite3")
    assert len(org.records("email")) == len(messages), report.to_dict()["incremental"]


def test_the_same_message_with_headers_later_is_not_created_twice(org, tmp_path):
    messages = json.loads(sample_path("messages.json").read_text("utf-8"))
    bare = [{k: v for k, v in m.items() if k != "headers"} for m in messages]
    first = tmp_path / "bare.json"  # `--from-nylas`, or a header fetch that failed
    first.write_text(json.dumps(bare), encoding="utf-8")
    with_headers = [dict(m, headers=[{"name": "Message-ID", "value": f"<{m['id']}@mail.example>"}]) for m in bare]
    second = tmp_path / "headers.json"  # `--from-nylas --with-headers`
    second.write_text(json.dumps(with_headers), encoding="utf-8")
    _sync(org, first, tmp_path / "s.sqlite3")
    _sync(org, second, tmp_path / "s.sqlite3", full=True)
    assert len(org.records("email")) == len(messages)
