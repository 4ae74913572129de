"""The planner and the live executor against scripted org answers (no HTTP).

For behaviours the emulator cannot show: a result page beyond the service's page size, and an
alternate key whose index is still being built.
"""

from __future__ import annotations

from typing import Any

from mail2dataverse.config import RunConfig
from mail2dataverse.model import RecordRef
from mail2dataverse.operations import Operation, Result
from mail2dataverse.planner import Planner
from mail2dataverse.report import Report
from mail2dataverse.state import StateStore
from mail2dataverse.sync import build_runtime
from mail2dataverse.writers.dry_run import DryRunExecutor
from mail2dataverse.writers.live import WebApiExecutor

ACCOUNT = "11111111-1111-4111-8111-111111111111"
OTHER = "22222222-2222-4222-8222-222222222222"
NEWEST_OF_OTHER = "33333333-3333-4333-8333-333333333333"
NEWEST_OF_ACCOUNT = "44444444-4444-4444-8444-444444444444"


class ScriptedOrg(DryRunExecutor):
    """Answers lookups from a script and records writes like the dry run."""

    dry_run = False

    def __init__(self) -> None:
        super().__init__()
        self.followed: list[str] = []

    def _answer(self, op: Operation, phase: int, changeset: int | None) -> Result:
        if op.method != "GET":
            return super()._answer(op, phase, changeset)
        if op.path.startswith("accounts?") and "websiteurl" in op.path:
            return Result(op, 200, body={"value": [{"accountid": ACCOUNT, "websiteurl": "https://acme.example"}]})
        if op.path.startswith("opportunities?"):
            # A busier account fills the first page; ours is on the next one.
            return Result(op, 200, body={"value": [{"opportunityid": NEWEST_OF_OTHER, "_parentaccountid_value": OTHER}],
                                         "@odata.nextLink": "https://org.example/api/data/v9.2/opportunities?$skiptoken=2"})
        return Result(op, 200, body={"value": []})

    def follow(self, next_link: str):
        self.followed.append(next_link)
        if "opportunities" in next_link:
            return iter([{"opportunityid": NEWEST_OF_ACCOUNT, "_parentaccountid_value": ACCOUNT}])
        return iter(())


def test_newest_open_opportunity_on_a_later_page_is_found():
    config = RunConfig(profile="sales", owner_addresses=("me@own.example",))
    plugins, mappings = build_runtime(config)
    org = ScriptedOrg()
    message = {"id": "m1", "grant_id": "g", "subject": "s", "body": "b", "date": "2025-03-07T06:00:00Z",
               "from": [{"email": "x@acme.example"}], "to": [{"email": "me@own.example"}], "folders": ["INBOX"]}
    with StateStore(None) as state:
        report = Planner(mappings, plugins, config, org, state, Report()).run([], [(RecordRef("m.json", 0, "m1"), message)])
    assert report.failed == 0 and report.unlinked == []
    (email,) = [w for w in org.recorded if w["method"] == "POST" and w["path"] == "emails"]
    assert email["body"]["regardingobjectid_opportunity_email@odata.bind"] == f"/opportunities({NEWEST_OF_ACCOUNT})"


class KeysClient:
    """A Web API client whose metadata lists alternate keys with their index status."""

    def __init__(self, keys: list[dict[str, Any]]):
        self.keys = keys

    def send(self, op: Operation) -> Result:
        return Result(op, 200, body={"value": self.keys})


def test_an_alternate_key_still_being_indexed_is_not_used_for_upserts():
    pending = WebApiExecutor(KeysClient([{"KeyAttributes": ["emailaddress1"], "EntityKeyIndexStatus": "Pending"}]))
    failed = WebApiExecutor(KeysClient([{"KeyAttributes": ["emailaddress1"], "EntityKeyIndexStatus": "Failed"}]))
    active = WebApiExecutor(KeysClient([{"KeyAttributes": ["emailaddress1"], "EntityKeyIndexStatus": "Active"}]))
    assert pending.alternate_keys("contact") == set()
    assert failed.alternate_keys("contact") == set()
    assert active.alternate_keys("contact") == {("emailaddress1",)}


class AccountsRefused(ScriptedOrg):
    """An org that refuses every account write (a plugin or a business rule on account)."""

    def _answer(self, op: Operation, phase: int, changeset: int | None) -> Result:
        if op.method == "POST" and op.path.startswith("accounts"):
            return Result(op, 400, error_code="0x80040265", error_message="refused by a business rule")
        if op.method == "GET":
            return Result(op, 200, body={"value": []})
        return super()._answer(op, phase, changeset)


def test_a_contact_whose_account_failed_is_written_without_the_link():
    # Binding to the account that was never created would fail the contact as well, and then
    # every email party that binds to the contact.
    config = RunConfig(owner_addresses=("me@own.example",))
    plugins, mappings = build_runtime(config)
    org = AccountsRefused()
    person = {"id": "c1", "given_name": "A", "surname": "B", "emails": [{"email": "a@acme.example"}]}
    with StateStore(None) as state:
        report = Planner(mappings, plugins, config, org, state, Report()).run([(RecordRef("c.json", 0, "c1"), person)], [])
    assert report.entities["account"].failed == 1
    assert report.entities["contact"].created == 1 and report.entities["contact"].failed == 0
    (create,) = [w for w in org.recorded if w["path"].startswith("contacts")]
    assert all("parentcustomerid" not in k for k in create["body"]["Targets"][0])
