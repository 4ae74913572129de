"""Phase 2: one email activity per message, with its parties and regarding link, in chunks.

Messages stream through in chunks of :data:`EMAIL_CHUNK` so a huge export never sits in memory.
Per chunk: the state store, then org lookups of existing emails (by Message-ID and alias) and
thread parents, which decide what is written now and what is deferred (.threads); for what is
written now a second round resolves party addresses (.parties) and regarding targets; then one
change set per new email (create, and mark completed). Each mailbox's :class:`~.coverage.Coverage` grows
as messages pass, so the next run skips the dates this one covered.

A mailbox's coverage is the set of date ranges in which every message is known to be in the
org; a message dated inside it is counted unchanged without being written. It rests on what the
Nylas CLI guarantees of an export (newest first, every message from the oldest one exported up
to the newest), which holds for ``--all`` and ``--limit N`` alike: so a first run with
``--limit`` and a later complete export still writes the older mail.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from typing import Any

from ..model import MappedEmail, RecordRef, Skip, deterministic_id
from ..operations import ChangeSet, Operation, Result, Rows
from ..state import covered
from .context import DUPLICATE_CODES, RunContext, submit
from .coverage import Coverage
from .deferred import MEMORY_BUDGET
from .digests import FRONT, DigestTable
from .dates import OriginalDates
from .attachments import POSTPONED, AttachmentPlanner
from .lookups import OrgLookups, PendingLookups, Spec
from .parties import Parties
from .regarding import RegardingLinks
from .resolving import Resolver
from .inflight import ChunksInFlight
from .threads import PARENT_COLUMNS, ThreadLinks, identity_key, regarding_of_row

log = logging.getLogger("mail2dataverse.planner")

#: What the first pass yields while it waits for phase 1 (EmailPhase.start).
_BLOCKED = object()

STATUS_SENT, STATUS_RECEIVED, STATE_COMPLETED = 3, 4, 1
EMAIL_CHUNK = 2000


def _answered(pending: PendingLookups) -> Iterator[object]:
    """Yield ``pending`` while it is in flight, then return its answers: phase 1 may be waiting
    for the org too (:meth:`RunContext.run`), and its answer must not wait for these."""
    while not pending.done():
        yield pending
    return pending.result()


class EmailPhase:
    """Map and write messages; binds parties to phase 1's contacts and to what the org holds."""

    def __init__(self, ctx: RunContext, lookups: OrgLookups):
        self.ctx = ctx
        self.lookups = lookups
        self.regarding = RegardingLinks(ctx, lookups)
        self.dates = OriginalDates(ctx)
        # A sync keeps its first deferred emails in memory, and its tables' first keys in dicts
        # (.digests); a dry run or preview, its memory bounded for 200,000 messages (issue 13),
        # spools them all and keeps every key in the compact buffers.
        bounded = ctx.executor.dry_run or ctx.explain is not None
        front = 0 if bounded else FRONT
        self.threads = ThreadLinks(ctx, spool_memory=0 if bounded else MEMORY_BUDGET, table_front=front)
        self.attachments = AttachmentPlanner(ctx)
        self.parties = Parties(ctx)
        self.resolver = Resolver(lookups, self.parties, self.regarding)
        self._content_id = 0
        # identity digest → source number << 40 | record index (8 bytes): one entry per email
        # for the whole run, so a DigestTable (about 30 bytes an entry past its front; a dict took 120).
        self._seen_identities = DigestTable(8, front=front)
        self._seen_sources: dict[str, int] = {}
        self.in_flight = ChunksInFlight(ctx.executor, self._finish)
        self._marks: dict[str, Coverage] = {}
        self._first: Iterator[object] | None = None  # the first pass (start)
        self._may_write = False  # phase 1 has ended: its contacts are known (run)

    def start(self, records: Iterable[tuple[RecordRef, Any]]) -> None:
        """Begin the first pass over ``records``; :meth:`step` advances it, :meth:`run` ends the phase.

        The first pass may run while phase 1 waits for the org (:attr:`RunContext.idle`): it
        reads, maps and looks up emails, and defers the replies whose parent is not known yet,
        all of which needs nothing from phase 1. Nylas lists the newest mail first, so in a
        mailbox of conversations that is nearly all of it. The first email it could write now
        (its parties need phase 1's contacts) stops it until :meth:`run`.
        """
        # Where attachment content comes from: the source's provider, or none (plain JSON).
        self.attachments.content = getattr(records, "attachment_content", None)
        self._first = self._first_pass(records, self._marks)

    def step(self) -> Any:
        """One record of the first pass: True, or False once it is done or must wait for phase
        1, or its lookups in flight (:class:`~.lookups.PendingLookups`: step again once they
        are done, see :meth:`RunContext.run`)."""
        out = _BLOCKED if self._first is None else next(self._first, _BLOCKED)
        return False if out is _BLOCKED else out is None or out

    def run(self, records: Iterable[tuple[RecordRef, Any]] | None = None) -> None:
        """Map and write messages in chunks (``records`` only when :meth:`start` was not
        called), then the deferred replies; extend each mailbox's coverage when done."""
        ctx, report = self.ctx, self.ctx.report
        if self._first is None:
            self.start(records if records is not None else ())
        self._may_write = True
        for waiting in self._first:
            if waiting is not None:
                waiting.wait()  # nothing else to do meanwhile: wait for the first pass's lookups
        marks = self._marks
        # Replies whose parent came later in the export, oldest first (see .threads). They
        # stream through the writer like the chunks above: a reply waits in the writer, not
        # here, for the email it answers (ChangeSet.after).
        for deferred in self.resolver.ahead(self.threads.rounds(EMAIL_CHUNK)):
            items, later = self._plan(deferred, final=True)
            self._hand_over(items, later, marks, final=True)
        self.in_flight.settle()
        # Replies that failed only because the email they answer did: written again, unlinked.
        self._send_now(self.threads.orphaned(), marks, final=True)
        report.threads = self.threads.summary()
        report.attachments = self.attachments.summary()
        report.addresses = self.parties.counts()
        report.resolution = ctx.resolution
        if not ctx.executor.dry_run:
            for mailbox, mark in marks.items():
                ctx.state.add_coverage(mailbox, mark.ranges())
            ctx.state.commit()

    def _first_pass(self, records: Iterable[tuple[RecordRef, Any]], marks: dict[str, Coverage]) -> Iterator[object]:
        """Read, map and write ``records`` in chunks; yields after each record (see :meth:`start`)."""
        ctx, report = self.ctx, self.ctx.report
        chunk: list[MappedEmail] = []
        seen_identities = self._seen_identities
        for ref, record in records:
            report.inputs["messages"] += 1
            mapped = ctx.mappings.map_message(record, ref)
            if isinstance(mapped, Skip):
                report.skip("email", str(ref), mapped.reason)
                yield None
                continue
            for note in mapped.warnings:  # a participant address refused: the email goes without it
                report.warnings.append(f"{ref}: {note}")
            mailbox = mapped.mailbox or ref.source
            mark = marks.get(mailbox)
            if mark is None:
                mark = marks[mailbox] = Coverage([] if ctx.full else ctx.state.coverage(mailbox))
            mark.seen(mapped.date)
            if mapped.date and mark.previous and covered(mark.previous, mapped.date):
                report.count("email", "unchanged")
                report.incremental_skipped += 1
                yield None
                continue
            source = self._seen_sources.setdefault(ref.source, len(self._seen_sources))
            here = (source << 40 | ref.index).to_bytes(8, "little")
            first = seen_identities.setdefault(identity_key(mapped.identity), here)
            if first != here:
                report.skip("email", str(ref), f"duplicate: same message as {_first_seen(self._seen_sources, first)}")
                yield None
                continue
            chunk.append(mapped)
            if len(chunk) >= EMAIL_CHUNK:
                yield from self._write(chunk, marks)
                chunk = []
            yield None
        if chunk:
            yield from self._write(chunk, marks)

    def _write(self, emails: list[MappedEmail], marks: dict[str, Coverage]) -> Iterator[object]:
        """Look up ``emails`` (already written? their thread parents), defer the replies that
        must wait, resolve and plan the rest, and hand their writes over (:meth:`_hand_over`).
        A generator: it yields its lookups while they are in flight, and :data:`_BLOCKED` while it
        has emails to write before phase 1 ended."""
        ctx, report = self.ctx, self.ctx.report
        # A message first synced without headers (its identity derived from the Nylas id) and
        # later with them (identity = Message-ID) is the same email: its aliases are looked up too.
        keys = [k for e in emails for k in (e.identity, *e.aliases)]
        stored = ctx.state.get_many("email", keys)
        todo = []
        explain = ctx.explain
        seen_on_email = ctx.resolution.seen_on_email
        for e in emails:
            if e.identity in stored or any(a in stored for a in e.aliases):
                report.count("email", "unchanged")
                if explain is not None:
                    explain.email(e, "unchanged", reason="in the state file: written by an earlier run")
            else:
                todo.append(e)
                seen_on_email({p.address for p in e.parties})

        # Existing emails and thread parents first: they decide what is written now.
        specs: list[Spec] = [("email", "messageid", [k for e in todo for k in (e.identity, *e.aliases)], PARENT_COLUMNS)]
        parent_ids, thread_ids = self.threads.wanted(todo)
        specs += [("email", "messageid", parent_ids, PARENT_COLUMNS),
                  ("email", "conversationtrackingid", thread_ids, PARENT_COLUMNS)]
        found = yield from _answered(self.lookups.start(specs))
        self.threads.settle(found[1], found[2])
        existing = found[0]
        now: list[MappedEmail] = []
        ahead: set[bytes] = set()  # what replies find the emails in `now` by
        threads = self.threads
        for e in todo:
            row = next((existing[k.lower()] for k in (e.identity, *e.aliases) if k.lower() in existing), None)
            if row is not None:
                # Already in the org (another mailbox, a lost state file, server-side sync).
                report.count("email", "unchanged")
                if explain is not None:
                    explain.email(e, "unchanged", reason=f"already in the org: email {row['activityid']} has this messageid")
                ctx.remember("email", e.identity, row["activityid"], {"messageid": e.identity}, e.ref)
                self.threads.written(e, row["activityid"], regarding_of_row(row))
                continue
            if threads.must_wait(e, final=False) and not threads.held_back(e, ahead):
                # Its parent is not known, nor planned before it here: the deferred pass
                # resolves its parties then (see .threads); no lookups for it now.
                threads.defer(e)
                continue
            now.append(e)
            ahead.update(threads.keys_of(e))
        while now and not self._may_write:
            yield _BLOCKED
        self.resolver.resolve(now)
        items, later = self._plan(now, final=False)
        self._hand_over(items, later, marks, final=False)

    def _hand_over(self, items: list[ChangeSet], later: list[MappedEmail], marks: dict[str, Coverage], *,
                   final: bool) -> None:
        """Hand a chunk's change sets to the writer (:mod:`.inflight`); ``later`` reuse content
        a change set of this chunk stores: they are sent once everything before has settled."""
        if not items:
            self.ctx.state.commit()
        self.in_flight.add(items, marks)
        if later:
            self.in_flight.settle()
            self._send_now(later, marks, final=final)

    def _plan(self, emails: list[MappedEmail], *, final: bool) -> tuple[list[ChangeSet], list[MappedEmail]]:
        """Change sets for ``emails``; a reply waiting for its parent is deferred (see .threads),
        and an email reusing content not stored yet comes back in the second list."""
        items: list[ChangeSet] = []
        later: list[MappedEmail] = []
        threads = self.threads
        postponed: set[bytes] = set()  # what replies find the emails in `later` by
        for e in emails:
            if postponed and threads.held_back(e, postponed):
                # It answers an email put back below: it goes after it (a deferred pass
                # hands a reply over in the same chunk as its parent, see .threads).
                later.append(e)
                postponed.update(threads.keys_of(e))
                continue
            cs = self._changeset(e, final)
            if cs is None:
                threads.defer(e)
            elif cs is POSTPONED:
                later.append(e)
                postponed.update(threads.keys_of(e))
            else:
                # Known to its replies from now on; sent after the email it answers (see .threads).
                body = cs.operations[0].body
                cs.after = threads.after(body)
                threads.written(e, body["activityid"], body)
                items.append(cs)
        self.attachments.new_wave()
        return items, later

    def _send_now(self, emails: list[MappedEmail], marks: dict[str, Coverage], *, final: bool) -> None:
        """Plan, send and settle ``emails`` before returning (deferred replies, postponed reuse)."""
        while emails:
            items, emails = self._plan(emails, final=final)
            if items:
                self._finish(items, submit(self.ctx.executor, items, phase=2), marks)

    def _finish(self, items: list[ChangeSet], job: Any, marks: dict[str, Coverage]) -> None:
        """Wait for a chunk's writes and record each email's outcome."""
        ctx, report = self.ctx, self.ctx.report
        explain = ctx.explain
        results = job.result()
        by_email: dict[int, list[Result]] = {}
        for res in results:
            by_email.setdefault(id(res.operation.tag), []).append(res)
        for cs in items:
            e = cs.tag
            rs = by_email.get(id(e), [])
            create = rs[0] if rs else None
            mark = marks[e.mailbox or e.ref.source]
            ok = bool(rs) and all(r.ok for r in rs)
            self.attachments.settle([op for op in cs.operations if op.path == "activitymimeattachments"], ok)
            if ok:
                report.count("email", "created")
                ctx.remember("email", e.identity, create.operation.body["activityid"], {"messageid": e.identity}, e.ref)
                if explain is not None:
                    explain.email(e, "created", body=create.operation.body)
            elif create is not None and create.error_code in DUPLICATE_CODES:
                # Created by a concurrent run, or by this one before a lost response.
                report.count("email", "unchanged")
                ctx.remember("email", e.identity, create.operation.body["activityid"], {"messageid": e.identity}, e.ref)
                if explain is not None:
                    explain.email(e, "unchanged", reason="created meanwhile by another run (duplicate key)")
            else:
                body = create.operation.body if create else cs.operations[0].body
                if self.threads.did_not_land(e, body["activityid"], body):
                    continue  # the email it answers failed: written again unlinked (see .threads)
                bad = next((r for r in rs if not r.ok and not r.rolled_back), create)
                if explain is not None:
                    explain.email(e, "failed", body=create.operation.body if create else None, result=bad)
                report.fail("email", str(e.ref), bad.error_code if bad else None,
                            bad.error_message if bad else "no result", bad.status if bad else 0)
                mark.failed(e.date)
        ctx.state.commit()
        counts = report.entities["email"]
        log.info("emails: %d created, %d unchanged, %d skipped, %d failed of %d read",
                 counts.created, counts.unchanged, counts.skipped, counts.failed, report.inputs["messages"])
        ctx.tick()

    def _changeset(self, e: MappedEmail, final: bool = True) -> Any:
        """The change set creating ``e``; None when it waits for its thread parent, or
        :data:`~.attachments.POSTPONED` when it reuses content not stored yet."""
        if self.threads.must_wait(e, final=final):
            return None  # its parent is not known yet: written later, linked (see .threads)
        attached = self.attachments.plan(e, f"${self._content_id + 1}")
        if attached is POSTPONED:
            return POSTPONED
        attachment_ops, lost = attached
        body: dict[str, Any] = {"activityid": deterministic_id("email", e.identity), **e.columns}
        body["email_activity_parties"] = self.parties.of(e)
        if e.regarding is not None:
            self.regarding.link(e, body)
        self.threads.link(e, body)
        self.dates.apply(e, body)
        if lost and self.attachments.policy.mark_notifications:
            body["notifications"] = 1  # as server-side sync marks an email that lost an attachment
        self._content_id += 1
        cid = str(self._content_id)
        # The id is ours, so a create whose answer was lost is found by it (created Rows).
        ops = [Operation("POST", "emails", body, content_id=cid, tag=e, rows=Rows("emails", "activityid", (body["activityid"],), True)),
               *attachment_ops]
        if self.ctx.config.create_completed:
            self._content_id += 1
            status = STATUS_SENT if e.outgoing else STATUS_RECEIVED
            done: dict[str, Any] = {"statecode": STATE_COMPLETED, "statuscode": status}
            if "actualend" in e.columns:
                # Whether completing an email overwrites actualend is UNCONFIRMED: send it again.
                done["actualend"] = e.columns["actualend"]
            ops.append(Operation("PATCH", f"${cid}", done, content_id=str(self._content_id), tag=e))
        return ChangeSet(ops, tag=e)


def _first_seen(sources: dict[str, int], packed: bytes) -> str:
    """``messages.json record 3``: where the email packed in ``_seen_identities`` was read."""
    value = int.from_bytes(packed, "little")
    number, index = value >> 40, value & ((1 << 40) - 1)
    source = next(name for name, n in sources.items() if n == number)
    return str(RecordRef(source, index))
