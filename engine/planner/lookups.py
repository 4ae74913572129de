"""Bulk lookups against the org: what already exists, asked before anything is created.

Every question goes out as ``In(...)`` filters of at most ``lookup_chunk`` values, sent as GETs
(the executor packs many into one ``$batch``), and every answer follows ``@odata.nextLink`` to
the last page. A failed lookup raises :class:`~.context.LookupFailed`: writing without the
answer could duplicate rows. A dry run has no org and finds nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Any

from .. import odata
from ..lookup import like_filter
from ..model import RegardingTarget
from ..operations import Operation, Result
from ..resolution import NAME_COLUMN
from ..state import Stored
from .context import TABLES, LookupFailed, RunContext, Finished, chunks, submit

log = logging.getLogger("mail2dataverse.planner")

#: (table, column or columns to match, values, extra columns to read)
Spec = tuple[str, str | tuple[str, ...], list[str], tuple[str, ...]]


class OrgLookups:
    """The planner's read side: rows by column value, stored ids still present, accounts by domain."""

    def __init__(self, ctx: RunContext):
        self.ctx = ctx

    def rows(
        self, table: str, column: str | tuple[str, ...], values: list[str], *, extra: Iterable[str] = ()
    ) -> dict[str, dict[str, Any]]:
        """Rows of ``table`` whose ``column`` (or one of several) is one of ``values``, keyed by
        the lower-cased value."""
        return self.many([(table, column, values, tuple(extra))])[0]

    def many(self, specs: list[Spec]) -> list[dict[str, dict[str, Any]]]:
        """Several bulk lookups sent together (one ``$batch`` of GETs when there are many).

        A spec with several columns matches a value in any of them; a row matching on an earlier
        column wins over one matching on a later column. Among rows matching on the same column
        the oldest wins (``$orderby=createdon``), so an org holding the same address twice gets
        the same answer on every run instead of whichever row the service returns first.
        """
        return self.start(specs, wait=self.ctx.run).result()

    def start(self, specs: list[Spec], *, wait: Callable[..., list[Result]] | None = None) -> PendingLookups:
        """The lookups of :meth:`many`, handed to the executor without waiting for them.

        The caller polls :meth:`PendingLookups.done` and takes :meth:`PendingLookups.result`
        (the answers :meth:`many` gives) once it is: phase 2's first pass runs while phase 1
        waits, and must not hold phase 1 up while the org answers its own questions.

        :param wait: ``(items, phase=) → results`` to run them with instead, at once (``many``).
        """
        ops: list[Operation] = []
        columns_of: list[tuple[str, ...]] = []
        if not self.ctx.executor.dry_run:  # the preview assumes an empty org: the GETs would find nothing
            for i, (table, column, values, extra) in enumerate(specs):
                entity_set, pk = TABLES[table]
                columns = (column,) if isinstance(column, str) else tuple(column)
                columns_of.append(columns)
                select = list(dict.fromkeys([pk, *columns, *extra]))
                uniq = list(dict.fromkeys(v for v in values if v))
                # The URL grows with every column the values are tested against.
                size = max(1, self.ctx.config.lookup_chunk // len(columns))
                for chunk in chunks(uniq, size):
                    filt = " or ".join(odata.in_filter(c, chunk) for c in columns)
                    ops.append(Operation("GET", odata.query(entity_set, select=select, filter=filt, orderby="createdon asc"), tag=i))
        if not ops:
            job: Any = Finished([])
        elif wait is not None:
            job = Finished(wait(ops, phase=0))
        else:
            job = submit(self.ctx.executor, ops, phase=0)
        return PendingLookups(self.ctx, specs, columns_of, job)

    def still_in_org(self, table: str, stored: dict[str, Stored]) -> dict[str, Stored]:
        """The stored records whose row is still in the org (one bulk lookup by id).

        The state store is a cache: a CRM user may delete a contact or account this tool
        wrote. Trusting the cache would leave it missing for good and fail every email whose
        party binds to it; a record that is gone is treated as new instead (looked up by its
        address or domain, else created again).
        """
        ids = [s.dataverse_id for s in stored.values() if s.dataverse_id]
        if self.ctx.executor.dry_run or not ids:
            return stored
        rows = self.rows(table, TABLES[table][1], ids)
        kept = {k: s for k, s in stored.items() if s.dataverse_id and s.dataverse_id.lower() in rows}
        if len(kept) < len(stored):
            log.info("%d %s record(s) in the state file are no longer in the org; looking them up again",
                     len(stored) - len(kept), table)
        return kept

    def accounts_by_domain(self, domains: list[str]) -> dict[str, str]:
        """domain → accountid of an existing account whose website is that domain."""
        variants: dict[str, str] = {}
        for d in domains:
            # The forms people type into an account's website: with or without scheme, www.
            # and a trailing slash (the service compares case-insensitively).
            for scheme in ("https://", "http://", ""):
                for host in (d, f"www.{d}"):
                    for end in ("", "/"):
                        variants[f"{scheme}{host}{end}"] = d
        rows = self.rows("account", "websiteurl", list(variants), extra=("createdon",))
        found: dict[str, str] = {}
        for value, row in sorted(rows.items(), key=lambda kv: str(kv[1].get("createdon", ""))):
            found.setdefault(variants.get(value, value), row["accountid"])
        return found

    def newest_open_by_account(self, table: str, account_ids: list[str]) -> dict[str, str]:
        """accountid → id of the newest open ``table`` row (an opportunity, a case) of that account."""
        newest: dict[str, str] = {}
        if not account_ids or self.ctx.executor.dry_run:
            return newest
        entity_set, pk = TABLES[table]
        name = NAME_COLUMN.get(table)
        ops = [
            Operation("GET", odata.query(entity_set, select=[pk, "_parentaccountid_value", "createdon", *([name] if name else [])],
                                         filter=f"{odata.in_filter('parentaccountid', chunk)} and statecode eq 0",
                                         orderby="createdon desc"))
            for chunk in chunks(account_ids, self.ctx.config.lookup_chunk)
        ]
        for res in self.ctx.run(ops, phase=0):
            if not res.ok:
                raise LookupFailed(f"lookup of {table} failed: HTTP {res.status} {res.error_code or ''} {res.error_message or ''}")
            rows = list((res.body or {}).get("value", []))
            link = (res.body or {}).get("@odata.nextLink")
            if link:  # an account's newest may sit on a later page behind busier accounts
                rows.extend(self.ctx.executor.follow(link))
            for row in rows:
                if newest.setdefault(str(row.get("_parentaccountid_value")), row[pk]) == row[pk] and name:
                    self.ctx.resolution.target_names[(table, row[pk])] = row.get(name)
        return newest

    def like(self, targets: list[RegardingTarget]) -> dict[RegardingTarget, list[str]]:
        """target → ids of the (at most two, oldest first) rows matching a ``contains``,
        ``startswith`` or ``endswith`` target; one GET per target, all in one ``$batch``.

        Two rows are enough to tell "found" from "ambiguous"; the caller takes the first.
        """
        found: dict[RegardingTarget, list[str]] = {t: [] for t in targets}
        if not targets or self.ctx.executor.dry_run:
            return found
        ops = []
        for t in targets:
            entity_set, pk = TABLES[t.table]
            path = odata.query(entity_set, select=[pk], filter=like_filter(t.by, t.column or "", t.value),
                               orderby="createdon asc") + "&$top=2"
            ops.append(Operation("GET", path, tag=t))
        for res in self.ctx.run(ops, phase=0):
            t = res.operation.tag
            if not res.ok:
                raise LookupFailed(f"lookup of {t.describe()} failed: HTTP {res.status} "
                                   f"{res.error_code or ''} {res.error_message or ''}".strip())
            found[t] = [row[TABLES[t.table][1]] for row in (res.body or {}).get("value", [])]
        return found


class PendingLookups:
    """Lookups in flight (:meth:`OrgLookups.start`): ``done()`` says whether the org has
    answered, ``result()`` reads the answers (one dict per spec, keyed by lower-cased value)."""

    def __init__(self, ctx: RunContext, specs: list[Spec], columns_of: list[tuple[str, ...]], job: Any):
        self.ctx = ctx
        self._specs = specs
        self._columns_of = columns_of
        self._job = job

    def done(self) -> bool:
        """Whether every answer is in (:meth:`result` then only follows later pages, if any)."""
        return self._job.done()

    def wait(self) -> None:
        """Wait until :meth:`done` (the answers are read by :meth:`result`, once)."""
        self._job.result()

    def result(self) -> list[dict[str, dict[str, Any]]]:
        """The rows found per spec; waits for the answers if they are not in yet. It follows
        later pages, so take it once.

        :raises LookupFailed: a lookup failed (writing without its answer could duplicate rows).
        """
        specs, executor = self._specs, self.ctx.executor
        out: list[dict[str, dict[str, Any]]] = [{} for _ in specs]
        rows_of: list[list[dict[str, Any]]] = [[] for _ in specs]
        for res in self._job.result():
            i = res.operation.tag
            if not res.ok:
                # A failed lookup must not turn into creates that duplicate existing rows.
                raise LookupFailed(f"lookup of {specs[i][0]} failed: HTTP {res.status} {res.error_code or ''} {res.error_message or ''}".strip())
            rows_of[i].extend((res.body or {}).get("value", []))
            link = (res.body or {}).get("@odata.nextLink")
            if link:
                rows_of[i].extend(executor.follow(link))
        resolution = self.ctx.resolution
        for i, rows in enumerate(rows_of):
            if not rows:
                continue
            wanted = {str(v).lower() for v in specs[i][2] if v}
            table = specs[i][0]
            pk = TABLES[table][1]
            for column in self._columns_of[i]:
                for row in rows:
                    value = row.get(column)
                    if isinstance(value, str) and value.lower() in wanted:
                        kept = out[i].setdefault(value.lower(), row)
                        if kept is not row and kept.get(pk) != row.get(pk):
                            # Several rows hold this value: the first wins (see OrgLookups.many);
                            # the resolution report lists them all as candidates.
                            resolution.candidate(table, value, kept, row, pk)
        return out
