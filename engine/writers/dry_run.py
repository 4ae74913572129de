"""The dry-run executor and the preview printer: the exact writes a sync would send, no network.

The planner runs unchanged against :class:`DryRunExecutor`, which answers every lookup with
"nothing found" (the preview assumes an empty org) and every write with success, recording the
writes. So the preview is by construction the sequence of operations a sync sends to an org
that holds none of these records yet.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from typing import Any

import yaml

from ..operations import Base64File, ChangeSet, Operation, Result

FORMATS = ("json", "yaml", "table")


class DryRunExecutor:
    """Records write operations in order; lookups find nothing; writes succeed."""

    dry_run = True

    def __init__(self, alternate_keys: dict[str, set[tuple[str, ...]]] | None = None, *, keep: bool = True):
        """``keep=False``: count the writes instead of recording them (the streaming preview
        explains each record itself; a list of every operation is what made a big preview
        need gigabytes)."""
        self.recorded: list[dict[str, Any]] = []
        self.writes_not_sent: Counter = Counter()
        self._alternate_keys = alternate_keys or {}
        self._changesets = 0
        self._keep = keep
        self._labels: dict[tuple[str, str], str] = {}  # (method, path) → its writes_not_sent label

    def alternate_keys(self, table: str) -> set[tuple[str, ...]]:
        """The alternate keys the preview assumes (none on a default org)."""
        return self._alternate_keys.get(table, set())

    def follow(self, next_link: str) -> Iterator[dict[str, Any]]:
        """Lookups return one empty page, so there is never a next page."""
        return iter(())

    def run(self, items: list[Operation | ChangeSet], *, phase: int) -> list[Result]:
        """Record writes (not GETs) and answer as the service would on success."""
        results: list[Result] = []
        for item in items:
            if isinstance(item, ChangeSet):
                self._changesets += 1
                for op in item.operations:
                    results.append(self._answer(op, phase, self._changesets))
            else:
                results.append(self._answer(item, phase, None))
        return results

    def _answer(self, op: Operation, phase: int, changeset: int | None) -> Result:
        if op.method == "GET":
            return Result(op, 200, body={"value": []})
        if not self._keep:
            path = op.path
            # one label per table (a key or a $n reference are not part of it), made once
            key = (op.method, "$n" if path.startswith("$") else path)
            label = self._labels.get(key)
            if label is None:
                label = f"{op.method} {key[1].split('(', 1)[0]}"
                if len(self._labels) < 4096:  # paths with keys in them are many: not all kept
                    self._labels[key] = label
            self.writes_not_sent[label] += 1
            return Result(op, 200, body={"Ids": []}) if path.endswith("CreateMultiple") else Result(op, 204)
        entry: dict[str, Any] = {"phase": phase, "method": op.method, "path": op.path}
        if changeset is not None:
            entry["changeset"] = changeset
            entry["content_id"] = op.content_id
        if op.headers:
            entry["headers"] = dict(op.headers)
        # An attachment's content is shown by its size, not as megabytes of Base64.
        entry["body"] = {k: v.describe() if isinstance(v, Base64File) else v for k, v in op.body.items()} \
            if isinstance(op.body, dict) and op.payload_bytes else op.body
        self.recorded.append(entry)
        if op.path.endswith("CreateMultiple"):
            return Result(op, 200, body={"Ids": []})
        return Result(op, 204)


def render(operations: list[dict[str, Any]], fmt: str) -> str:
    """Format recorded operations as ``json`` (one array), ``yaml`` or a ``table``."""
    if fmt == "json":
        return json.dumps(operations, indent=2, ensure_ascii=False) + "\n"
    if fmt == "yaml":
        return yaml.safe_dump(operations, sort_keys=False, allow_unicode=True, width=100)
    if fmt == "table":
        return _table(operations)
    raise ValueError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")


def _table(operations: list[dict[str, Any]]) -> str:
    lines = [f"{'#':>4}  {'phase':<5} {'cs':>4}  {'method':<6} {'path':<55} summary"]
    for i, op in enumerate(operations, 1):
        cs = str(op.get("changeset", ""))
        lines.append(f"{i:>4}  {op['phase']:<5} {cs:>4}  {op['method']:<6} {_cut(op['path'], 55):<55} {_summary(op)}")
    lines.append(f"{len(operations)} write operations; lookups are not shown (the preview assumes an empty org)")
    return "\n".join(lines) + "\n"


def _summary(op: dict[str, Any]) -> str:
    body = op.get("body") or {}
    if "Targets" in body:
        return f"{len(body['Targets'])} records"
    if "subject" in body:
        parties = body.get("email_activity_parties", [])
        bound = sum(1 for p in parties if any(k.startswith("partyid_") for k in p))
        return f"{_cut(str(body['subject']), 40)!r}, {len(parties)} parties ({bound} bound)"
    return _cut(json.dumps(body, ensure_ascii=False), 60)


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"
