"""Library entry points: the same calls serve the CLI, the Azure Functions app and tests.

:func:`preview` maps and plans without any network; :func:`sync` writes to an org. Both take
already-resolved settings (no argv parsing, no environment reading except through
:func:`mail2dataverse.auth.auth_from_env`), so a host such as an Azure Function can call them.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .config import RunConfig
from .errors import ConfigError, Mail2DataverseError, SourceError
from .model import RecordRef
from .planner import LookupFailed, Planner
from .report import Report
from .state import StateStore

log = logging.getLogger("mail2dataverse.sync")


@dataclass
class Inputs:
    """Where records come from: files (``-`` for stdin, mbox, EML folders) or the Nylas CLI."""

    messages: str | None = None
    contacts: str | None = None
    fmt: str | None = None
    from_nylas: bool = False
    grant: str | None = None
    nylas_options: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_nylas_cli(cls, grant: str | None, *, with_headers: bool = False, limit: int | None = None,
                       contacts_source: str | None = None) -> Inputs:
        """The inputs of an export by the ``nylas`` CLI (``grant`` None: its default grant), as the
        CLI's ``--from-nylas`` and a hosted mailbox with a grant both ask for it."""
        options: dict[str, Any] = {"with_headers": with_headers, "limit": limit}
        if contacts_source:
            options["source"] = contacts_source
        return cls(from_nylas=True, grant=grant or None, nylas_options=options)


def build_runtime(config: RunConfig, mappings_dirs: Sequence[str | Path] = (), *, extra_plugins: Sequence[Any] = ()):
    """Plugin manager, typed plugin wrapper and compiled mappings for ``config``."""
    from .mapper import load_mappings
    from .pluginmanager import Plugins, make_plugin_manager

    pm = make_plugin_manager(disable=config.plugins_disable, extra=extra_plugins)
    plugins = Plugins(pm, config)
    mappings = load_mappings([Path(d) for d in mappings_dirs], plugins=plugins)
    return plugins, mappings


def _open_inputs(stack: ExitStack, inputs: Inputs, plugins: Any, *, report: Report | None = None,
                 state: StateStore | None = None, full: bool = True) -> tuple[Any, Any]:
    """Open and validate both inputs before anything is written."""
    from .sources import open_source

    def empty() -> Iterator[tuple[RecordRef, Any]]:
        return iter(())

    opened = []
    for kind, spec in (("contacts", inputs.contacts), ("messages", inputs.messages)):
        if inputs.from_nylas:
            from .sources.nylas_cli import nylas_export

            options = dict(inputs.nylas_options)
            if state is not None and not full and options.get("with_headers"):
                # One `nylas email read` per message is slow: skip messages the incremental
                # coverage will skip anyway (their identity is not needed).
                options["header_filter"] = _not_yet_covered(state)
            src = stack.enter_context(nylas_export(kind, grant=inputs.grant, **options))
        elif spec:
            src = stack.enter_context(open_source(spec, kind, plugins=plugins, fmt=inputs.fmt))
        else:
            opened.append(empty())
            continue
        # A truncated or damaged export is refused whole, before the first write, so it never
        # looks like a complete one.
        src.validate()
        if report is not None:
            report.sources.append({"kind": kind, "name": src.name, "records": src.count, **_where(spec, inputs), **_meta(src)})
            # Warnings come while records are read (a header fetch that failed...): collected
            # when the inputs close, after the run has read everything.
            stack.callback(_collect_warnings, src, report)
        opened.append(src)
    return opened[0], opened[1]


def _collect_warnings(src: Any, report: Report) -> None:
    report.warnings.extend(getattr(src, "warnings", []))


def _where(spec: str | None, inputs: Inputs) -> dict[str, Any]:
    """The input's path and size for the report (``--from-nylas`` and stdin have neither)."""
    if inputs.from_nylas or not spec or spec == "-":
        return {"path": None if not spec or inputs.from_nylas else "-", "bytes": None}
    try:
        size = os.path.getsize(spec) if os.path.isfile(spec) else None
    except OSError:
        size = None
    return {"path": os.path.abspath(spec), "bytes": size}


