"""The run report: every input record counted as created, updated, unchanged, skipped or failed.

The JSON shape (``--report FILE`` and ``--format json``) is stable and meant for machines
(Power Automate, Azure Functions): ``{"ok", "outcome", "exit_status", "run": {...}, "summary_text",
"dry_run", "entities": {"contact": {...}, ...}, "failures": [...], "skips": [...],
"unlinked": [...], "inputs": {...}, "http": {...}}``. Nothing in it ever contains a secret or a
token. Writing it to a file (atomically, on every exit) is :mod:`mail2dataverse.runfile`'s job.

Outcomes and the exit statuses they give (docs/sync.md "Exit statuses"):

==================  ====  ==========================================================
``ok``              0     every record written, unchanged, or skipped for a data reason
``records_failed``  1     the service refused some records (listed under ``failures``)
``stopped``         1     the run stopped part-way (the org could not be read)
``usage_error``     2     usage, configuration, credentials, unreachable org or
                          unreadable input: nothing was written
``mapping_error``   3     a mapping or plugin error skipped every record of a table
``interrupted``     130   Ctrl-C (SIGINT)
``terminated``      143   SIGTERM
``running``         -     written when the run starts, replaced when it ends
==================  ====  ==========================================================
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from .errors import one_line

ENTITIES = ("account", "contact", "email")
EXIT_STATUS = {"ok": 0, "records_failed": 1, "stopped": 1, "usage_error": 2, "mapping_error": 3,
               "interrupted": 130, "terminated": 143}
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


def is_mapping_error(reason: str) -> bool:
    """Whether a skip reason is a mapping or plugin error rather than a property of the data.

    The mapper writes the reasons of entries that failed to evaluate (a JMESPath function on
    the wrong type, a transform or plugin that raised, a column value that is not a scalar) as
    ``$.json.path: message (mapping file:line:col)``; every data skip (``no email address``,
    ``duplicate: ...``, a ``skip_record_when`` text) is plain words. The ``$.`` prefix is what
    tells them apart.
    """
    return reason.startswith("$.")


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
        #: conversation threads: how many replies were linked, how, and each link explained
        self.threads: dict[str, Any] = {}
        #: attachments: written, reused, skipped with reasons
        self.attachments: dict[str, Any] = {}
        #: the run's identity and circumstances (``run`` in the JSON): id, start/end, version, org,
        #: digests; filled by :class:`~mail2dataverse.runfile.RunFile` and :func:`~mail2dataverse.sync.sync`
        self.run: dict[str, Any] = {}
        #: set by the caller that knows how the run ended (an exception, a signal); None: from counts
        self.forced_outcome: str | None = None
        #: the one-line error that ended the run (usage errors, interruptions), never a secret
        self.error: str | None = None
        #: which record each party address resolved to (a :class:`~.resolution.Resolution`),
        #: set by the planner's email phase
        self.resolution: Any = None
        #: told of every skip as it happens, ``(entity, ref, reason)``: the preview explains each
        self.on_skip: Any = None

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
        if self.on_skip is not None:
            self.on_skip(entity, ref, reason)

    def skip_detail(self, entity: str, ref: str, reason: str) -> None:
        """A skipped item that is not an input record (an attachment of an email): listed under
        ``skips`` with its reason, counted by its own section, not in ``entities``."""
        self._detail(self.skips, {"entity": entity, "record": ref, "reason": one_line(reason)})

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

    def mapping_failures(self) -> list[str]:
        """Tables whose every input record was skipped by a mapping or plugin error.

        Accounts are derived, not input, so only contacts and emails count. A table where every
        record was skipped for data reasons (all duplicates, none with an address) is not one.
        """
        out = []
        for name in ("contact", "email"):
            c = self.entities[name]
            if c.skipped and c.skipped == c.total() and any(is_mapping_error(k) for k in c.skip_reasons):
                out.append(name)
        return out

    @property
    def outcome(self) -> str:
        """How the run ended (see the module docstring): the worst that applies."""
        if self.forced_outcome:
            return self.forced_outcome
        if self.mapping_failures():
            return "mapping_error"
        if self.stopped:
            return "stopped"
        if self.failed:
            return "records_failed"
        return "ok"

    @property
    def ok(self) -> bool:
        """True when the run did everything it was asked (outcome ``ok``)."""
        return self.outcome == "ok"

    def exit_code(self) -> int:
        """The process exit status of :attr:`outcome` (0 ok, 1 failed or stopped, 3 mapping error...)."""
        return EXIT_STATUS.get(self.outcome, 1)

    def to_dict(self) -> dict[str, Any]:
        """The machine-readable report."""
        outcome = self.outcome
        return {
            "ok": outcome == "ok",
            "outcome": outcome,
            "exit_status": EXIT_STATUS.get(outcome),
            "error": self.error,
            "run": dict(self.run),
            "summary_text": self.plain_summary(),
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
            "resolution": self.resolution.to_dict() if self.resolution is not None else None,
            "threads": self.threads,
            "attachments": self.attachments,
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
        if self.threads.get("linked") or self.threads.get("unlinked_replies"):
            t = self.threads
            lines.append(f"threads: {t['linked']} replies {verb}linked to their parent ({t['by_message_id']} by "
                         f"In-Reply-To/References, {t['by_thread_id']} by thread_id; {t['inherited_regarding']} "
                         f"inherit its regarding), {t['unlinked_replies']} replies without a parent found")
        if self.attachments.get("written") or self.attachments.get("skipped") or self.attachments.get("reused"):
            a = self.attachments
            lines.append(f"attachments: {a['written']} {verb}written ({a['base64_bytes']:,} bytes of Base64), "
                         f"{a['reused']} reusing stored content, {a['skipped']} skipped"
                         + "".join(f"; {n} × {k}" for k, n in a["skip_reasons"].items()))
        for u in self.unlinked[:10]:
            lines.append(f"unlinked {u['record']}: {u['target']} ({u['reason']})")
        if self.http:
            h = self.http
            lines.append(
                "http: " + ", ".join(f"{k} {v}" for k, v in h.items() if isinstance(v, (int, float)))
            )
            kinds = h.get("server_time") or {}
            if kinds:
                lines.append("server time per operation: " + ", ".join(
                    f"{k} {v['server_seconds_per_operation'] * 1000:.0f} ms (batches of {v['batch_size']})"
                    for k, v in kinds.items()))
            for u in h.get("users") or []:
                lines.append(
                    f"{u['user']}: {u['requests']} requests, {u['operations']} operations, "
                    f"{u['server_seconds']:.1f} server s, {u['throttled']} throttled, rested {u['rested_seconds']:.1f} s, "
                    f"up to {u['peak_in_flight']} in flight, {u['web_servers_seen']} web servers"
                )
        lines.append(self.plain_summary())
        return "\n".join(lines)

    # -- plain language ------------------------------------------------------------------------

    def _top_skips(self, n: int = 3) -> list[tuple[str, str, int]]:
        """The most frequent skip reasons across entities: ``(entity, reason kind, count)``."""
        rows = [(name, kind, k) for name, c in self.entities.items() for kind, k in c.skip_reasons.items()]
        return sorted(rows, key=lambda r: (-r[2], r[0], r[1]))[:n]

    def _top_failures(self, n: int = 3) -> list[tuple[str, int]]:
        """The most frequent service errors among the listed failures: ``(code and message, count)``."""
        groups: Counter = Counter()
        for f in self.failures:
            message = " ".join(str(f.get("message") or "").split())
            if len(message) > 120:
                message = message[:117] + "..."
            groups[f"{f.get('code') or 'HTTP ' + str(f.get('status') or '?')}: {message}".rstrip(": ")] += 1
        return groups.most_common(n)

    def plain_summary(self) -> str:
        """What happened and what to do next, in a few plain sentences (``summary_text`` in the JSON).

        Names the top reasons for skips and failures; meant for the person who reads a run
        report they did not watch.
        """
        outcome = self.outcome
        written = {n: c.created + c.updated for n, c in self.entities.items()}
        verb = "Would write" if self.dry_run else "Wrote"
        parts = []
        if outcome == "running":
            return "The run is still going (or was killed before it could say how it ended)."
        if any(written.values()) or outcome in ("ok", "records_failed"):
            parts.append(f"{verb} {written['contact']} contacts, {written['account']} accounts and "
                         f"{written['email']} emails (created or updated); "
                         f"{sum(c.unchanged for c in self.entities.values())} records were already up to date.")
        skipped = sum(c.skipped for c in self.entities.values())
        if skipped:
            top = "; ".join(f"{k} × {kind} ({name})" for name, kind, k in self._top_skips())
            parts.append(f"{skipped} records were skipped, most often: {top}.")
        if self.failed:
            top = "; ".join(f"{k} × {text}" for text, k in self._top_failures())
            parts.append(f"{self.failed} records failed at the service, most often: {top}.")
        parts.append(_NEXT.get(outcome, ""))
        if outcome == "mapping_error":
            parts.append(f"Tables skipped whole: {', '.join(self.mapping_failures())}.")
        if self.error and outcome in ("usage_error", "interrupted", "terminated", "stopped"):
            parts.append(f"Cause: {self.error}")
        return " ".join(p for p in parts if p)


#: What to do next, per outcome (the last sentence of the plain summary).
_NEXT = {
    "ok": "Nothing failed; a re-run sends only what is new.",
    "records_failed": ("Re-run to retry the failed records: transient errors (timeouts, 5xx) go away; "
                       "validation errors need the mapping or the record's data fixed (see failures)."),
    "stopped": "The run stopped part-way without duplicating anything; re-run to continue.",
    "mapping_error": ("A mapping or plugin error skipped every record of a table: fix the mapping at the "
                      "file:line:col the skip reasons name, check it with `mail2dataverse validate`, re-run."),
    "usage_error": ("Nothing was written. Fix the cause below and re-run; "
                    "`mail2dataverse doctor` checks the URL, credentials, privileges and mappings."),
    "interrupted": "The run was interrupted (Ctrl-C); what was written is in the state file, re-run to continue.",
    "terminated": "The run was stopped by SIGTERM; what was written is in the state file, re-run to continue.",
}
