"""What a chunk of emails' parties and regarding targets are: asked of the org one chunk ahead.

Before a chunk of emails is planned, the addresses of its parties (:mod:`.parties`) and its
regarding targets (:mod:`.regarding`) that are not known yet are looked up in one round. The
deferred pass (:mod:`.threads`) reads its chunks one after another, so :meth:`Resolver.ahead`
asks the next chunk's questions while this one is planned and written: the org's answer, queued
ahead of the writes but still a round trip behind them, is in by the time it is needed instead
of holding the planner up once a chunk (a tenth of a W10k sync's wall time).

A question in flight is not asked twice: an address or target the chunk before asked about is
left to that chunk's answer, which is settled first (answers are settled in chunk order), so
the resolution report counts each candidate row once.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from ..model import MappedEmail, RegardingTarget
from .lookups import OrgLookups, PendingLookups
from .parties import Parties
from .regarding import RegardingLinks


class Asked:
    """One chunk's lookups in flight; :meth:`settle` waits for them and records the answers."""

    def __init__(self, resolver: Resolver, pending: PendingLookups | None, n_party_specs: int,
                 settle_parties: Any, target_specs: list, targets: set[RegardingTarget]):
        self._resolver = resolver
        self._pending = pending
        self._n = n_party_specs
        self._settle_parties = settle_parties
        self._target_specs = target_specs
        self._targets = targets

    def settle(self) -> None:
        """Wait for the answers (if not in yet) and record them: parties, then targets."""
        resolver = self._resolver
        found = self._pending.result() if self._pending is not None else []
        self._settle_parties(found[: self._n])
        resolver.regarding.settle(self._target_specs, found[self._n:])
        resolver.asking_targets.difference_update(self._targets)


class Resolver:
    """Asks the org about emails' parties and regarding targets, a chunk ahead where it can."""

    def __init__(self, lookups: OrgLookups, parties: Parties, regarding: RegardingLinks):
        self.lookups = lookups
        self.parties = parties
        self.regarding = regarding
        #: targets asked about and not settled yet (the parties keep their own such set)
        self.asking_targets: set[RegardingTarget] = set()

    def ask(self, emails: list[MappedEmail]) -> Asked:
        """Hand the lookups ``emails`` need to the executor (no wait): what is not known yet,
        nor asked by a chunk before."""
        regarding, asking = self.regarding, self.asking_targets
        targets = {e.regarding for e in emails
                   if e.regarding is not None and e.regarding not in asking and not regarding.known(e.regarding)}
        asking.update(targets)
        target_specs = regarding.specs(targets)
        party_specs, settle_parties = self.parties.specs(emails)
        specs = party_specs + [spec for spec, _ in target_specs]
        pending = self.lookups.start(specs) if specs else None
        return Asked(self, pending, len(party_specs), settle_parties, target_specs, targets)

    def resolve(self, emails: list[MappedEmail]) -> None:
        """Look up and record what ``emails`` need, before returning."""
        self.ask(emails).settle()

    def ahead(self, chunks: Iterable[list[MappedEmail]]) -> Iterator[list[MappedEmail]]:
        """Each of ``chunks`` once what it needs is recorded; the next chunk is read and its
        lookups handed over before this one is given out.

        Reading a chunk early is safe for :meth:`.threads.ThreadLinks.rounds`: what it decides
        when reading (whether a reply's parent is still deferred) does not depend on the
        planning of the chunks before, only on which emails were read before.
        """
        it = iter(chunks)
        current = next(it, None)
        asked = self.ask(current) if current is not None else None
        while current is not None and asked is not None:
            following = next(it, None)
            following_asked = self.ask(following) if following is not None else None
            asked.settle()
            yield current
            current, asked = following, following_asked
