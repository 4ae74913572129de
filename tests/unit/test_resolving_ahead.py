"""The deferred pass asks a chunk's lookups one chunk ahead (planner/resolving.py)."""

from __future__ import annotations

from types import SimpleNamespace

from mail2dataverse.model import MappedEmail, Party, RecordRef
from mail2dataverse.planner.parties import Parties
from mail2dataverse.planner.regarding import RegardingLinks
from mail2dataverse.planner.resolving import Resolver
from mail2dataverse.resolution import Resolution


class _Lookups:
    """Answers every lookup with nothing found, and records when each was asked and taken."""

    def __init__(self, events: list):
        self.events = events

    def start(self, specs):
        asked = sorted({v for _, _, values, _ in specs for v in values})
        self.events.append(("asked", asked))
        events = self.events

        class Pending:
            def result(self):
                events.append(("settled", asked))
                return [{} for _ in specs]

        return Pending()


def _email(n: int, *addresses: str) -> MappedEmail:
    return MappedEmail(ref=RecordRef("messages.json", n), identity=f"<m{n}@x.example>", columns={},
                       parties=[Party(2, a) for a in addresses], outgoing=False)


def _resolver(events: list) -> tuple[Resolver, Parties]:
    ctx = SimpleNamespace(config=SimpleNamespace(party_precedence=("systemuser", "contact")), run_contacts={},
                          resolution=Resolution(), plugins=None, executor=SimpleNamespace(dry_run=False))
    lookups = _Lookups(events)
    parties = Parties(ctx)
    return Resolver(lookups, parties, RegardingLinks(ctx, lookups)), parties


def test_the_next_chunk_is_asked_before_this_one_is_given_out_and_nothing_is_asked_twice():
    events: list = []
    resolver, parties = _resolver(events)
    chunks = [[_email(1, "a@x.example", "b@x.example")], [_email(2, "b@x.example", "c@x.example")], [_email(3, "a@x.example")]]
    seen = []
    for chunk in resolver.ahead(chunks):
        seen.append(chunk)
        events.append(("planned", chunk[0].ref.index))
        # Everything this chunk needs is known when it is planned.
        assert all(p.address in parties.address_book for p in chunk[0].parties)
    assert seen == chunks
    assert events == [
        ("asked", ["a@x.example", "b@x.example"]),
        ("asked", ["c@x.example"]),  # b is in flight for chunk 1: left to its answer
        ("settled", ["a@x.example", "b@x.example"]),
        ("planned", 1),
        ("asked", []),  # chunk 3's addresses are all known or in flight: nothing to look up
        ("settled", ["c@x.example"]),
        ("planned", 2),
        ("settled", []),
        ("planned", 3),
    ]


def test_no_chunks_ask_nothing():
    events: list = []
    resolver, _ = _resolver(events)
    assert list(resolver.ahead([])) == [] and events == []