def _meta(src: Any) -> dict[str, Any]:
    meta = getattr(src, "meta", None) or {}
    return {"meta": dict(meta)} if meta else {}


def _not_yet_covered(state: StateStore):
    """A header filter: fetch headers only for messages the incremental coverage will not skip."""
    from datetime import datetime

    from .state import covered

    cache: dict[str, Any] = {}

    def wanted(record: dict[str, Any]) -> bool:
        grant = record.get("grant_id") or ""
        if grant not in cache:
            cache[grant] = state.coverage(grant)
        ranges = cache[grant]
        if not ranges:
            return True
        try:
            return not covered(ranges, datetime.fromisoformat(str(record.get("date"))))
        except (ValueError, TypeError):  # unparsable or naive: fetch, the mapper decides
            return True

    return wanted


def preview(
    inputs: Inputs,
    config: RunConfig,
    mappings_dirs: Sequence[str | Path] = (),
    *,
    extra_plugins: Sequence[Any] = (),
    report: Report | None = None,
) -> tuple[list[dict[str, Any]], Report]:
    """The write operations a sync would send to an org holding none of these records.

    :returns: the recorded operations (``phase``, ``method``, ``path``, ``body``, and
        ``changeset``/``content_id`` for change-set members) and the report of the dry run.
    """
    from .writers.dry_run import DryRunExecutor

    plugins, mappings = build_runtime(config, mappings_dirs, extra_plugins=extra_plugins)
    executor = DryRunExecutor()
    report = report if report is not None else Report(dry_run=True)
    report.dry_run = True
    _note_mappings(report, mappings_dirs)
    with ExitStack() as stack:
        contacts, messages = _open_inputs(stack, inputs, plugins, report=report)
        state = stack.enter_context(StateStore(None))
        Planner(mappings, plugins, config, executor, state, report, full=True).run(contacts, messages)
    return executor.recorded, report


def sync(
    inputs: Inputs,
    config: RunConfig,
    *,
    url: str,
    auth: Any,
    mappings_dirs: Sequence[str | Path] = (),
    state_path: str | Path | None = None,
    full: bool = False,
    verify: bool | str = True,
    extra_plugins: Sequence[Any] = (),
    progress: Any = None,
    client_options: dict[str, Any] | None = None,
    report: Report | None = None,
    probe: bool = True,
) -> Report:
    """Write the inputs to the org at ``url``; every input record ends up in the report.

    :param auth: a :class:`~mail2dataverse.auth.TokenProvider` (see ``auth_from_env``), or a list of
        them to act as several application users (``auth_providers``).
    :param state_path: the SQLite state file; ``None`` keeps state in memory (every run then
        relies on lookups alone, which is slower but still never duplicates).
    :param progress: a :class:`~mail2dataverse.progress.RunProgress` (or None): started with the
        inputs' record counts, called by the planner, closed at the end.
    :param report: the report to fill (the CLI passes the one its ``--report`` file shows, so an
        interrupted run still reports what it did); a new one when None.
    :param probe: first ask the org ``WhoAmI`` without retries, so a wrong URL, a closed port, a
        DNS or TLS failure or a server that is not Dataverse ends the run at once
        (:class:`~mail2dataverse.probe.OrgUnreachable`); retries are for an org that answered.
    :raises ConfigError, SourceError: before anything is written (``OrgUnreachable`` is one).
    """
    from .writers.live import WebApiExecutor
    from .writers.webapi import WebApiClient

    if config.create_completed and config.batch_size < 2:
        # An email's change set (create, then mark completed) is never split across $batch
        # requests; found out before phase 1 writes anything, not half-way through the run.
        raise ConfigError(
            f"batch_size {config.batch_size} cannot hold an email's change set of 2 operations "
            "(create, then mark completed): use 2 or more, or create_completed: false"
        )
    plugins, mappings = build_runtime(config, mappings_dirs, extra_plugins=extra_plugins)
    report = report if report is not None else Report(dry_run=False)
    report.run["org_url"] = url
    _note_mappings(report, mappings_dirs)
    if probe:
        from .probe import probe as probe_org

        identity = probe_org(url, auth[0] if isinstance(auth, (list, tuple)) else auth, verify=verify)
        report.run["organization_id"] = identity.organization_id
    opts = {"max_batch_operations": config.batch_size, "max_parallel": config.max_parallel, "verify": verify,
            "target_seconds": config.batch_seconds, "keep_affinity": config.keep_affinity,
            "max_batch_bytes": config.attachments.max_batch_bytes}
    opts.update(client_options or {})
    with ExitStack() as stack:
        state = stack.enter_context(StateStore(state_path))
        contacts, messages = _open_inputs(stack, inputs, plugins, report=report, state=state, full=full)
        client = stack.enter_context(WebApiClient(url, auth, **opts))
        if progress is not None:
            _add_throughput_fields(progress, client, report, getattr(messages, "count", 0) or 0)
            progress.start({"contacts": getattr(contacts, "count", 0) or 0,
                            "emails": getattr(messages, "count", 0) or 0})
            stack.callback(progress.close)
        planner = Planner(mappings, plugins, config, WebApiExecutor(client), state, report, full=full,
                          progress=progress)
        try:
            planner.run(contacts, messages)
        except LookupFailed as exc:
            # Stopping is safe: what was written is in the state store, and the next run's
            # lookups find the rest. Writing without lookups could duplicate records.
            report.stopped = str(exc)
            stopped = RunStopped(f"{exc}; nothing more was written, re-run to continue")
            stopped.report = report
            raise stopped from exc
        finally:
            report.http = dict(client.stats)
            report.http["estimated_seconds_left"] = estimated_seconds_left(client, report, getattr(messages, "count", 0) or 0)
    return report


