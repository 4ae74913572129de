"""Explanation records: for each record the planner settles, its outcome and why.

:class:`Explainer` is the planner's :class:`~mail2dataverse.planner.context.Explainer`. The
planner tells it how each account, contact and email ended; it turns that into one plain
record (the shapes are in docs/preview.md) and hands it to the :class:`~.spool.Spool` at once,
so nothing accumulates in memory. Outcomes:

``create``      the payload that would be sent;
``update``      only the columns that differ, each ``{"before", "after"}``;
``unchanged``   and why (found in the org with the same values, already in the org...);
``skipped``     the mapper's or planner's reason;
``would fail``  what the pre-flight knows from the org's metadata: a column the table does not
                have, a value of the wrong type or longer than the column holds, a navigation
                property (``...@odata.bind``) the table does not have;
``failed``      (a sync only) the service's error.

Skips reach it through the report's ``on_skip`` (the planner reports every skip there).
Each email also explains its parties (address → the record it resolves to, or unresolved, or
ambiguous with the candidates) and its regarding link (the rule, the plugin, its reason, what
it resolved to). Later planner steps add their own sections through :meth:`Explainer.attach`
(``thread``, ``attachments``), which lands in the email's record under that name.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from ..planner.contacts import lookup_value_column
from ..preflight import value_problem
from ..planner.context import ADDRESS_COLUMNS, TABLES
from ..resolution import Resolution
from .spool import Spool

ROLES = {1: "from", 2: "to", 3: "cc", 4: "bcc"}
OUTCOMES = ("create", "update", "unchanged", "skipped", "would fail", "failed")
_PLANNED = {"created": "create", "updated": "update", "unchanged": "unchanged", "failed": "failed"}
_STATUS = {3: "Sent", 4: "Received"}
#: an email's final state (the PATCH completing it), outgoing or not: the same few values on every record
_FINAL_STATE = {True: {"statecode": 1, "statuscode": 3, "status": _STATUS[3]},
                False: {"statecode": 1, "statuscode": 4, "status": _STATUS[4]}}


class Explainer:
    """Builds the explanation records of one preview and writes them to a spool."""

    def __init__(self, spool: Spool, resolution: Resolution, *, against_org: bool,
                 columns: dict[str, dict[str, Any] | None] | None = None,
                 shown: set[str] | None = None, navigations: dict[str, set[str] | None] | None = None):
        self.spool = spool
        self.resolution = resolution
        self.against_org = against_org
        #: table → column name → :class:`~..preflight.ColumnInfo` from the org; absent: not known
        self.columns = columns or {}
        #: table → its navigation properties, from the org; absent: not known
        self.navigations = navigations or {}
        #: the sections written out in full (the others are only counted)
        self.shown = shown if shown is not None else {"account", "contact", "email"}
        self.tally: dict[str, Counter] = {t: Counter() for t in ("account", "contact", "email")}
        self._attached: dict[int, dict[str, Any]] = {}

    # -- the planner's Explainer protocol ------------------------------------------------------

    def accounts(self, planned: list[Any]) -> None:
        """Accounts of phase 1: created, or an existing one linked to (never renamed)."""
        for p in planned:
            outcome = _PLANNED.get(p.outcome or "", "create")
            rec: dict[str, Any] = {"kind": "account", "key": p.key, "outcome": outcome, "id": p.id}
            if outcome == "unchanged":
                rec["reason"] = (f"the org has an account whose website is {p.key}: contacts are linked to it, "
                                 "it is never renamed")
            elif outcome == "create":
                rec["reason"] = self._new_reason(f"no account in the org has the website {p.key}")
                rec["payload"] = {TABLES["account"][1]: p.id, **p.columns}
            rec["contacts"] = [str(r) for r in p.refs[:5]]
            if len(p.refs) > 5:
                rec["contacts_total"] = len(p.refs)
            self._emit("account", self._checked("account", rec))

    def contacts(self, planned: list[Any], mapped: dict[str, Any]) -> None:
        """Contacts of phase 1: created with the account derived for them, updated, unchanged."""
        for p in planned:
            c = mapped.get(p.key)
            outcome = _PLANNED.get(p.outcome or "", "create")
            rec: dict[str, Any] = {"kind": "contact", "key": p.key, "record": str(p.refs[0]), "outcome": outcome,
                                   "id": p.id}
            row = p.existing
            if row is not None:
                column = next((col for col in ADDRESS_COLUMNS if str(row.get(col) or "").lower() == p.key), None)
                rec["found"] = {"by": column, "name": row.get("fullname")}
                candidates = self.resolution.candidates("contact", p.key)
                if candidates:
                    rec["found"]["candidates"] = candidates
                    rec["found"]["rule"] = ("a match on emailaddress1 wins over emailaddress2, then 3; "
                                            "then the oldest row (createdon)")
            if outcome == "update":
                rec["reason"] = f"found in the org by {rec.get('found', {}).get('by') or 'the state file'}; " \
                                f"{len(p.changed or {})} column(s) differ"
                rec["changes"] = {col: {"before": self._before(col, p), "after": value}
                                  for col, value in (p.changed or {}).items()}
            elif outcome == "unchanged":
                rec["reason"] = "found in the org; every mapped column already holds the same value"
            elif outcome == "create":
                rec["reason"] = self._new_reason("no contact in the org holds this address")
                rec["payload"] = {TABLES["contact"][1]: p.id, **p.columns, **p.binds}
            if c is not None and c.account is not None:
                bind = next(iter(p.binds.values()), None)
                rec["account"] = {"domain": c.account.domain, "from_address": c.account_address,
                                  "id": bind.rsplit("(", 1)[-1].rstrip(")") if bind else None}
                if bind is None:
                    rec["account"]["reason"] = "not linked: the mailbox owner's company, or the account was not written"
            elif c is not None:
                rec["account"] = None
            self._emit("contact", self._checked("contact", rec))

    def email(self, email: Any, outcome: str, *, body: dict[str, Any] | None = None, reason: str = "",
              result: Any = None) -> None:
        """One email: its outcome, payload, parties and regarding link."""
        outcome = _PLANNED.get(outcome, outcome)
        extra = self._attached.pop(id(email), None)
        if "email" not in self.shown:
            self.tally["email"][outcome] += 1
            return
        rec: dict[str, Any] = {"kind": "email", "record": str(email.ref), "identity": email.identity,
                               "outcome": outcome, "subject": email.columns.get("subject")}
        if reason:
            rec["reason"] = reason
        if body is not None:
            rec["id"] = body.get("activityid")
            if outcome == "create":
                rec["reason"] = self._new_reason("no email in the org has this messageid")
            rec["payload"] = payload = dict(body)  # a C copy, then the parties go to their own list
            payload.pop("email_activity_parties", None)
            rec["final_state"] = _FINAL_STATE[bool(email.outgoing)]
            rec["parties"] = self._parties(email, body.get("email_activity_parties", []))
            rec["regarding"] = self._regarding(email, body)
        if result is not None:
            rec["error"] = {"status": result.status, "code": result.error_code, "message": result.error_message}
        if extra:
            rec.update(extra)
        self._emit("email", self._checked("email", rec))

    def attach(self, email: Any, section: str, value: Any) -> None:
        """Add ``section`` to ``email``'s record (called before :meth:`email` for it)."""
        self._attached.setdefault(id(email), {})[section] = value

    # -- skips and failures come through the report ---------------------------------------------

    def skipped(self, entity: str, ref: str, reason: str) -> None:
        """A record the mapper or the planner skipped, and why."""
        self._emit(entity, {"kind": entity, "record": ref, "outcome": "skipped", "reason": reason})

    # -- helpers --------------------------------------------------------------------------------

    def _emit(self, table: str, rec: dict[str, Any]) -> None:
        self.tally[table][rec["outcome"]] += 1
        if table in self.shown:
            self.spool.write(table, rec)

    def _new_reason(self, found_nothing: str) -> str:
        return found_nothing if self.against_org else "new (the preview without --url assumes an empty org)"

    @staticmethod
    def _before(column: str, p: Any) -> Any:
        if p.stored_columns is not None:
            return p.stored_columns.get(column)
        row = p.existing or {}
        if column.endswith("@odata.bind"):
            value = row.get(lookup_value_column(column[: -len("@odata.bind")]))
            return None if value is None else f"({value})"
        return row.get(column)

    def _checked(self, table: str, rec: dict[str, Any]) -> dict[str, Any]:
        """Turn a create or update into ``would fail`` when the org's metadata says it would."""
        known = self.columns.get(table)
        if known is None or rec["outcome"] not in ("create", "update"):
            return rec
        values = rec.get("payload") or {k: v["after"] for k, v in (rec.get("changes") or {}).items()}
        problems = []
        navs = self.navigations.get(table)
        for column, value in values.items():
            if column.endswith("@odata.bind"):
                nav = column[: -len("@odata.bind")]
                if navs is not None and nav not in navs and not str(value).startswith("<"):
                    problems.append(f"the org's {table} table has no navigation property {nav!r}")
                continue
            if "@" in column:
                continue
            info = known.get(column)
            if info is None:
                problems.append(f"the org's {table} table has no column {column!r}")
                continue
            why = value_problem(info, value)
            if why:
                problems.append(why)
        if problems:
            rec["planned"] = rec["outcome"]
            rec["outcome"] = "would fail"
            rec["problems"] = problems
        return rec

    def _parties(self, email: Any, parties: list[dict[str, Any]]) -> list[dict[str, Any]]:
        names = {(p.mask, p.address): p.name for p in email.parties}
        found_of = self.resolution.found
        unresolved = ("no system user, contact, account or lead holds this address"
                      if self.against_org else "not one of this run's contacts (empty-org preview)")
        out = []
        for party in parties:
            address = party.get("addressused", "")
            mask = party.get("participationtypemask")
            item = {"role": ROLES.get(mask, mask), "address": address, "display_name": names.get((mask, address))}
            item.update(found_of(address))
            for k, v in party.items():
                if k.startswith("partyid_"):
                    item["bind"] = {k: v}
                    break
            else:
                if item["status"] == "unresolved":
                    item["reason"] = unresolved
            out.append(item)
        return out

    def _regarding(self, email: Any, body: dict[str, Any]) -> dict[str, Any]:
        t = email.regarding
        if t is None:
            return {"status": "none", "reason": "no regarding rule or plugin chose a target for this email"}
        out: dict[str, Any] = {"table": t.table, "rule": t.describe(), "by": t.by, "reason": t.reason,
                               "plugin": t.plugin or None}
        value = body.get(f"regardingobjectid_{t.table}_email@odata.bind")
        if value is None:
            out["status"] = "not found in the org: the email is written without the link"
        elif value.startswith("<"):
            out["status"] = "resolved by the sync (the preview without --url does not look it up)"
        else:
            rid = value.rsplit("(", 1)[-1].rstrip(")")
            out["status"] = "linked"
            out["id"] = rid
            out["name"] = self.resolution.target_names.get((t.table, rid))
        return out
