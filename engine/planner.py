"""The planner: mapped payloads → Web API operations, in two phases, against what exists.

Phase 1 writes accounts (one per registrable company domain) and then contacts (one per
address, compared case-insensitively), each bound to its account. Phase 2 writes one email
activity per message, with its activity parties bound to the records they match and its
regarding link, in chunks so a huge export never sits in memory.

Before anything is created the planner asks, in this order: the state store (written before
with the same content → nothing to send), then the org (bulk ``In(...)`` lookups sent as GETs
inside ``$batch``). Creates carry deterministic primary keys (:func:`model.deterministic_id`),
so a create that is repeated — a retried batch after a dropped connection, a second sync
running at the same time — is refused by the service as a duplicate and counted as
"unchanged" instead of becoming a second row.

The planner never talks HTTP itself: it hands operations to an :class:`Executor`. The dry-run
executor records them (that is the preview) and the Web API executor sends them, so the
preview is by construction what a sync against an empty org sends.
"""

from __future__ import annotations

import gc
import logging
from contextlib import contextmanager
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from . import odata
from .config import RunConfig
from .errors import MappingError, RecordError
from .preflight import column_problems
from .model import MappedAccount, MappedContact, MappedEmail, RecordRef, RegardingTarget, Skip, deterministic_id
from .operations import ChangeSet, Operation, Result
from .report import Report
from .state import StateStore, Stored, covered

log = logging.getLogger("mail2dataverse.planner")

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
STATUS_SENT, STATUS_RECEIVED, STATE_COMPLETED = 3, 4, 1
EMAIL_CHUNK = 2000
ADDRESS_MAX = 320  # activityparty.addressused


class Executor(Protocol):
    """Runs operations: the dry-run recorder or the Web API client."""

    dry_run: bool

    def run(self, items: list[Operation | ChangeSet], *, phase: int) -> list[Result]:
        """Execute ``items`` (GETs outside change sets, writes, change sets); one result per operation."""

    def alternate_keys(self, table: str) -> set[tuple[str, ...]]:
        """The active alternate keys of ``table`` (each a tuple of column names)."""

    def follow(self, next_link: str) -> Iterator[dict[str, Any]]:
        """Rows of the pages after a first page that carried ``@odata.nextLink``."""


