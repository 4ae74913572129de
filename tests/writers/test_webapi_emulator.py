"""WebApiClient against the local Dataverse emulator over real sockets (in-process server).

Waits are recorded, not slept: the client gets ``sleep=list.append``.
"""

from __future__ import annotations

import random
import uuid

from mail2dataverse.auth import StaticToken
from mail2dataverse.operations import ChangeSet, Operation
from mail2dataverse.writers.webapi import WebApiClient

from mail2dataverse.emulator import Emulator


def _client(emu, sleeps, auth=None, **kwargs):
    return WebApiClient(emu.base_url, auth or StaticToken("t"), sleep=sleeps.append, random=random.Random(1), **kwargs)


def _email_changeset(n: int, subject: str | None = None) -> ChangeSet:
    return ChangeSet(
        [
            Operation("POST", "emails", {"subject": subject or f"mail {n}", "messageid": f"<{n}@example.com>"}, content_id="1", tag=("email", n)),
            Operation("PATCH", "$1", {"statecode": 1, "statuscode": 4}, content_id="2", tag=("complete", n)),
        ]
    )


def test_batch_with_change_sets_references_and_a_failing_change_set():
    sleeps: list[float] = []
    with Emulator() as emu, _client(emu, sleeps) as client:
        items = [
            _email_changeset(1),
            Operation("POST", "contacts", {"emailaddress1": "o'brien+tag@x.com", "lastname": "O'Brien"}, tag="contact"),
            _email_changeset(2, subject="x" * 801),  # too long: the change set fails as a whole
            _email_changeset(3),
        ]
        results = client.execute(items)
        assert [r.operation.tag for r in results] == [
            ("email", 1), ("complete", 1), "contact", ("email", 2), ("complete", 2), ("email", 3), ("complete", 3)
        ]
        assert [r.status for r in results] == [204, 204, 204, 400, 0, 204, 204]
        assert results[3].error_code == "0x80044331" and results[4].rolled_back
        emails = {e["messageid"]: e for e in emu.records("email")}
        assert set(emails) == {"<1@example.com>", "<3@example.com>"}
        assert all(e["statecode"] == 1 and e["statuscode"] == 4 for e in emails.values())
        assert results[0].entity_id in {e["activityid"] for e in emails.values()}

        rows = list(client.query_all("contacts?$select=contactid&$filter=emailaddress1 eq 'o''brien+tag@x.com'"))
        assert [r["contactid"] for r in rows] == [results[2].entity_id]
        rows = list(
            client.query_all(
                "contacts?$select=contactid&$filter=Microsoft.Dynamics.CRM.In(PropertyName='emailaddress1',"
                'PropertyValues=["o\'brien+tag@x.com","nobody@x.com"])'
            )
        )
        assert len(rows) == 1
        assert client.stats["dop_hint"] == 4 and sleeps == []


def test_query_all_pages_through_the_emulator():
    sleeps: list[float] = []
    with Emulator() as emu, _client(emu, sleeps) as client:
        client.execute([Operation("POST", "contacts", {"lastname": f"n{i}"}) for i in range(7)])
        rows = list(client.query_all("contacts?$select=lastname", page_size=3))
        assert sorted(r["lastname"] for r in rows) == [f"n{i}" for i in range(7)]
        assert client.stats["requests"] == 1 + 3


def test_throttling_storm_is_absorbed_with_retry_after():
    sleeps: list[float] = []
    with Emulator(faults="429=0.4,seed=11") as emu, _client(emu, sleeps, max_batch_operations=5, max_retries=20) as client:
        results = client.execute([_email_changeset(n) for n in range(20)])
        assert all(r.status == 204 for r in results)
        assert len(emu.records("email")) == 20
        stats = client.stats
        assert stats["throttled"] > 0 and stats["throttled"] == emu.stats["throttled"]
        # The emulator says Retry-After: 1; 429s arriving while the user already rests share it.
        assert sleeps.count(1.0) >= 1
        assert stats["retry_after_seconds_total"] == float(stats["throttled"])


def test_dropped_connections_and_503s_are_retried_to_the_fault_free_state():
    sleeps: list[float] = []
    with Emulator(faults="drop=0.25,503=0.15,seed=5") as emu, _client(emu, sleeps, max_batch_operations=4, max_retries=30) as client:
        results = client.execute([_email_changeset(n) for n in range(16)])
        assert all(r.status == 204 for r in results)
        assert sorted(e["messageid"] for e in emu.records("email")) == sorted(f"<{n}@example.com>" for n in range(16))
        assert client.stats["transport_errors"] > 0 and emu.stats["dropped"] > 0


def test_drop_after_commit_resend_is_safe_with_deterministic_ids():
    # The idempotency contract: creates carry client-made ids, so a resent batch cannot duplicate.
    sleeps: list[float] = []
    ids = [str(uuid.uuid5(uuid.NAMESPACE_URL, f"contact-{i}")) for i in range(12)]
    with Emulator(faults="drop_after=0.3,seed=2") as emu, _client(emu, sleeps, max_batch_operations=3, max_retries=30) as client:
        results = client.execute([Operation("POST", "contacts", {"contactid": i, "lastname": i[:8]}) for i in ids])
        stored = sorted(r["contactid"] for r in emu.records("contact"))
        assert stored == sorted(ids)  # every record exactly once
        assert emu.stats["dropped"] > 0
        # a resent create answers "already there"; everything else succeeded
        assert all(r.ok or (r.status in (400, 412) and r.error_code) for r in results)
        assert any(not r.ok for r in results)  # the seed does make the emulator drop after a commit


def test_expired_tokens_are_renewed_once_per_request():
    class Rotating:
        def __init__(self):
            self.n = 0

        def token(self, *, force_refresh=False):
            if force_refresh:
                self.n += 1
            return f"token-{self.n}"

    sleeps: list[float] = []
    # token_ttl=0: a token is refused on any use after its first, like an expired one
    with Emulator(token_ttl=0) as emu, _client(emu, sleeps, auth=Rotating(), max_batch_operations=2) as client:
        results = client.execute([_email_changeset(n) for n in range(3)])
        assert all(r.status == 204 for r in results)
        assert client.stats["auth_refreshes"] >= 2 and len(emu.records("email")) == 3
