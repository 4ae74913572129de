"""The resolution report: which record each party address of a run binds to, and why not.

The planner fills one :class:`Resolution` per run while it binds activity parties: for every
distinct address the table and id (and the name, when the org returned one) of the record it
resolves to, or that it resolves to nothing; for an address several rows of one table hold,
every candidate. The same data serves the preview (each party of each email, and the
``address`` records after the emails) and the sync report (``resolution`` in ``--report``), so
both tell the same story.

Memory grows with the number of distinct addresses, like the planner's own address book; the
candidates are kept only for ambiguous addresses, which are rare.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

#: the column holding a row's display name, per table (what a CRM user recognises the row by)
NAME_COLUMN: dict[str, str] = {
    "account": "name",
    "contact": "fullname",
    "systemuser": "fullname",
    "lead": "fullname",
    "queue": "name",
    "opportunity": "name",
    "incident": "title",
}

#: how the report lists details on huge runs: the rest is counted only
MAX_LISTED = 1000


class Resolution:
    """Distinct party addresses → the record each resolves to; candidates of ambiguous ones."""

    def __init__(self) -> None:
        # address → (table, id, name, via) or None (unresolved); via is "org" or "this run"
        self.addresses: dict[str, tuple[str, str, str | None, str] | None] = {}
        #: address → number of emails it appears on
        self.emails: dict[str, int] = {}
        # (table, value lower) → {id: name}: the rows holding one value, first one kept
        self._candidates: dict[tuple[str, str], dict[str, str | None]] = {}
        #: address → display name of this run's contact holding it (phase 1)
        self.run_names: dict[str, str] = {}
        #: (table, id) → name, for regarding targets
        self.target_names: dict[tuple[str, str], str | None] = {}

    # -- filled by the planner -----------------------------------------------------------------

    def candidate(self, table: str, value: str, kept: dict[str, Any], other: dict[str, Any], pk: str) -> None:
        """Two rows of ``table`` hold ``value``: ``kept`` is the one the planner binds to."""
        found = self._candidates.setdefault((table, value.lower()), {})
        name = NAME_COLUMN.get(table)
        for row in (kept, other):
            rid = row.get(pk)
            if rid is not None and str(rid) not in found:
                found[str(rid)] = row.get(name) if name else None

    def resolve(self, address: str, hit: tuple[str, str] | None, *, name: str | None = None,
                via: str = "org") -> None:
        """``address`` binds to ``hit`` (``(table, id)``) or, when None, to nothing."""
        if hit is None:
            self.addresses[address] = None
            return
        if via == "this run" and name is None:
            name = self.run_names.get(address)
        self.addresses[address] = (hit[0], hit[1], name, via)

    def seen_on_email(self, addresses: Iterator[str] | set[str]) -> None:
        """Count one email for each of ``addresses`` (distinct per email)."""
        counts = self.emails
        for a in addresses:
            counts[a] = counts.get(a, 0) + 1

    # -- read by the preview and the report ----------------------------------------------------

    def candidates(self, table: str, value: str) -> list[dict[str, Any]]:
        """Every row of ``table`` holding ``value`` when there are several (else ``[]``)."""
        found = self._candidates.get((table, value.lower()))
        return [{"id": rid, "name": name} for rid, name in found.items()] if found and len(found) > 1 else []

    def entry(self, address: str) -> dict[str, Any]:
        """One address: ``status`` resolved / ambiguous / unresolved, the record, the candidates."""
        return {"address": address, **self.found(address)}

    def found(self, address: str) -> dict[str, Any]:
        """:meth:`entry` without the address (a preview's party, which names it already)."""
        hit = self.addresses.get(address)
        if hit is None:
            return {"status": "unresolved" if address in self.addresses else "not looked up"}
        table, rid, name, via = hit
        out: dict[str, Any] = {"table": table, "id": rid, "name": name, "via": via}
        cands = self.candidates(table, address) if via == "org" else []
        out["status"] = "ambiguous" if cands else "resolved"
        if cands:
            out["candidates"] = cands
            out["rule"] = "the oldest row (createdon) holding the address in its first address column wins"
        return out

    def counts(self) -> dict[str, int]:
        """Distinct addresses per table they resolve to, plus ``unresolved`` and ``ambiguous``."""
        out: dict[str, int] = {}
        ambiguous = 0
        for address, hit in self.addresses.items():
            key = hit[0] if hit else "unresolved"
            out[key] = out.get(key, 0) + 1
            if hit and hit[3] == "org" and self.candidates(hit[0], address):
                ambiguous += 1
        out = dict(sorted(out.items()))
        out["ambiguous"] = ambiguous
        return out

    def entries(self) -> Iterator[dict[str, Any]]:
        """Every address, most emails first, then alphabetically (a stable order)."""
        emails = self.emails
        for address in sorted(self.addresses, key=lambda a: (-emails.get(a, 0), a)):
            e = self.entry(address)
            e["emails"] = emails.get(address, 0)
            yield e

    def to_dict(self) -> dict[str, Any]:
        """The report's ``resolution`` section: counts, then the ambiguous and unresolved
        addresses and the resolved ones, each list at most :data:`MAX_LISTED` long."""
        ambiguous: list[dict[str, Any]] = []
        unresolved: list[dict[str, Any]] = []
        resolved: list[dict[str, Any]] = []
        for e in self.entries():
            bucket = {"ambiguous": ambiguous, "unresolved": unresolved}.get(e["status"], resolved)
            if len(bucket) < MAX_LISTED:
                bucket.append(e)
        return {"counts": self.counts(), "ambiguous": ambiguous, "unresolved": unresolved, "resolved": resolved}