@dataclass
class _Planned:
    """A record on its way to the org: its key, payload, id and the input records behind it."""

    key: str
    columns: dict[str, Any]
    refs: list[RecordRef]
    id: str | None = None
    stored_columns: dict[str, Any] | None = None
    existing: dict[str, Any] | None = None
    outcome: str | None = None
    binds: dict[str, str] = field(default_factory=dict)


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
    ):
        self.mappings = mappings
        self.plugins = plugins
        self.config = config
        self.executor = executor
        self.state = state
        self.report = report
        self.full = full
        self.progress = progress
        self.owner_domains = {
            plugins.registrable_domain(a.rsplit("@", 1)[-1]) for a in config.owner_addresses if "@" in a
        }
        # party address (lower) → (table, id) | None, settled by phase 2's lookups in the
        # configured precedence
        self.address_book: dict[str, tuple[str, str] | None] = {}
        # address (lower) → contactid of this run's contacts (phase 1). Kept apart from
        # address_book: a system user with the same address must still win when the
        # precedence ranks system users first.
        self.run_contacts: dict[str, str] = {}
        self.account_ids: dict[str, str] = {}  # registrable domain → accountid
        self._content_id = 0
        self._regarding_cache: dict[RegardingTarget, str | None] = {}
        self._seen_identities: dict[str, str] = {}
        # address → (bind key, bind value), or () for an unresolved address; filled lazily from
        # address_book, which only ever gains entries for addresses not seen before.
        self._party_binds: dict[str, tuple[str, str] | tuple[()]] = {}

    # ------------------------------------------------------------------------------------
    # entry point
    # ------------------------------------------------------------------------------------

    def run(self, contacts: Iterable[tuple[RecordRef, Any]], messages: Iterable[tuple[RecordRef, Any]]) -> Report:
        """Sync ``contacts`` then ``messages``; returns the report (also kept on ``self.report``)."""
        self.preflight()
        with _relaxed_gc():
            self.phase_contacts(contacts)
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
        problems, warnings = column_problems(self.mappings, read)
        self.report.warnings.extend(warnings)
        if problems:
            raise MappingError(problems)

    # ------------------------------------------------------------------------------------
    # phase 1
    # ------------------------------------------------------------------------------------

    def phase_contacts(self, records: Iterable[tuple[RecordRef, Any]]) -> None:
        """Map, dedupe and write accounts then contacts."""
        contacts: dict[str, MappedContact] = {}
        for ref, record in records:
            self.report.inputs["contacts"] += 1
            mapped = self.mappings.map_contact(record, ref)
            if isinstance(mapped, Skip):
                self.report.skip("contact", str(ref), mapped.reason)
                continue
            key = mapped.emails[0]
            first = contacts.get(key)
            if first is not None:
                # The same person twice (address book + inbox source): keep one row, fill gaps.
                for col, value in mapped.columns.items():
                    first.columns.setdefault(col, value)
                self.report.skip("contact", str(ref), f"duplicate: same address as {first.ref}")
                continue
            contacts[key] = mapped

        accounts: dict[str, MappedAccount] = {}
        unmappable: set[str] = set()
        for c in contacts.values():
            if c.account is None or c.account.domain in self.owner_domains or c.account.domain in unmappable:
                continue  # freemail, no company, the mailbox owner's own company, or a bad account
            acc = accounts.get(c.account.domain)
            if acc is None:
                try:
                    acc = accounts[c.account.domain] = self.mappings.map_account(c.account)
                except RecordError as exc:
                    # The contact is still written, just without a link to that account.
                    unmappable.add(c.account.domain)
                    self.report.warnings.append(f"no account for {c.account.domain}: {exc}")
                    continue
            acc.refs.append(c.ref)
        self._write_accounts(accounts)
        self._write_contacts(contacts)
        if self.progress:
            self.progress(self.report)

    def _write_accounts(self, accounts: dict[str, MappedAccount]) -> None:
        planned = [_Planned(d, a.columns, a.refs) for d, a in accounts.items()]
        stored = self._still_in_org("account", self.state.get_many("account", [p.key for p in planned]))
        to_lookup = [p for p in planned if p.key not in stored]
        found = self._lookup_accounts_by_domain([p.key for p in to_lookup])
        for p in planned:
            if p.key in stored:
                p.id, p.stored_columns = stored[p.key].dataverse_id, stored[p.key].columns
            elif p.key in found:
                # An account someone else made: link to it, never rename it.
                p.id, p.outcome = found[p.key], "unchanged"
                self._remember("account", p.key, p.id, p.columns, p.refs[0])
            else:
                p.id = deterministic_id("account", p.key)
            self.account_ids[p.key] = p.id
        self._write_table("account", planned, alt_key=None)
        for p in planned:
            if p.outcome == "failed":
                # Binding contacts to an account that was never created would fail them too
                # (and every email party bound to them): they are written unlinked instead.
                del self.account_ids[p.key]
                self.report.warnings.append(f"account {p.key} was not written; its contacts are not linked to it")

    def _write_contacts(self, contacts: dict[str, MappedContact]) -> None:
        planned: list[_Planned] = []
        for key, c in contacts.items():
            p = _Planned(key, dict(c.columns), [c.ref])
            if c.account is not None and c.account.domain in self.account_ids and c.account_nav:
                p.binds[f"{c.account_nav}@odata.bind"] = f"/accounts({self.account_ids[c.account.domain]})"
            planned.append(p)
        stored = self._still_in_org("contact", self.state.get_many("contact", [p.key for p in planned]))
        alt = ("emailaddress1",) in self.executor.alternate_keys("contact")
        to_lookup = [p for p in planned if p.key not in stored]
        found = self._lookup_rows("contact", ADDRESS_COLUMNS, [p.key for p in to_lookup], extra=self._contact_select(planned))
        for p in planned:
            if p.key in stored:
                p.id, p.stored_columns = stored[p.key].dataverse_id, stored[p.key].columns
            elif p.key in found:
                row = found[p.key]
                p.id = row["contactid"]
                p.existing = row
            else:
                p.id = deterministic_id("contact", p.key)
        self._write_table("contact", planned, alt_key="emailaddress1" if alt else None)
        for p in planned:
            if p.outcome == "failed" or not p.id:
                continue  # binding a party to a row that does not exist would fail the email too
            for address in contacts[p.key].emails:
                self.run_contacts.setdefault(address, p.id)

    def _contact_select(self, planned: list[_Planned]) -> list[str]:
        """The columns to read back from existing contacts: what the mapping writes, binds included."""
        cols: set[str] = set()
        for p in planned:
            cols.update(c for c in p.columns if "@" not in c)
            cols.update(_lookup_value_column(b[: -len("@odata.bind")]) for b in p.binds)
        return sorted(cols)

    def _write_table(self, table: str, planned: list[_Planned], *, alt_key: str | None) -> None:
        """Decide create / update / unchanged per record and send bulk operations."""
        entity_set, pk = TABLES[table]
        creates: list[_Planned] = []
        updates: list[tuple[_Planned, dict[str, Any]]] = []
        for p in planned:
            full = {**p.columns, **p.binds}
            if p.outcome == "unchanged":
                continue
            if p.stored_columns is not None:
                changed = {k: v for k, v in full.items() if p.stored_columns.get(k) != v}
            elif p.existing is not None:
                changed = {k: v for k, v in full.items() if not _same_as_org(k, v, p.existing)}
            else:
                creates.append(p)
                continue
            if changed:
                updates.append((p, changed))
            else:
                p.outcome = "unchanged"
                if p.stored_columns is None:
                    self._remember(table, p.key, p.id, full, p.refs[0])

        ops: list[Operation] = []
        size = self.config.batch_size
        odata_type = f"Microsoft.Dynamics.CRM.{table}"
        keyed: list[_Planned] = []
        by_id: list[_Planned] = []
        for p in creates:
            # A value with + / % ... cannot stand in a key segment: that record goes by id.
            (keyed if alt_key and odata.key_segment_ok(p.columns.get(alt_key, p.key)) else by_id).append(p)
        for chunk in _chunks(by_id, size):
            targets = [{"@odata.type": odata_type, pk: p.id, **p.columns, **p.binds} for p in chunk]
            ops.append(Operation("POST", f"{entity_set}/Microsoft.Dynamics.CRM.CreateMultiple", {"Targets": targets}, tag=("create", table, chunk)))
        for chunk in _chunks(keyed, size):
            targets = []
            for p in chunk:
                value = p.columns.get(alt_key, p.key)
                body = {k: v for k, v in p.columns.items() if k != alt_key}  # key not repeated in the body
                targets.append({"@odata.type": odata_type, "@odata.id": odata.key_path(entity_set, alt_key, value), **body, **p.binds})
            ops.append(Operation("POST", f"{entity_set}/Microsoft.Dynamics.CRM.UpsertMultiple", {"Targets": targets}, tag=("upsert", table, chunk)))
        for chunk in _chunks(updates, size):
            targets = [{"@odata.type": odata_type, pk: p.id, **changed} for p, changed in chunk]
            ops.append(Operation("POST", f"{entity_set}/Microsoft.Dynamics.CRM.UpdateMultiple", {"Targets": targets}, tag=("update", table, chunk)))

        results = self.executor.run(ops, phase=1) if ops else []
        retry: list[Operation] = []
        upserted: list[_Planned] = []
        for res in results:
            kind, _, chunk = res.operation.tag
            if res.ok:
                for item in chunk:
                    if kind == "upsert":
                        upserted.append(item)
                        continue
                    p, changed = item if kind == "update" else (item, None)
                    self._settle(table, p, "updated" if kind == "update" else "created")
                continue
            # Bulk messages are all-or-nothing: one bad record fails the request. Send that
            # chunk again one record per operation so only the bad record fails.
            log.info("%s %s failed (%s %s); retrying its %d records one by one", kind, table, res.error_code, res.error_message, len(chunk))
            for item in chunk:
                retry.append(self._single_write(table, kind, item, alt_key))
        raced: list[_Planned] = []
        if retry:
            for res in self.executor.run(retry, phase=1):
                kind, _, item = res.operation.tag
                p = item[0] if kind == "update" else item
                if res.ok and kind == "upsert":
                    upserted.append(p)
                elif res.ok:
                    self._settle(table, p, "updated" if kind == "update" else "created")
                elif kind == "create" and res.error_code in DUPLICATE_CODES and table == "contact":
                    # Made by a concurrent run (or by our own create whose answer was lost): the
                    # row holds the winner's columns, not necessarily ours; compare below.
                    raced.append(p)
                elif kind == "create" and res.error_code in DUPLICATE_CODES:
                    self._settle(table, p, "unchanged")  # an account is linked to, never renamed
                else:
                    p.outcome = "failed"
                    for ref in p.refs if table == "contact" else []:
                        self.report.fail(table, str(ref), res.error_code, res.error_message, res.status)
                    if table == "account":
                        self.report.fail(table, f"account {p.key}", res.error_code, res.error_message, res.status)
        if upserted:
            # UpsertMultiple answers 204 without ids; one bulk lookup learns the ids the
            # service gave, which party bindings and later updates need.
            rows = self._lookup_rows(table, alt_key, [p.columns.get(alt_key, p.key) for p in upserted])
            for p in upserted:
                row = rows.get(str(p.columns.get(alt_key, p.key)).lower())
                if row is not None:
                    p.id = row[pk]
                self._settle(table, p, "created")
        settled_again = self._settle_raced(table, raced, alt_key) if raced else set()
        for p in planned:
            if p.outcome in ("unchanged",) and id(p) not in settled_again:
                self.report.count(table, "unchanged")
        self.state.commit()

    def _settle_raced(self, table: str, raced: list[_Planned], alt_key: str | None) -> set[int]:
        """Contacts whose create lost to a row with the same key: read that row and update the
        columns that differ, exactly as if the lookup had found it. Recording our columns as
        written instead would make every later run skip them, so they would never reach the org.

        :returns: ``id()`` of the records counted here (the caller must not count them again).
        """
        rows = self._lookup_rows(table, ADDRESS_COLUMNS, [p.key for p in raced], extra=self._contact_select(raced))
        again: list[_Planned] = []
        for p in raced:
            row = rows.get(p.key)
            if row is None:
                # Refused as a duplicate yet not found: record nothing, the next run looks again.
                p.outcome = "unchanged"
                continue
            p.id, p.existing, p.stored_columns, p.outcome = row[TABLES[table][1]], row, None, None
            again.append(p)
        if again:
            self._write_table(table, again, alt_key=alt_key)  # only updates: these rows exist
        return {id(p) for p in again}

    def _single_write(self, table: str, kind: str, item: Any, alt_key: str | None) -> Operation:
        entity_set, pk = TABLES[table]
        if kind == "update":
            p, changed = item
            return Operation("PATCH", f"{entity_set}({p.id})", dict(changed), {"If-Match": "*"}, tag=(kind, table, item))
        p = item
        if kind == "upsert":
            value = p.columns.get(alt_key, p.key)
            body = {k: v for k, v in p.columns.items() if k != alt_key}
            return Operation("PATCH", odata.key_path(entity_set, alt_key, value), {**body, **p.binds}, tag=(kind, table, item))
        return Operation("POST", entity_set, {pk: p.id, **p.columns, **p.binds}, tag=(kind, table, item))

    def _settle(self, table: str, p: _Planned, outcome: str) -> None:
        p.outcome = outcome
        if outcome != "unchanged":
            self.report.count(table, outcome)
        self._remember(table, p.key, p.id, {**p.columns, **p.binds}, p.refs[0])

    def _remember(self, table: str, key: str, dataverse_id: str | None, columns: dict[str, Any], ref: RecordRef) -> None:
        """Record a write in the state store; a dry run writes nothing, so it remembers nothing."""
        if not self.executor.dry_run:
            self.state.put(table, key, dataverse_id, columns, str(ref))

    # ------------------------------------------------------------------------------------
    # lookups
    # ------------------------------------------------------------------------------------

    def _lookup_rows(
        self, table: str, column: str | tuple[str, ...], values: list[str], *, extra: Iterable[str] = ()
    ) -> dict[str, dict[str, Any]]:
        """Rows of ``table`` whose ``column`` (or one of several) is one of ``values``, keyed by
        the lower-cased value."""
        return self._lookup_many([(table, column, values, tuple(extra))])[0]

    def _lookup_many(self, specs: list[tuple[str, str | tuple[str, ...], list[str], tuple[str, ...]]]) -> list[dict[str, dict[str, Any]]]:
        """Several bulk lookups sent together (one ``$batch`` of GETs when there are many).

        A spec with several columns matches a value in any of them; a row matching on an earlier
        column wins over one matching on a later column. Among rows matching on the same column
        the oldest wins (``$orderby=createdon``), so an org holding the same address twice gets
        the same answer on every run instead of whichever row the service returns first.
        """
        out: list[dict[str, dict[str, Any]]] = [{} for _ in specs]
        if self.executor.dry_run:
            return out  # the preview assumes an empty org; the GETs would find nothing
        ops: list[Operation] = []
        columns_of: list[tuple[str, ...]] = []
        for i, (table, column, values, extra) in enumerate(specs):
            entity_set, pk = TABLES[table]
            columns = (column,) if isinstance(column, str) else tuple(column)
            columns_of.append(columns)
            select = list(dict.fromkeys([pk, *columns, *extra]))
            uniq = list(dict.fromkeys(v for v in values if v))
            # The URL grows with every column the values are tested against.
            size = max(1, self.config.lookup_chunk // len(columns))
            for chunk in _chunks(uniq, size):
                filt = " or ".join(odata.in_filter(c, chunk) for c in columns)
                ops.append(Operation("GET", odata.query(entity_set, select=select, filter=filt, orderby="createdon asc"), tag=i))
        if not ops:
            return out
        rows_of: list[list[dict[str, Any]]] = [[] for _ in specs]
        for res in self.executor.run(ops, phase=0):
            i = res.operation.tag
            if not res.ok:
                # A failed lookup must not turn into creates that duplicate existing rows.
                raise LookupFailed(f"lookup of {specs[i][0]} failed: HTTP {res.status} {res.error_code or ''} {res.error_message or ''}".strip())
            rows_of[i].extend((res.body or {}).get("value", []))
            link = (res.body or {}).get("@odata.nextLink")
            if link:
                rows_of[i].extend(self.executor.follow(link))
        for i, rows in enumerate(rows_of):
            wanted = {str(v).lower() for v in specs[i][2] if v}
            for column in columns_of[i]:
                for row in rows:
                    value = row.get(column)
                    if isinstance(value, str) and value.lower() in wanted:
                        out[i].setdefault(value.lower(), row)
        return out

    def _still_in_org(self, table: str, stored: dict[str, Stored]) -> dict[str, Stored]:
        """The stored records whose row is still in the org (one bulk lookup by id).

        The state store is a cache: a CRM user may delete a contact or account this tool
        wrote. Trusting the cache would leave it missing for good and fail every email whose
        party binds to it; a record that is gone is treated as new instead (looked up by its
        address or domain, else created again).
        """
        ids = [s.dataverse_id for s in stored.values() if s.dataverse_id]
        if self.executor.dry_run or not ids:
            return stored
        rows = self._lookup_rows(table, TABLES[table][1], ids)
        kept = {k: s for k, s in stored.items() if s.dataverse_id and s.dataverse_id.lower() in rows}
        if len(kept) < len(stored):
            log.info("%d %s record(s) in the state file are no longer in the org; looking them up again",
                     len(stored) - len(kept), table)
        return kept

    def _lookup_accounts_by_domain(self, domains: list[str]) -> dict[str, str]:
        """domain → accountid of an existing account whose website is that domain."""
        variants: dict[str, str] = {}
        for d in domains:
            # The forms people type into an account's website: with or without scheme, www.
            # and a trailing slash (the service compares case-insensitively).
            for scheme in ("https://", "http://", ""):
                for host in (d, f"www.{d}"):
                    for end in ("", "/"):
                        variants[f"{scheme}{host}{end}"] = d
        rows = self._lookup_rows("account", "websiteurl", list(variants), extra=("createdon",))
        found: dict[str, str] = {}
        for value, row in sorted(rows.items(), key=lambda kv: str(kv[1].get("createdon", ""))):
            found.setdefault(variants.get(value, value), row["accountid"])
        return found

    # ------------------------------------------------------------------------------------
    # phase 2
    # ------------------------------------------------------------------------------------

    def phase_emails(self, records: Iterable[tuple[RecordRef, Any]]) -> None:
        """Map and write messages in chunks; extend each mailbox's coverage when done.

        A mailbox's coverage is the set of date ranges in which every message is known to be in
        the org. A message dated inside it is counted unchanged without being written. It rests
        on what the Nylas CLI guarantees of an export (newest first, every message from the
        oldest one exported up to the newest), which holds for ``--all`` and ``--limit N`` alike:
        so a first run with ``--limit`` and a later complete export still writes the older mail.
        """
        marks: dict[str, _Coverage] = {}
        chunk: list[MappedEmail] = []
        for ref, record in records:
            self.report.inputs["messages"] += 1
            mapped = self.mappings.map_message(record, ref)
            if isinstance(mapped, Skip):
                self.report.skip("email", str(ref), mapped.reason)
                continue
            mailbox = mapped.mailbox or ref.source
            mark = marks.get(mailbox)
            if mark is None:
                mark = marks[mailbox] = _Coverage([] if self.full else self.state.coverage(mailbox))
            mark.seen(mapped.date)
            if mapped.date and mark.previous and covered(mark.previous, mapped.date):
                self.report.count("email", "unchanged")
                self.report.incremental_skipped += 1
                continue
            first = self._seen_identities.get(mapped.identity)
            if first is not None:
                self.report.skip("email", str(ref), f"duplicate: same message as {first}")
                continue
            self._seen_identities[mapped.identity] = str(ref)
            chunk.append(mapped)
            if len(chunk) >= EMAIL_CHUNK:
                self._write_emails(chunk, marks)
                chunk = []
        if chunk:
            self._write_emails(chunk, marks)
        resolved: dict[str, int] = {}
        for hit in self.address_book.values():
            key = hit[0] if hit else "unresolved"
            resolved[key] = resolved.get(key, 0) + 1
        self.report.addresses = dict(sorted(resolved.items()))
        if not self.executor.dry_run:
            for mailbox, mark in marks.items():
                self.state.add_coverage(mailbox, mark.ranges())
            self.state.commit()

    def _write_emails(self, emails: list[MappedEmail], marks: dict[str, _Coverage]) -> None:
        # A message first synced without headers (its identity derived from the Nylas id) and
        # later with them (identity = Message-ID) is the same email: its aliases are looked up too.
        keys = [k for e in emails for k in (e.identity, *e.aliases)]
        stored = self.state.get_many("email", keys)
        todo = []
        for e in emails:
            if e.identity in stored or any(a in stored for a in e.aliases):
                self.report.count("email", "unchanged")
            else:
                todo.append(e)

        # Round 1: existing emails, party addresses and regarding targets, in one go.
        addresses = sorted({p.address for e in todo for p in e.parties if p.address not in self.address_book})
        tables = [t for t in self.config.party_precedence if t in PARTY_ADDRESS_COLUMN]
        specs: list[tuple[str, str, list[str], tuple[str, ...]]] = [
            ("email", "messageid", [k for e in todo for k in (e.identity, *e.aliases)], ())
        ]
        # This run's contacts are bound without a lookup unless a table ranked before
        # "contact" holds the same address (a system user, in the default precedence).
        before_contact = set(tables[: tables.index("contact")]) if "contact" in tables else set(tables)
        specs += [(t, PARTY_ADDRESS_COLUMN[t], [a for a in addresses if t in before_contact or a not in self.run_contacts], ())
                  for t in tables]
        targets = {e.regarding for e in todo if e.regarding is not None and e.regarding not in self._regarding_cache}
        target_specs = self._regarding_specs(targets)
        specs += [s for s, _ in target_specs]
        found = self._lookup_many(specs)
        existing = found[0]
        for address in addresses:
            hit = None
            for t, rows in zip(tables, found[1 : 1 + len(tables)]):
                if t == "contact" and address in self.run_contacts:
                    hit = ("contact", self.run_contacts[address])
                    break
                row = rows.get(address)
                if row is not None:
                    hit = (t, row[TABLES[t][1]])
                    break
            self.address_book[address] = hit
        self._settle_regarding(targets, target_specs, found[1 + len(tables) :])

        items: list[ChangeSet] = []
        for e in todo:
            row = next((existing[k.lower()] for k in (e.identity, *e.aliases) if k.lower() in existing), None)
            if row is not None:
                # Already in the org (another mailbox, a lost state file, server-side sync).
                self.report.count("email", "unchanged")
                self._remember("email", e.identity, row["activityid"], {"messageid": e.identity}, e.ref)
                continue
            items.append(self._email_changeset(e))
        if not items:
            self.state.commit()
            return
        results = self.executor.run(items, phase=2)
        by_email: dict[int, list[Result]] = {}
        for res in results:
            by_email.setdefault(id(res.operation.tag), []).append(res)
        for cs in items:
            e = cs.tag
            rs = by_email.get(id(e), [])
            create = rs[0] if rs else None
            mark = marks[e.mailbox or e.ref.source]
            if rs and all(r.ok for r in rs):
                self.report.count("email", "created")
                self._remember("email", e.identity, create.operation.body["activityid"], {"messageid": e.identity}, e.ref)
            elif create is not None and create.error_code in DUPLICATE_CODES:
                # Created by a concurrent run, or by this one before a lost response.
                self.report.count("email", "unchanged")
                self._remember("email", e.identity, create.operation.body["activityid"], {"messageid": e.identity}, e.ref)
            else:
                bad = next((r for r in rs if not r.ok and not r.rolled_back), create)
                self.report.fail("email", str(e.ref), bad.error_code if bad else None,
                                 bad.error_message if bad else "no result", bad.status if bad else 0)
                mark.failed(e.date)
        self.state.commit()
        e = self.report.entities["email"]
        log.info("emails: %d created, %d unchanged, %d skipped, %d failed of %d read",
                 e.created, e.unchanged, e.skipped, e.failed, self.report.inputs["messages"])
        if self.progress:
            self.progress(self.report)

    def _email_changeset(self, e: MappedEmail) -> ChangeSet:
        # Runs once per email: the per-address bind strings are built once per address.
        body: dict[str, Any] = {"activityid": deterministic_id("email", e.identity), **e.columns}
        parties = []
        seen: set[tuple[int, str]] = set()
        binds = self._party_binds
        has_sender = False
        for party in e.parties:
            address = party.address
            key = (party.mask, address)
            if key in seen:
                continue
            if len(address) > ADDRESS_MAX:
                # Longer than any real address (RFC 5321: 254) and than addressused can hold:
                # the email lands without this party rather than failing whole.
                self.report.warnings.append(f"{e.ref}: party dropped, address longer than {ADDRESS_MAX} characters")
                continue
            if party.mask == 1:
                # RFC 5322 allows several From mailboxes; an email row has exactly one sender,
                # so the first one is it (the service refuses a second sender party).
                if has_sender:
                    continue
                has_sender = True
            seen.add(key)
            bind = binds.get(address)
            if bind is None:
                hit = self.address_book.get(address)
                bind = binds[address] = (f"partyid_{hit[0]}@odata.bind", f"/{TABLES[hit[0]][0]}({hit[1]})") if hit else ()
            if bind:
                parties.append({"participationtypemask": party.mask, bind[0]: bind[1], "addressused": address})
            else:
                parties.append({"participationtypemask": party.mask, "addressused": address})
        body["email_activity_parties"] = parties
        if e.regarding is not None:
            rid = self._regarding_cache.get(e.regarding)
            if rid:
                body[f"regardingobjectid_{e.regarding.table}_email@odata.bind"] = f"/{TABLES[e.regarding.table][0]}({rid})"
            elif self.executor.dry_run:
                # The preview cannot look the target up; it shows what the sync will resolve.
                body[f"regardingobjectid_{e.regarding.table}_email@odata.bind"] = f"<{e.regarding.describe()}>"
            else:
                self.report.note_unlinked(str(e.ref), e.regarding.describe(), "not found in the org")
        self._content_id += 1
        cid = str(self._content_id)
        ops = [Operation("POST", "emails", body, content_id=cid, tag=e)]
        if self.config.create_completed:
            self._content_id += 1
            status = STATUS_SENT if e.outgoing else STATUS_RECEIVED
            ops.append(Operation("PATCH", f"${cid}", {"statecode": STATE_COMPLETED, "statuscode": status},
                                 content_id=str(self._content_id), tag=e))
        return ChangeSet(ops, tag=e)

    # ------------------------------------------------------------------------------------
    # regarding
    # ------------------------------------------------------------------------------------

    def _regarding_specs(self, targets: set[RegardingTarget]):
        """Lookup specs for regarding targets, each with the targets it answers."""
        out = []
        by_kind: dict[tuple[str, str, str | None], list[RegardingTarget]] = {}
        for t in targets:
            if t.table not in TABLES:
                self._regarding_cache[t] = None
                continue
            by_kind.setdefault((t.table, t.by, t.column), []).append(t)
        for (table, by, column), ts in sorted(by_kind.items(), key=lambda kv: str(kv[0])):
            if by == "id":
                out.append(((table, TABLES[table][1], [t.value for t in ts], ()), ts))
            elif by == "column" and column:
                out.append(((table, column, [t.value for t in ts], ()), ts))
            elif by == "account_newest_open":
                # Resolved in a second round once the accounts are known.
                out.append((("account", "websiteurl", [], ()), ts))
            else:
                for t in ts:
                    self._regarding_cache[t] = None
        return out

    def _settle_regarding(self, targets, target_specs, results) -> None:
        newest: list[RegardingTarget] = []
        for (spec, ts), rows in zip(target_specs, results):
            table = spec[0]
            for t in ts:
                if t.by == "account_newest_open":
                    newest.append(t)
                    continue
                row = rows.get(t.value.lower())
                self._regarding_cache[t] = row[TABLES[t.table][1]] if row else None
        if not newest:
            return
        domains = sorted({t.value for t in newest})
        unknown = [d for d in domains if d not in self.account_ids]
        if unknown and not self.executor.dry_run:
            self.account_ids.update(self._lookup_accounts_by_domain(unknown))
        by_table: dict[str, list[RegardingTarget]] = {}
        for t in newest:
            by_table.setdefault(t.table, []).append(t)
        for table, ts in by_table.items():
            account_ids = sorted({self.account_ids[t.value] for t in ts if t.value in self.account_ids})
            newest_by_account: dict[str, str] = {}
            if account_ids and not self.executor.dry_run:
                entity_set, pk = TABLES[table]
                ops = [
                    Operation("GET", odata.query(entity_set, select=[pk, "_parentaccountid_value", "createdon"],
                                                 filter=f"{odata.in_filter('parentaccountid', chunk)} and statecode eq 0",
                                                 orderby="createdon desc"))
                    for chunk in _chunks(account_ids, self.config.lookup_chunk)
                ]
                for res in self.executor.run(ops, phase=0):
                    if not res.ok:
                        raise LookupFailed(f"lookup of {table} failed: HTTP {res.status} {res.error_code or ''} {res.error_message or ''}")
                    rows = list((res.body or {}).get("value", []))
                    link = (res.body or {}).get("@odata.nextLink")
                    if link:  # an account's newest may sit on a later page behind busier accounts
                        rows.extend(self.executor.follow(link))
                    for row in rows:
                        newest_by_account.setdefault(str(row.get("_parentaccountid_value")), row[pk])
            for t in ts:
                acc = self.account_ids.get(t.value)
                self._regarding_cache[t] = newest_by_account.get(acc) if acc else None


class LookupFailed(Exception):
    """A bulk lookup failed; writing anyway could duplicate records, so the run stops."""


class _Coverage:
    """What one run learns about a mailbox's dates: the export's span, minus failed messages."""

    def __init__(self, previous: list[tuple[datetime, datetime]]):
        self.previous = previous
        self.oldest: datetime | None = None
        self.newest: datetime | None = None
        self.failures: list[datetime] = []

    def seen(self, date: datetime | None) -> None:
        """A message of the export, written or not: it widens the span the export covers."""
        if date is None:
            return
        if self.oldest is None or date < self.oldest:
            self.oldest = date
        if self.newest is None or date > self.newest:
            self.newest = date

    def failed(self, date: datetime | None) -> None:
        """A message that was not written: the next run must not consider its date covered."""
        if date is not None:
            self.failures.append(date)

    def ranges(self) -> list[tuple[datetime, datetime]]:
        """The spans of this run in which every message is now in the org."""
        if self.oldest is None or self.newest is None:
            return []
        if not self.failures:
            return [(self.oldest, self.newest)]
        tick = timedelta(microseconds=1)
        first, last = min(self.failures), max(self.failures)
        # Whatever lies between the first and last failure is looked at again next time.
        return [(self.oldest, first - tick), (last + tick, self.newest)]


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


def _same_as_org(column: str, value: Any, row: dict[str, Any]) -> bool:
    """Whether the org's ``row`` already holds ``value`` for ``column`` (a bind compares ids)."""
    if column.endswith("@odata.bind"):
        lookup = _lookup_value_column(column[: -len("@odata.bind")])
        wanted = value.rsplit("(", 1)[-1].rstrip(")")
        return str(row.get(lookup, "")).lower() == wanted.lower()
    current = row.get(column)
    if column in ADDRESS_COLUMNS and isinstance(value, str):
        # Addresses are matched case-insensitively: rewriting Zoe@X.com as zoe@x.com would be
        # an update for nothing, and would overwrite how the CRM user typed it. An address the
        # row already holds in another address column (the row may have been found by its
        # emailaddress2) is not copied again, and an address column a CRM user already filled
        # is not overwritten: only empty address columns are filled.
        held = [row.get(c) for c in ADDRESS_COLUMNS]
        if any(isinstance(h, str) and h.casefold() == value.casefold() for h in held):
            return True
        return isinstance(current, str) and current != ""
    return current == value


def _lookup_value_column(nav: str) -> str:
    """The column a read returns for a lookup bound through ``nav``.

    ``parentcustomerid_account`` (one target of a polymorphic lookup) reads back as
    ``_parentcustomerid_value``; a single-target navigation property ``parentaccountid`` as
    ``_parentaccountid_value``.
    """
    base = nav.rsplit("_", 1)[0] if nav.rsplit("_", 1)[-1] in TABLES else nav
    return f"_{base}_value"


def _chunks(items: list, size: int) -> Iterator[list]:
    for start in range(0, len(items), size):
        yield items[start : start + size]

