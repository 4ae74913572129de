"""The preview: what a sync will change, record by record and field by field, in bounded memory.

:func:`run_preview` runs the real planner. Without a URL its executor assumes an empty org
(:class:`~mail2dataverse.writers.dry_run.DryRunExecutor`); with one, the
:class:`~.executor.ReadOnlyExecutor` sends the planner's lookups to the org and never a write.
The planner tells the :class:`~.explain.Explainer` how each record ends and why; the records go,
formatted at once (:func:`~.render.record_format`), to a :class:`~.spool.Spool` on disk as they
are settled, and once the input has been read (once, validated as it streams: damaged input
stops the preview before a single byte of output) the summary is printed first and the sections
are copied out after it (:mod:`.render`, :mod:`.html`).

Modules: :mod:`.executor` (read-only org access), :mod:`.explain` (explanation records),
:mod:`.spool`, :mod:`.select` (``--limit``/``--sample``/``--where``/``--only``),
:mod:`.render` (json, ndjson, yaml, table), :mod:`.html`.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import IO, Any

from ..config import RunConfig
from ..state import StateStore
from .explain import OUTCOMES, Explainer
from .render import FORMATS, record_format, render, terminal_width
from .select import Counted, Selection, apply
from .spool import Spool

__all__ = ["FORMATS", "Selection", "run_preview"]

#: the statuses of the resolution report's addresses
STATUSES = ("resolved", "ambiguous", "unresolved")


class _PreviewState(StateStore):
    """An empty, in-memory state store that remembers nothing: a preview writes no state, and
    keeping a row per email planned would grow with the export."""

    def put(self, kind: str, key: str, dataverse_id: str | None, columns: dict[str, Any], source_ref: str = "") -> None:
        """Nothing is remembered (the preview writes nothing)."""

    def add_coverage(self, mailbox: str, ranges: Any) -> None:
        """Nothing is remembered (the preview writes nothing)."""


def _open(stack: ExitStack, inputs: Any, plugins: Any, kind: str) -> Any:
    """One input, opened for a single streaming read (no validating pre-pass)."""
    spec = inputs.contacts if kind == "contacts" else inputs.messages
    if inputs.from_nylas:
        from ..sources.nylas_cli import nylas_export

        return stack.enter_context(nylas_export(kind, grant=inputs.grant, **dict(inputs.nylas_options)))
    if spec:
        from ..sources import open_source

        return stack.enter_context(open_source(spec, kind, plugins=plugins, fmt=inputs.fmt))
    return None


def run_preview(
    inputs: Any,
    config: RunConfig,
    mappings_dirs: Sequence[str | Path] = (),
    *,
    out: IO[str],
    fmt: str = "json",
    selection: Selection | None = None,
    url: str | None = None,
    auth: Any = None,
    verify: bool | str = True,
    client_options: dict[str, Any] | None = None,
    extra_plugins: Sequence[Any] = (),
    width: int | None = None,
    report: Any = None,
) -> Any:
    """Plan ``inputs`` and write the explained preview to ``out`` in ``fmt``.

    :param url: the org to read (lookups only); None previews against an empty org.
    :param auth: the token provider for ``url`` (see :func:`~mail2dataverse.auth.auth_from_env`).
    :param report: the :class:`~mail2dataverse.report.Report` to fill (a new one when None).
    :returns: the dry run's report (with the resolution report).
    :raises SourceError: damaged input, before anything is written to ``out``.
    """
    from ..planner import Planner
    from ..report import Report
    from ..sync import _note_mappings, build_runtime
    from ..writers.dry_run import DryRunExecutor

    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    selection = selection or Selection()
    width = terminal_width(width) if fmt == "table" else width
    plugins, mappings = build_runtime(config, mappings_dirs, extra_plugins=extra_plugins)
    with ExitStack() as stack:
        spool = stack.enter_context(Spool(record_format(fmt, width)))
        client = None
        columns: dict[str, Any] = {}
        navigations: dict[str, Any] = {}
        if url:
            from ..probe import probe
            from ..writers.webapi import WebApiClient
            from .executor import ReadOnlyExecutor

            # As for a sync: a wrong URL ends the preview at once, before the client's retries.
            probe(url, auth, verify=verify)

            opts = {"max_batch_operations": config.batch_size, "max_parallel": config.max_parallel, "verify": verify}
            opts.update(client_options or {})
            client = stack.enter_context(WebApiClient(url, auth, **opts))
            executor: Any = ReadOnlyExecutor(client)
            columns = {t: executor.columns(t) for t in ("account", "contact", "email")}
            navigations = {t: executor.navigations(t) for t in ("account", "contact", "email")}
        else:
            executor = DryRunExecutor(keep=False)
        explainer = Explainer(spool, None, against_org=bool(url), columns=columns,  # type: ignore[arg-type]
                              navigations=navigations, shown=selection.shown)
        report = report if report is not None else Report(dry_run=True)
        report.dry_run = True
        report.on_skip = explainer.skipped
        _note_mappings(report, mappings_dirs)
        streams: dict[str, Counted] = {}
        read: list[tuple[dict[str, Any], Counted]] = []
        for kind in ("contacts", "messages"):
            src = _open(stack, inputs, plugins, kind)
            streams[kind] = Counted(src if src is not None else (), src.name if src is not None else kind)
            if src is not None:
                entry = {"kind": kind, "name": src.name}
                report.sources.append(entry)
                read.append((entry, streams[kind]))
        if inputs.from_nylas:
            selection.limit_applied_by_source = True
        picked = {k: apply(selection, v, plugins) if k == selection.kind else iter(v) for k, v in streams.items()}
        state = stack.enter_context(_PreviewState(None))
        planner = Planner(mappings, plugins, config, executor, state, report, full=True, explain=explainer)
        explainer.resolution = planner.context.resolution
        planner.run(picked["contacts"], picked["messages"])
        for entry, counted in read:
            entry["records"] = counted.read
            if not counted.whole:
                # --limit stopped the reading: say so, the rest was neither planned nor checked
                entry["rest_not_read"] = True
        if "email" in selection.shown:
            for item in planner.context.resolution.entries():
                spool.write("address", {"kind": "address", **item})
        if client is not None:
            report.http = dict(client.stats)
        summary = _summary(report, explainer, executor, selection, url)
        render(fmt, summary, spool, out, width=width)
    return report


def _summary(report: Any, explainer: Explainer, executor: Any, selection: Selection, url: str | None) -> dict[str, Any]:
    """The summary record: counts per table and outcome, then the facts of the run."""
    tables = {t: {o: explainer.tally[t].get(o, 0) for o in OUTCOMES if o != "failed" or explainer.tally[t].get(o)}
              for t in ("account", "contact", "email")}
    outcomes = [o for o in OUTCOMES if any(o in counts for counts in tables.values())]
    out: dict[str, Any] = {
        "kind": "summary",
        "against": url,
        "outcomes": outcomes,
        "tables": tables,
        "inputs": dict(report.inputs),
        "sources": report.sources,
        "selection": selection.describe(),
        "addresses": explainer.resolution.counts(),
        "statuses": list(STATUSES),
        "skip_reasons": {t: dict(sorted(c.skip_reasons.items())) for t, c in report.entities.items() if c.skip_reasons},
        "unlinked": len(report.unlinked),
        "warnings": report.warnings[:20],
        "writes_not_sent": dict(sorted(executor.writes_not_sent.items())),
    }
    if report.http:
        out["requests"] = {k: report.http[k] for k in ("requests", "batches") if k in report.http}
    return out