def _add_throughput_fields(progress: Any, client: Any, report: Report, expected_emails: int) -> None:
    """Show the writer's measured server time, budget in use and time left with the progress."""
    add = getattr(progress, "add_field", None)
    if add is None:
        return

    def server_time() -> str:
        # The kind that costs the most in all (emails, in a sync): one short figure on the line.
        kinds = client.sizer.snapshot()
        if not kinds:
            return "?"
        kind, figures = max(kinds.items(), key=lambda kv: kv[1]["server_seconds"])
        return f"{kind.split()[0]} {figures['server_seconds_per_operation'] * 1000:.0f} ms"

    def budget() -> str:
        return f"{client.throughput()['budget_in_use']:.0%}"

    def left() -> str:
        seconds = estimated_seconds_left(client, report, expected_emails)
        return "?" if seconds is None else f"{seconds:,.0f} s"

    add("server/op", server_time)
    add("budget", budget)
    add("server left", left)


def estimated_seconds_left(client: Any, report: Report, expected_emails: int) -> float | None:
    """Seconds the emails not yet written need at the measured server time and sustained rate.

    Server seconds spent per email written so far, times the emails left, over the server
    seconds per second the users sustained lately (converted to real seconds on an emulator
    whose clock runs faster). None until both have been measured.
    """
    kinds = client.sizer.snapshot()
    spent = sum(v["server_seconds"] for k, v in kinds.items() if k.startswith("emails "))
    written = report.entities["email"].created
    figures = client.throughput()
    rate = figures["server_seconds_per_second"]
    left = max(0, expected_emails - report.entities["email"].total())
    if left == 0:
        return 0.0
    if not spent or not written or not rate:
        return None
    return round(left * spent / written / rate / figures["time_scale"], 1)


def _note_mappings(report: Report, mappings_dirs: Sequence[str | Path]) -> None:
    from .runfile import mappings_digest

    report.run.setdefault("digests", {})["mappings"] = mappings_digest(mappings_dirs)


class RunStopped(Mail2DataverseError):
    """The run stopped part-way (the org could not be read); ``report`` holds what was done."""

    report: Report | None = None


__all__ = ["Inputs", "preview", "sync", "build_runtime", "RunStopped", "SourceError", "ConfigError"]
