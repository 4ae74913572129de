"""The run report: every input record counted as created, updated, unchanged, skipped or failed.

The JSON shape (``--report FILE`` and ``--format json``) is stable and meant for machines
(Power Automate, Azure Functions): ``{"ok", "dry_run", "entities": {"contact": {...}, ...},
"failures": [...], "skips": [...], "unlinked": [...], "inputs": {...}, "http": {...}}``.
Nothing in it ever contains a secret or a token.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from .errors import one_line

ENTITIES = ("account", "contact", "email")
OUTCOMES = ("created", "updated", "unchanged", "skipped", "failed")
#: Keep the report readable on huge runs: details beyond this many per list are counted only.
MAX_DETAILS = 1000


def reason_kind(reason: str) -> str:
    """The general form of a skip reason, so the summary groups a million skips in a few lines.

    Reasons are written ``<kind>: <details>`` (``duplicate: same address as ...``,
    ``$.columns.subject: expected a string ...``, ``no email address``); the kind is the text
    before the first ``": "``. Writers of reasons keep record names out of the kind.
    """
    return reason.split(": ", 1)[0]


@dataclass
class EntityCounts:
    """Counts for one entity, plus skip reasons."""

    created: int = 0
    updated: int = 0
    unchanged: int = 0
    skipped: int = 0
    failed: int = 0
    skip_reasons: Counter = field(default_factory=Counter)

    def total(self) -> int:
        """Every record this entity accounted for."""
        return self.created + self.updated + self.unchanged + self.skipped + self.failed


class Report:
    """Collects outcomes during a run and renders them."""

    def __init__(self, *, dry_run: bool = False):
        self.dry_run = dry_run
        self.entities: dict[str, EntityCounts] = {e: EntityCounts() for e in ENTITIES}
        self.failures: list[dict[str, Any]] = []
        self.skips: list[dict[str, Any]] = []
        self.unlinked: list[dict[str, Any]] = []
        self.inputs: dict[str, int] = {"contacts": 0, "messages": 0}
        self.http: dict[str, Any] = {}
        self.warnings: list[str] = []
        self.sources: list[dict[str, Any]] = []
        self.dropped_details = 0
        #: why the run stopped before the end (the org could not be read), or None
        self.stopped: str | None = None
        #: distinct addresses seen in this run, by what they bound to (a table, or "unresolved")
        self.addresses: dict[str, int] = {}
        #: emails not looked at because their date lies in their mailbox's incremental coverage
        self.incremental_skipped = 0

    def count(self, entity: str, outcome: str, n: int = 1) -> None:
        """Add ``n`` records of ``entity`` with ``outcome`` (created, updated or unchanged)."""
        setattr(self.entities[entity], outcome, getattr(self.entities[entity], outcome) + n)

    def skip(self, entity: str, ref: str, reason: str) -> None:
        """Record one skipped input record and why."""
        reason = one_line(reason)  # reasons quote record values: one line, bounded
        counts = self.entities[entity]
        counts.skipped += 1
        counts.skip_reasons[reason_kind(reason)] += 1
        self._detail(self.skips, {"entity": entity, "record": ref, "reason": reason})

    def fail(self, entity: str, ref: str, code: str | None, message: str | None, status: int = 0) -> None:
        """Record one record the service refused, with the service's error."""
        self.entities[entity].failed += 1
        self._detail(
            self.failures,
            {"entity": entity, "record": ref, "status": status, "code": code or "", "message": message or ""},
        )

    def note_unlinked(self, ref: str, target: str, reason: str) -> None:
        """An email was written without its regarding link (the target was not found)."""
        self._detail(self.unlinked, {"record": ref, "target": one_line(target), "reason": one_line(reason)})

    def _detail(self, bucket: list, item: dict) -> None:
        if len(bucket) < MAX_DETAILS:
            bucket.append(item)
        else:
            self.dropped_details += 1

    @property
    def failed(self) -> int:
        """Number of failed records across entities."""
        return sum(c.failed for c in self.entities.values())

    def exit_code(self) -> int:
        """0 when nothing failed, 1 when some records failed or the run stopped part-way."""
        return 1 if self.failed or self.stopped else 0

    def to_dict(self) -> dict[str, Any]:
        """The machine-readable report."""
        return {
            "ok": self.failed == 0 and self.stopped is None,
            "stopped": self.stopped,
            "dry_run": self.dry_run,
            "inputs": dict(self.inputs),
            "sources": self.sources,
            "entities": {
                name: {
                    "created": c.created,
                    "updated": c.updated,
                    "unchanged": c.unchanged,
                    "skipped": c.skipped,
                    "failed": c.failed,
                    "skip_reasons": dict(sorted(c.skip_reasons.items())),
                }
                for name, c in self.entities.items()
            },
            "failures": self.failures,
            "skips": self.skips,
            "unlinked": self.unlinked,
            "warnings": [one_line(w) for w in self.warnings[:MAX_DETAILS]],
            "incremental": {"already_covered": self.incremental_skipped},
            "addresses": self.addresses,
            "details_dropped": self.dropped_details + max(0, len(self.warnings) - MAX_DETAILS),
            "http": self.http,
        }

    def to_json(self) -> str:
        """The report as indented JSON."""
        return json.dumps(self.to_dict(), indent=2, ensure_ascii=False)

    def summary(self) -> str:
        """A short human summary: one line per entity, then failures."""
        verb = "would be " if self.dry_run else ""
        lines = [f"{'entity':<8} {'created':>8} {'updated':>8} {'unchanged':>10} {'skipped':>8} {'failed':>7}"]
        for name, c in self.entities.items():
            lines.append(f"{name:<8} {c.created:>8} {c.updated:>8} {c.unchanged:>10} {c.skipped:>8} {c.failed:>7}")
        lines.append(
            f"inputs: {self.inputs['contacts']} contacts, {self.inputs['messages']} messages"
            + (f"; {verb}written with the results above" if self.dry_run else "")
        )
        for name, c in self.entities.items():
            for reason, n in sorted(c.skip_reasons.items()):
                lines.append(f"skipped {name}: {n} × {reason}")
        for f in self.failures[:20]:
            lines.append(f"FAILED {f['entity']} {f['record']}: {f['code']} {f['message']}".rstrip())
        if len(self.failures) > 20:
            lines.append(f"... and {len(self.failures) - 20} more failures (see the report file)")
        if self.addresses:
            lines.append("addresses: " + ", ".join(f"{n} {kind}" for kind, n in self.addresses.items()))
        for u in self.unlinked[:10]:
            lines.append(f"unlinked {u['record']}: {u['target']} ({u['reason']})")
        if self.http:
            h = self.http
            lines.append(
                "http: " + ", ".join(f"{k} {v}" for k, v in h.items() if isinstance(v, (int, float)))
            )
        return "\n".join(lines)
