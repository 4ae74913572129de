"""Plugins that look things up: the "PO-12345" plugin of docs/plugins.md, run against the emulator.

The plugin's code is taken from the documentation itself, so the page cannot drift from what
works. The test also pins the promises around it: the lookup is batched per chunk and cached
for the run, LIKE wildcards in a value are taken literally, and an answer of an unknown form
stops the run naming the plugin and the field.
"""

from __future__ import annotations

import json
import re
import types
from pathlib import Path

import pytest

from mail2dataverse.auth import StaticToken
from mail2dataverse.config import RunConfig
from mail2dataverse.emulator import Emulator
from mail2dataverse.errors import PluginError
from mail2dataverse.hookspecs import hookimpl
from mail2dataverse.lookup import OrgLookup, escape_like, like_filter
from mail2dataverse.model import RegardingTarget
from mail2dataverse.planner import emails as email_phase
from mail2dataverse.planner.lookups import OrgLookups
from mail2dataverse.sync import Inputs, preview, sync

DOC = Path(__file__).resolve().parents[2] / "docs" / "plugins.md"
OWNER = "dana@acme-widgets.example"


def documented_plugin() -> types.ModuleType:
    """The po_numbers module exactly as docs/plugins.md prints it."""
    text = DOC.read_text("utf-8")
    marker = text.index("tests/plugins/test_lookup_plugin.py runs this block")
    block = re.search(r"```python\n(.*?)```", text[marker:], re.DOTALL)
    assert block is not None and "# po_numbers.py" in block.group(1)
    module = types.ModuleType("po_numbers")
    exec(compile(block.group(1), str(DOC), "exec"), module.__dict__)
    return module


def message(i: int, subject: str) -> dict:
    return {
        "id": f"m{i}", "grant_id": "g1", "object": "message", "subject": subject,
        "from": [{"email": f"buyer{i}@globex.example"}], "to": [{"email": OWNER}],
        "date": f"2025-03-{i + 1:02d}T10:00:00Z", "body": "<p>hi</p>", "folders": ["INBOX"],
    }


def write_messages(tmp_path: Path, subjects: list[str]) -> Inputs:
    path = tmp_path / "messages.json"
    path.write_text(json.dumps([message(i, s) for i, s in enumerate(subjects)]), "utf-8")
    return Inputs(messages=str(path))


def run(emu: Emulator, inputs: Inputs, plugin: object):
    config = RunConfig(profile="sales", owner_addresses=[OWNER])
    return sync(inputs, config, url=emu.base_url, auth=StaticToken("t"), extra_plugins=[("po_numbers", plugin)],
                client_options={"backoff_base": 0.001, "backoff_cap": 0.01})


def regarding_of(emu: Emulator) -> dict[str, str | None]:
    return {r["subject"]: r.get("regardingobjectid") for r in emu.records("email")}


def test_documented_plugin_links_by_a_name_fragment(tmp_path, monkeypatch):
    plugin = documented_plugin()
    asked: list[list[RegardingTarget]] = []
    real_like = OrgLookups.like

    def spy(self, targets):
        asked.append(list(targets))
        return real_like(self, targets)

    monkeypatch.setattr(OrgLookups, "like", spy)
    monkeypatch.setattr(email_phase, "EMAIL_CHUNK", 2)  # several chunks: the cache must carry over
    with Emulator() as emu:
        po = emu.seed("opportunity", {"name": "Acme – PO 12345 – 40 seats"})
        emu.seed("opportunity", {"name": "Acme – PO 1234 – pilot"})  # a shorter number must not match
        inputs = write_messages(tmp_path, [
            "Re: PO-12345 delivery date", "PO-12345 invoice", "Fwd: po-12345 changes",
            "PO-77777 unknown order", "Lunch on Friday?",
        ])
        report = run(emu, inputs, plugin)
        linked = regarding_of(emu)
    assert report.exit_code() == 0
    assert report.entities["email"].created == 5
    assert linked["Re: PO-12345 delivery date"] == po
    assert linked["PO-12345 invoice"] == po
    assert linked["Fwd: po-12345 changes"] == po
    assert linked["PO-77777 unknown order"] is None
    # The built-in rule decided the last one (no opportunity for globex.example): unlinked too.
    assert linked["Lunch on Friday?"] is None
    # 12345 asked once although three emails carry it in two chunks; 77777 once.
    flat = [t.value for batch in asked for t in batch]
    assert sorted(flat) == ["12345", "77777"]
    unlinked = {u["target"]: u["reason"] for u in report.to_dict()["unlinked"]}
    assert unlinked["opportunity whose name contains '77777'"] == "not found in the org"


