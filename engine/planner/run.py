"""The orchestrating :class:`Planner`: preflight, then phase 1, then phase 2, into one report."""

from __future__ import annotations

import gc
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from ..config import RunConfig
from ..errors import MappingError
from ..model import RecordRef
from ..preflight import column_problems, read_concurrently
from ..report import Report
from ..state import StateStore
from .contacts import ContactPhase
from .context import Executor, RunContext
from .emails import EmailPhase
from .lookups import OrgLookups


class Planner:
    """One run: phase 1 (accounts, contacts) then phase 2 (emails) through an executor."""

    def __init__(
        self,
        mappings: Any,
        plugins: Any,
        config: RunConfig,
        executor: Executor,
        state: StateStore,
        report: Report,
        *,
        full: bool = False,
        progress: Any = None,
        explain: Any = None,
    ):
        owner_domains = {
            plugins.registrable_domain(a.rsplit("@", 1)[-1]) for a in config.owner_addresses if "@" in a
        }
        self.context = RunContext(mappings, plugins, config, executor, state, report,
                                  full=full, progress=progress, owner_domains=owner_domains, explain=explain)
        self.mappings, self.config, self.executor, self.report = mappings, config, executor, report
        lookups = OrgLookups(self.context)
        self.contacts = ContactPhase(self.context, lookups)
        self.emails = EmailPhase(self.context, lookups)

    def run(self, contacts: Iterable[tuple[RecordRef, Any]], messages: Iterable[tuple[RecordRef, Any]]) -> Report:
        """Sync ``contacts`` then ``messages``; returns the report (also kept on ``self.report``)."""
        self.preflight()
        with _relaxed_gc():
            ctx = self.context
            if ctx.explain is None and not self.executor.dry_run:
                # While phase 1 waits for the org, phase 2 reads, maps and defers what it can
                # (EmailPhase.start). Not in a preview: its records come in a fixed order.
                self.emails.start(messages)
                ctx.idle = self.emails.step
            try:
                self.phase_contacts(contacts)
            finally:
                ctx.idle = None
            self.phase_emails(messages)
        return self.report

    def preflight(self) -> None:
        """Check the mappings against the org's columns before writing anything.

        :raises MappingError: a mapping writes a column the org does not have (located at the
            mapping's line). A dry run, which has no org, checks nothing.
        """
        read = getattr(self.executor, "attributes", None)
        if self.executor.dry_run or read is None:
            return
        self.emails.dates.check_privilege()
        problems, warnings = column_problems(self.mappings, read_concurrently(self.mappings, read))
        self.report.warnings.extend(warnings)
        if problems:
            raise MappingError(problems)

    def phase_contacts(self, records: Iterable[tuple[RecordRef, Any]]) -> None:
        """Phase 1: map, dedupe and write accounts then contacts (:mod:`.contacts`)."""
        self.contacts.run(records)

    def phase_emails(self, records: Iterable[tuple[RecordRef, Any]]) -> None:
        """Phase 2: map and write messages in chunks, extending coverage (:mod:`.emails`);
        continues the first pass when it began during phase 1."""
        self.emails.run(records)


@contextmanager
def _relaxed_gc() -> Iterator[None]:
    """Collect cyclic garbage rarely while records stream through.

    Mapping and planning allocate millions of small dicts that hold no reference cycles; with
    the default thresholds the collector rescans the growing set of live payloads every few
    hundred allocations, which measured 30 % of a preview's time (benchmarks/bench_plan.py).
    Everything alive before the run (compiled mappings, plugins) is frozen out of the scans.
    """
    old = gc.get_threshold()
    gc.freeze()
    gc.set_threshold(max(old[0], 100_000), old[1], old[2])
    try:
        yield
    finally:
        gc.set_threshold(*old)
        gc.unfreeze()
