"""Regarding links: the record each email is set regarding, resolved once per target per run.

The plugins name a target (:class:`~mail2dataverse.model.RegardingTarget`: by id, by a column, by
a ``LIKE`` match, the newest open record of an account); this finds its row in the org.
"""

from __future__ import annotations

from typing import Any

from ..lookup import LIKE_FORMS, OrgLookup
from ..model import MappedEmail, RegardingTarget
from ..resolution import NAME_COLUMN
from .context import TABLES, RunContext
from .lookups import OrgLookups, Spec


class RegardingLinks:
    """Resolve the regarding targets the plugins name (by id, by column, by a ``LIKE`` match,
    newest open of an account) to row ids, once per target per run.

    The answers live in the run's :class:`~mail2dataverse.lookup.OrgLookup` (the one plugins
    get as ``context["lookup"]``), so a plugin can read what an earlier chunk found.
    """

    def __init__(self, ctx: RunContext, lookups: OrgLookups):
        self.ctx = ctx
        self.lookups = lookups
        lookup = getattr(ctx.plugins, "lookup", None)
        self._org = lookup if isinstance(lookup, OrgLookup) else OrgLookup()

    def known(self, target: RegardingTarget) -> bool:
        """Whether ``target`` was settled already (found, or known not to be there)."""
        return self._org.settled(target)

    def specs(self, targets: set[RegardingTarget]) -> list[tuple[Spec, list[RegardingTarget]]]:
        """Lookup specs for regarding targets, each with the targets it answers."""
        out = []
        by_kind: dict[tuple[str, str, str | None], list[RegardingTarget]] = {}
        for t in targets:
            if t.table not in TABLES:
                self._org.remember(t, None)
                continue
            by_kind.setdefault((t.table, t.by, t.column), []).append(t)
        for (table, by, column), ts in sorted(by_kind.items(), key=lambda kv: str(kv[0])):
            name = (NAME_COLUMN[table],) if table in NAME_COLUMN else ()
            if by == "id":
                out.append(((table, TABLES[table][1], [t.value for t in ts], name), ts))
            elif by == "column" and column:
                out.append(((table, column, [t.value for t in ts], name), ts))
            elif by == "account_newest_open" or by in LIKE_FORMS:
                # Resolved in a second round: once the accounts are known, or (LIKE) one GET
                # per target, since In(...) cannot match parts of values.
                out.append((("account", "websiteurl", [], ()), ts))
            else:
                for t in ts:
                    self._org.remember(t, None)
        return out

    def settle(self, target_specs: list[tuple[Spec, list[RegardingTarget]]], results: list[dict[str, dict[str, Any]]]) -> None:
        """Record what the lookups of :meth:`specs` found; resolve "newest open" targets."""
        newest: list[RegardingTarget] = []
        like: list[RegardingTarget] = []
        for (_spec, ts), rows in zip(target_specs, results):
            for t in ts:
                if t.by == "account_newest_open":
                    newest.append(t)
                    continue
                if t.by in LIKE_FORMS:
                    like.append(t)
                    continue
                row = rows.get(t.value.lower())
                self._org.remember(t, row[TABLES[t.table][1]] if row else None)
                if row:
                    self.ctx.resolution.target_names[(t.table, row[TABLES[t.table][1]])] = row.get(NAME_COLUMN.get(t.table, ""))
        if like:
            self._settle_like(sorted(like, key=lambda t: (t.table, t.by, str(t.column), t.value)))
        if not newest:
            return
        account_ids = self.ctx.account_ids
        domains = sorted({t.value for t in newest})
        unknown = [d for d in domains if d not in account_ids]
        if unknown and not self.ctx.executor.dry_run:
            account_ids.update(self.lookups.accounts_by_domain(unknown))
        by_table: dict[str, list[RegardingTarget]] = {}
        for t in newest:
            by_table.setdefault(t.table, []).append(t)
        for table, ts in by_table.items():
            ids = sorted({account_ids[t.value] for t in ts if t.value in account_ids})
            newest_by_account = self.lookups.newest_open_by_account(table, ids)
            for t in ts:
                acc = account_ids.get(t.value)
                self._org.remember(t, newest_by_account.get(acc) if acc else None)

    def _settle_like(self, targets: list[RegardingTarget]) -> None:
        if self.ctx.executor.dry_run:
            return  # the preview shows the target as written; nothing is cached as "not found"
        for t, ids in self.lookups.like(targets).items():
            self._org.remember(t, ids[0] if ids else None)
            if len(ids) > 1:
                # Several rows match a fragment: say so, since the link may not be the one meant.
                self.ctx.report.warnings.append(
                    f"regarding: more than one {t.describe()}; emails are linked to the oldest ({ids[0]})")

    def link(self, e: MappedEmail, body: dict[str, Any]) -> None:
        """Bind ``body`` (an email being created) to its regarding row, or note why it is not."""
        rid = self._org.found(e.regarding)
        if rid:
            body[f"regardingobjectid_{e.regarding.table}_email@odata.bind"] = f"/{TABLES[e.regarding.table][0]}({rid})"
        elif self.ctx.executor.dry_run:
            # The preview cannot look the target up; it shows what the sync will resolve.
            body[f"regardingobjectid_{e.regarding.table}_email@odata.bind"] = f"<{e.regarding.describe()}>"
        else:
            self.ctx.report.note_unlinked(str(e.ref), e.regarding.describe(), "not found in the org")