def test_preview_shows_the_intention(tmp_path):
    ops, _report = preview(write_messages(tmp_path, ["PO-12345 invoice"]),
                           RunConfig(profile="sales", owner_addresses=[OWNER]),
                           extra_plugins=[("po_numbers", documented_plugin())])
    bodies = [op["body"] for op in ops if op["method"] == "POST" and op["path"] == "emails"]
    assert bodies[0]["regardingobjectid_opportunity_email@odata.bind"] == "<opportunity whose name contains '12345'>"


class Fragment:
    """A plugin that links every email to the opportunity whose name contains ``value``."""

    def __init__(self, value: str, by: str = "contains"):
        self.value, self.by = value, by

    @hookimpl
    def regarding_target(self, message, context):
        return RegardingTarget(table="opportunity", by=self.by, column="name", value=self.value)


@pytest.mark.parametrize(("fragment", "wanted"), [
    ("50%", "50% discount"),          # % unescaped would also match "500 seats"
    ("a_b", "plan a_b"),              # _ unescaped would match "plan axb" (the older row)
    ("[x]", "bracket [x] deal"),      # [x] unescaped is a class matching "x deal"
    ("O'Brien", "O'Brien account"),   # a single quote is doubled, not a syntax error
])
def test_like_wildcards_are_literal(tmp_path, fragment, wanted):
    with Emulator() as emu:
        ids = {name: emu.seed("opportunity", {"name": name}) for name in (
            "500 seats", "plan axb", "x deal", "50% discount", "plan a_b", "bracket [x] deal", "O'Brien account")}
        report = run(emu, write_messages(tmp_path, ["hello"]), Fragment(fragment))
        linked = regarding_of(emu)
    assert report.exit_code() == 0, report.to_dict()
    assert linked["hello"] == ids[wanted]
    assert not report.warnings  # exactly one match: no ambiguity warning


def test_several_matches_link_the_oldest_and_warn(tmp_path):
    with Emulator() as emu:
        first = emu.seed("opportunity", {"name": "PO 4242 phase 1"})
        emu.seed("opportunity", {"name": "PO 4242 phase 2"})
        report = run(emu, write_messages(tmp_path, ["hello"]), Fragment("4242"))
        linked = regarding_of(emu)
    assert linked["hello"] == first
    assert any("more than one opportunity whose name contains '4242'" in w for w in report.warnings)


@pytest.mark.parametrize(("target", "field"), [
    (RegardingTarget(table="opportunity", by="contain", column="name", value="1"), "by"),
    (RegardingTarget(table="opportunity", by="contains", value="1"), "column"),
    (RegardingTarget(table="opportunity", by="id", column="name", value="1"), "column"),
    (RegardingTarget(table="opportunity", by="column", column="name", value=""), "value"),
    (RegardingTarget(table="", by="id", value="1"), "table"),
])
def test_unknown_answer_names_the_plugin_and_the_field(make_plugins, target, field):
    class Broken:
        @hookimpl
        def regarding_target(self, message, context):
            return target

    plugins = make_plugins(extra=[("po_numbers", Broken())])
    with pytest.raises(PluginError) as info:
        plugins.regarding_target({"id": "m1", "subject": "x"}, {"external_domains": ["globex.example"]})
    text = str(info.value)
    assert "plugin 'po_numbers'" in text
    assert f"field {field!r}" in text


def test_hooks_receive_the_runs_lookup(make_plugins):
    seen = []

    class Looking:
        @hookimpl
        def regarding_target(self, message, context):
            seen.append(context["lookup"])
            return None

    plugins = make_plugins(extra=[("looking", Looking())])
    plugins.regarding_target({"id": "m1"}, {"external_domains": []})
    assert seen == [plugins.lookup]
    assert isinstance(plugins.lookup, OrgLookup)


def test_lookup_cache_is_read_only_to_plugins_and_answers_what_was_found():
    lookup = OrgLookup()
    target = lookup.contains("opportunity", "name", "12345")
    assert not lookup.settled(target) and lookup.found(target) is None
    lookup.remember(target, "abc")
    assert lookup.settled(target) and lookup.found(target) == "abc"
    assert lookup.equals("incident", "ticketnumber", "CAS-1") == RegardingTarget(
        table="incident", by="column", column="ticketnumber", value="CAS-1")


@pytest.mark.parametrize(("value", "escaped"), [
    ("50%", "50[%]"), ("a_b", "a[_]b"), ("[x]", "[[]x]"), ("[%_", "[[][%][_]"), ("plain", "plain"),
])
def test_escape_like(value, escaped):
    assert escape_like(value) == escaped


def test_like_filter_escapes_and_quotes():
    assert like_filter("contains", "name", "O'B 5%") == "contains(name,'O''B 5[%]')"
    assert like_filter("startswith", "name", "PO_") == "startswith(name,'PO[_]')"
    with pytest.raises(ValueError):
        like_filter("equals", "name", "x")
