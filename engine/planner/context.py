"""What every part of one planner run shares: the org's tables, the executor, the run's state.

The phases (:mod:`.contacts`, :mod:`.emails`) and the org lookups (:mod:`.lookups`) each hold a
reference to one :class:`RunContext` instead of being slices of one class: the context carries
the inputs of the run (mappings, plugins, config, executor, state store, report) and the few
facts phase 1 learns for phase 2 (which accounts and contacts exist, under which ids).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

from ..config import RunConfig
from ..model import RecordRef
from ..operations import ChangeSet, Operation, Result
from ..report import Report
from ..resolution import Resolution
from ..state import StateStore

#: How often a wait on two answers (the phase's and its idle work's) looks at both, in seconds:
#: small beside a round trip to the org, and a few hundred wake-ups a run.
IDLE_POLL = 0.002

#: logical name → (entity set, primary key)
TABLES: dict[str, tuple[str, str]] = {
    "account": ("accounts", "accountid"),
    "contact": ("contacts", "contactid"),
    "email": ("emails", "activityid"),
    "systemuser": ("systemusers", "systemuserid"),
    "lead": ("leads", "leadid"),
    "queue": ("queues", "queueid"),
    "opportunity": ("opportunities", "opportunityid"),
    "incident": ("incidents", "incidentid"),
}
#: the address columns of a contact, account or lead; an org's users put an address in any of
#: them (a work address in emailaddress2 is common), and Dataverse resolves email parties
#: against all three, so lookups by address read all three.
ADDRESS_COLUMNS = ("emailaddress1", "emailaddress2", "emailaddress3")
#: the columns holding a table's email addresses, for binding activity parties
PARTY_ADDRESS_COLUMN: dict[str, tuple[str, ...]] = {
    "systemuser": ("internalemailaddress",),
    "contact": ADDRESS_COLUMNS,
    "account": ADDRESS_COLUMNS,
    "lead": ADDRESS_COLUMNS,
    "queue": ("emailaddress",),
}
DUPLICATE_CODES = frozenset({"0x80040237", "0x80060892"})  # DuplicateRecord, DuplicateRecordEntityKey


class Executor(Protocol):
    """Runs operations: the dry-run recorder or the Web API client."""

    dry_run: bool

    def run(self, items: list[Operation | ChangeSet], *, phase: int) -> list[Result]:
        """Execute ``items`` (GETs outside change sets, writes, change sets); one result per operation."""

    def alternate_keys(self, table: str) -> set[tuple[str, ...]]:
        """The active alternate keys of ``table`` (each a tuple of column names)."""

    def follow(self, next_link: str) -> Iterator[dict[str, Any]]:
        """Rows of the pages after a first page that carried ``@odata.nextLink``."""

    # Optional: ``submit(items, *, phase)`` returning an object whose ``result()`` gives what
    # ``run`` would and whose ``done()`` says whether it has. With it the planner prepares its
    # next chunk while this one is in flight.


class Finished:
    """The results of work that ran at once (an executor without ``submit``)."""

    def __init__(self, results: list[Result]):
        self._results = results

    def done(self) -> bool:
        """Always: the work ran when it was handed over."""
        return True

    def result(self) -> list[Result]:
        """The results."""
        return self._results


def submit(executor: Executor, items: list[Operation | ChangeSet], *, phase: int) -> Any:
    """Hand ``items`` to ``executor`` without waiting when it can (its ``submit``), else run them."""
    start = getattr(executor, "submit", None)
    if start is not None:
        return start(items, phase=phase)
    return Finished(executor.run(items, phase=phase))


class Explainer(Protocol):
    """Told why each record ends as it does; the preview's explanation records come from here.

    The planner calls it only when one is set on :attr:`RunContext.explain` (a sync has none).
    Skips reach it through the report, since the planner reports every skip there.
    """

    def accounts(self, planned: list[Any]) -> None:
        """Phase 1 settled these accounts (``contacts.Planned``: outcome, id, changes, existing row)."""

    def contacts(self, planned: list[Any], mapped: dict[str, Any]) -> None:
        """Phase 1 settled these contacts; ``mapped`` is address → :class:`~..model.MappedContact`."""

    def email(self, email: Any, outcome: str, *, body: dict[str, Any] | None = None, reason: str = "",
              result: Result | None = None) -> None:
        """Phase 2 settled ``email`` (a :class:`~..model.MappedEmail`): created with ``body``,
        unchanged for ``reason``, or failed with ``result``."""

    def attach(self, email: Any, section: str, value: Any) -> None:
        """Add a section (``thread``, ``attachments``...) to ``email``'s explanation, before
        :meth:`email` is called for it: how later planner steps explain what they add."""


class LookupFailed(Exception):
    """A bulk lookup failed; writing anyway could duplicate records, so the run stops."""


@dataclass
class RunContext:
    """The inputs of one run and what phase 1 hands to phase 2."""

    mappings: Any
    plugins: Any
    config: RunConfig
    executor: Executor
    state: StateStore
    report: Report
    full: bool = False
    progress: Any = None
    #: registrable domains of the mailbox owners: their own company gets no account
    owner_domains: set[str] = field(default_factory=set)
    #: registrable domain → accountid (phase 1; phase 2's regarding lookups add to it)
    account_ids: dict[str, str] = field(default_factory=dict)
    #: address (lower) → contactid of this run's contacts (phase 1). Kept apart from phase 2's
    #: address book: a system user with the same address must still win when the precedence
    #: ranks system users first.
    run_contacts: dict[str, str] = field(default_factory=dict)
    #: which record each party address resolves to (the resolution report; phase 2)
    resolution: Resolution = field(default_factory=Resolution)
    #: told why each record ends as it does (the preview); None in a sync
    explain: Explainer | None = None
    #: work to do while waiting for the org (:meth:`run`): one small step a call. It answers
    #: True (more to do), False (nothing to do for now), or work of its own in flight (an
    #: object with ``done()``: call again once that is done). Phase 2's first pass, while phase
    #: 1 waits (.run).
    idle: Callable[[], Any] | None = None

    def run(self, items: list[Operation | ChangeSet], *, phase: int) -> list[Result]:
        """Hand ``items`` to the executor and wait for their results, doing :attr:`idle` work
        meanwhile (never re-entered: idle work hands its own lookups over and says so, so that
        these results are taken the moment they are in, not after the idle work's)."""
        job = submit(self.executor, items, phase=phase)
        idle = self.idle
        if idle is not None and not job.done():
            self.idle = None
            try:
                while not job.done():
                    step = idle()
                    if step is True:
                        continue
                    if not step:
                        break
                    # The idle work waits for the org too: whichever answer comes first goes on.
                    while not job.done() and not step.done():
                        time.sleep(IDLE_POLL)
            finally:
                self.idle = idle
        return job.result()

    def remember(self, table: str, key: str, dataverse_id: str | None, columns: dict[str, Any], ref: RecordRef) -> None:
        """Record a write in the state store; a dry run writes nothing, so it remembers nothing."""
        if not self.executor.dry_run:
            self.state.put(table, key, dataverse_id, columns, str(ref))

    def tick(self) -> None:
        """Tell the progress callback (if any) that a phase step has ended."""
        if self.progress:
            self.progress(self.report)


def chunks(items: list, size: int) -> Iterator[list]:
    """``items`` in consecutive slices of at most ``size``."""
    for start in range(0, len(items), size):
        yield items[start : start + size]
