"""Phase 1: accounts, then contacts, each decided create / update / unchanged against the org.

Contacts are deduplicated by address (compared case-insensitively) and each company domain
becomes one account, so the contacts can be bound to it. For each table
:class:`TableWriter` asks the state store, then the org (:mod:`.lookups`), and sends the
remaining creates and updates as bulk ``CreateMultiple`` / ``UpsertMultiple`` /
``UpdateMultiple`` requests; a bulk request that fails is resent one record per operation so
only the bad record fails, and a create that loses a race to a concurrent run is settled by
reading the winner's row.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from .. import odata
from ..errors import RecordError
from ..model import MappedAccount, MappedContact, RecordRef, Skip, deterministic_id
from ..operations import BulkTag, Operation, Rows
from .context import ADDRESS_COLUMNS, DUPLICATE_CODES, TABLES, RunContext, chunks
from .lookups import OrgLookups

log = logging.getLogger("mail2dataverse.planner")


@dataclass
class Planned:
    """A record on its way to the org: its key, payload, id and the input records behind it."""

    key: str
    columns: dict[str, Any]
    refs: list[RecordRef]
    id: str | None = None
    stored_columns: dict[str, Any] | None = None
    existing: dict[str, Any] | None = None
    outcome: str | None = None
    binds: dict[str, str] = field(default_factory=dict)
    #: the columns an update sends (those that differ from the org or the state file)
    changed: dict[str, Any] | None = None


class ContactPhase:
    """Map, dedupe and write accounts then contacts; leaves their ids on the run context."""

    def __init__(self, ctx: RunContext, lookups: OrgLookups):
        self.ctx = ctx
        self.lookups = lookups
        self.writer = TableWriter(ctx, lookups)

    def run(self, records: Iterable[tuple[RecordRef, Any]]) -> None:
        """Map, dedupe and write accounts then contacts."""
        ctx, report = self.ctx, self.ctx.report
        contacts: dict[str, MappedContact] = {}
        for ref, record in records:
            report.inputs["contacts"] += 1
            mapped = ctx.mappings.map_contact(record, ref)
            if isinstance(mapped, Skip):
                report.skip("contact", str(ref), mapped.reason)
                continue
            for note in mapped.warnings:  # what the mapper left out of it, said once per record
                report.warnings.append(f"{ref}: {note}")
            key = mapped.emails[0]
            first = contacts.get(key)
            if first is not None:
                # The same person twice (address book + inbox source): keep one row, fill gaps.
                for col, value in mapped.columns.items():
                    first.columns.setdefault(col, value)
                report.skip("contact", str(ref), f"duplicate: same address as {first.ref}")
                continue
            contacts[key] = mapped

        accounts: dict[str, MappedAccount] = {}
        unmappable: set[str] = set()
        for c in contacts.values():
            if c.account is None or c.account.domain in ctx.owner_domains or c.account.domain in unmappable:
                continue  # freemail, no company, the mailbox owner's own company, or a bad account
            acc = accounts.get(c.account.domain)
            if acc is None:
                try:
                    acc = accounts[c.account.domain] = ctx.mappings.map_account(c.account)
                except RecordError as exc:
                    # The contact is still written, just without a link to that account.
                    unmappable.add(c.account.domain)
                    report.warnings.append(f"no account for {c.account.domain}: {exc}")
                    continue
            acc.refs.append(c.ref)
        planned_accounts = self._write_accounts(accounts)
        planned_contacts = self._write_contacts(contacts)
        if ctx.explain is not None:
            ctx.explain.accounts(planned_accounts)
            ctx.explain.contacts(planned_contacts, contacts)
        ctx.tick()

    def _write_accounts(self, accounts: dict[str, MappedAccount]) -> list[Planned]:
        ctx = self.ctx
        planned = [Planned(d, a.columns, a.refs) for d, a in accounts.items()]
        stored = self.lookups.still_in_org("account", ctx.state.get_many("account", [p.key for p in planned]))
        to_lookup = [p for p in planned if p.key not in stored]
        found = self.lookups.accounts_by_domain([p.key for p in to_lookup])
        for p in planned:
            if p.key in stored:
                p.id, p.stored_columns = stored[p.key].dataverse_id, stored[p.key].columns
            elif p.key in found:
                # An account someone else made: link to it, never rename it.
                p.id, p.outcome = found[p.key], "unchanged"
                ctx.remember("account", p.key, p.id, p.columns, p.refs[0])
            else:
                p.id = deterministic_id("account", p.key)
            ctx.account_ids[p.key] = p.id
        self.writer.write("account", planned, alt_key=None)
        for p in planned:
            if p.outcome == "failed":
                # Binding contacts to an account that was never created would fail them too
                # (and every email party bound to them): they are written unlinked instead.
                del ctx.account_ids[p.key]
                ctx.report.warnings.append(f"account {p.key} was not written; its contacts are not linked to it")
        return planned

    def _write_contacts(self, contacts: dict[str, MappedContact]) -> list[Planned]:
        ctx = self.ctx
        planned: list[Planned] = []
        for key, c in contacts.items():
            p = Planned(key, dict(c.columns), [c.ref])
            if c.account is not None and c.account.domain in ctx.account_ids and c.account_nav:
                p.binds[f"{c.account_nav}@odata.bind"] = f"/accounts({ctx.account_ids[c.account.domain]})"
            planned.append(p)
        stored = self.lookups.still_in_org("contact", ctx.state.get_many("contact", [p.key for p in planned]))
        alt = ("emailaddress1",) in ctx.executor.alternate_keys("contact")
        to_lookup = [p for p in planned if p.key not in stored]
        found = self.lookups.rows("contact", ADDRESS_COLUMNS, [p.key for p in to_lookup], extra=contact_select(planned))
        for p in planned:
            if p.key in stored:
                p.id, p.stored_columns = stored[p.key].dataverse_id, stored[p.key].columns
            elif p.key in found:
                row = found[p.key]
                p.id = row["contactid"]
                p.existing = row
            else:
                p.id = deterministic_id("contact", p.key)
        self.writer.write("contact", planned, alt_key="emailaddress1" if alt else None)
        names = ctx.resolution.run_names
        for p in planned:
            if p.outcome == "failed" or not p.id:
                continue  # binding a party to a row that does not exist would fail the email too
            name = contact_name(p)
            for address in contacts[p.key].emails:
                ctx.run_contacts.setdefault(address, p.id)
                if name:
                    names.setdefault(address, name)
        return planned


class TableWriter:
    """Decide create / update / unchanged per record of one table and send bulk operations."""

    def __init__(self, ctx: RunContext, lookups: OrgLookups):
        self.ctx = ctx
        self.lookups = lookups

    def write(self, table: str, planned: list[Planned], *, alt_key: str | None) -> None:
        """Write ``planned`` to ``table``; each record ends with an outcome, counted in the report."""
        ctx = self.ctx
        entity_set, pk = TABLES[table]
        creates: list[Planned] = []
        updates: list[tuple[Planned, dict[str, Any]]] = []
        for p in planned:
            full = {**p.columns, **p.binds}
            if p.outcome == "unchanged":
                continue
            if p.stored_columns is not None:
                changed = {k: v for k, v in full.items() if p.stored_columns.get(k) != v}
            elif p.existing is not None:
                changed = {k: v for k, v in full.items() if not same_as_org(k, v, p.existing)}
            else:
                creates.append(p)
                continue
            if changed:
                p.changed = changed
                updates.append((p, changed))
            else:
                p.outcome = "unchanged"
                if p.stored_columns is None:
                    ctx.remember(table, p.key, p.id, full, p.refs[0])

        ops: list[Operation] = []
        size = ctx.config.batch_size
        odata_type = f"Microsoft.Dynamics.CRM.{table}"
        keyed: list[Planned] = []
        by_id: list[Planned] = []
        for p in creates:
            # A value with + / % ... cannot stand in a key segment: that record goes by id.
            (keyed if alt_key and odata.key_segment_ok(p.columns.get(alt_key, p.key)) else by_id).append(p)
        for chunk in chunks(by_id, size):
            targets = [{"@odata.type": odata_type, pk: p.id, **p.columns, **p.binds} for p in chunk]
            # The ids are ours: the writer may split the message (BulkTag) and, when an answer
            # is lost, find out by these ids whether it landed (created Rows).
            ops.append(Operation("POST", f"{entity_set}/Microsoft.Dynamics.CRM.CreateMultiple", {"Targets": targets},
                                 tag=BulkTag("create", table, chunk), rows=Rows(entity_set, pk, tuple(p.id for p in chunk), True)))
        for chunk in chunks(keyed, size):
            targets = []
            for p in chunk:
                value = p.columns.get(alt_key, p.key)
                body = {k: v for k, v in p.columns.items() if k != alt_key}  # key not repeated in the body
                targets.append({"@odata.type": odata_type, "@odata.id": odata.key_path(entity_set, alt_key, value), **body, **p.binds})
            ops.append(Operation("POST", f"{entity_set}/Microsoft.Dynamics.CRM.UpsertMultiple", {"Targets": targets},
                                 tag=BulkTag("upsert", table, chunk),
                                 rows=Rows(entity_set, alt_key, tuple(str(p.columns.get(alt_key, p.key)) for p in chunk))))
        for chunk in chunks(updates, size):
            targets = [{"@odata.type": odata_type, pk: p.id, **changed} for p, changed in chunk]
            ops.append(Operation("POST", f"{entity_set}/Microsoft.Dynamics.CRM.UpdateMultiple", {"Targets": targets},
                                 tag=BulkTag("update", table, chunk), rows=Rows(entity_set, pk, tuple(p.id for p, _ in chunk))))

        results = ctx.run(ops, phase=1) if ops else []
        retry: list[Operation] = []
        upserted: list[Planned] = []
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
        raced: list[Planned] = []
        if retry:
            for res in ctx.run(retry, phase=1):
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
                        ctx.report.fail(table, str(ref), res.error_code, res.error_message, res.status)
                    if table == "account":
                        ctx.report.fail(table, f"account {p.key}", res.error_code, res.error_message, res.status)
        if upserted:
            # UpsertMultiple answers 204 without ids; one bulk lookup learns the ids the
            # service gave, which party bindings and later updates need.
            rows = self.lookups.rows(table, alt_key, [p.columns.get(alt_key, p.key) for p in upserted])
            for p in upserted:
                row = rows.get(str(p.columns.get(alt_key, p.key)).lower())
                if row is not None:
                    p.id = row[pk]
                self._settle(table, p, "created")
        settled_again = self._settle_raced(table, raced, alt_key) if raced else set()
        for p in planned:
            if p.outcome in ("unchanged",) and id(p) not in settled_again:
                ctx.report.count(table, "unchanged")
        ctx.state.commit()

    def _settle_raced(self, table: str, raced: list[Planned], alt_key: str | None) -> set[int]:
        """Contacts whose create lost to a row with the same key: read that row and update the
        columns that differ, exactly as if the lookup had found it. Recording our columns as
        written instead would make every later run skip them, so they would never reach the org.

        :returns: ``id()`` of the records counted here (the caller must not count them again).
        """
        rows = self.lookups.rows(table, ADDRESS_COLUMNS, [p.key for p in raced], extra=contact_select(raced))
        again: list[Planned] = []
        for p in raced:
            row = rows.get(p.key)
            if row is None:
                # Refused as a duplicate yet not found: record nothing, the next run looks again.
                p.outcome = "unchanged"
                continue
            p.id, p.existing, p.stored_columns, p.outcome = row[TABLES[table][1]], row, None, None
            again.append(p)
        if again:
            self.write(table, again, alt_key=alt_key)  # only updates: these rows exist
        return {id(p) for p in again}

    def _single_write(self, table: str, kind: str, item: Any, alt_key: str | None) -> Operation:
        entity_set, pk = TABLES[table]
        if kind == "update":
            p, changed = item
            return Operation("PATCH", f"{entity_set}({p.id})", dict(changed), {"If-Match": "*"}, tag=(kind, table, item),
                             rows=Rows(entity_set, pk, (p.id,)))
        p = item
        if kind == "upsert":
            value = p.columns.get(alt_key, p.key)
            body = {k: v for k, v in p.columns.items() if k != alt_key}
            return Operation("PATCH", odata.key_path(entity_set, alt_key, value), {**body, **p.binds}, tag=(kind, table, item),
                             rows=Rows(entity_set, alt_key, (str(value),)))
        return Operation("POST", entity_set, {pk: p.id, **p.columns, **p.binds}, tag=(kind, table, item),
                         rows=Rows(entity_set, pk, (p.id,), True))

    def _settle(self, table: str, p: Planned, outcome: str) -> None:
        p.outcome = outcome
        if outcome != "unchanged":
            self.ctx.report.count(table, outcome)
        self.ctx.remember(table, p.key, p.id, {**p.columns, **p.binds}, p.refs[0])


def contact_name(p: Planned) -> str | None:
    """How a CRM user recognises a contact: the org's full name, else the mapped names."""
    if p.existing and p.existing.get("fullname"):
        return str(p.existing["fullname"])
    c = p.columns
    return " ".join(str(c[k]) for k in ("firstname", "lastname") if c.get(k)) or c.get("fullname") or None


def contact_select(planned: list[Planned]) -> list[str]:
    """The columns to read back from existing contacts: what the mapping writes, binds included,
    and the full name (the resolution report names the contact an address resolves to)."""
    cols: set[str] = {"fullname"}
    for p in planned:
        cols.update(c for c in p.columns if "@" not in c)
        cols.update(lookup_value_column(b[: -len("@odata.bind")]) for b in p.binds)
    return sorted(cols)


def same_as_org(column: str, value: Any, row: dict[str, Any]) -> bool:
    """Whether the org's ``row`` already holds ``value`` for ``column`` (a bind compares ids)."""
    if column.endswith("@odata.bind"):
        lookup = lookup_value_column(column[: -len("@odata.bind")])
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


def lookup_value_column(nav: str) -> str:
    """The column a read returns for a lookup bound through ``nav``.

    ``parentcustomerid_account`` (one target of a polymorphic lookup) reads back as
    ``_parentcustomerid_value``; a single-target navigation property ``parentaccountid`` as
    ``_parentaccountid_value``.
    """
    base = nav.rsplit("_", 1)[0] if nav.rsplit("_", 1)[-1] in TABLES else nav
    return f"_{base}_value"
