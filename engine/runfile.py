"""The report file: written when a run starts, replaced atomically when it ends, however it ends.

A monitor reads ``--report FILE`` after every scheduled run. It must never read an earlier
run's ``"ok": true`` after this one failed, so :class:`RunFile`

* replaces the file as soon as the run starts (``"outcome": "running"``), before the first
  setting is even read: a run killed with SIGKILL leaves "running", never yesterday's result;
* replaces it again on every exit (0, 1, 2, 3, 130 on Ctrl-C, 143 on SIGTERM) and on dry runs,
  with the run's id, start and end in UTC, duration, the tool's version, the org URL, the
  inputs (paths, sizes, record counts), digests of the config and mapping files, the outcome
  and a plain-language summary;
* writes through a temporary file in the same folder, then ``os.replace``: a reader sees the
  old file or the new one, never half of one. The file is created with mode 0600 (it names
  mailboxes and addresses).
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import time
import uuid
from collections.abc import Iterable
from datetime import datetime, timezone
from pathlib import Path

from . import __version__
from .report import Report

#: outcome for the process exit statuses that do not come from the report's own counts
_FORCED = {2: "usage_error", 130: "interrupted", 143: "terminated"}


def utc_now() -> str:
    """The current time in UTC, ISO 8601 with ``Z`` and milliseconds."""
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def write_atomic(path: str | Path, text: str) -> None:
    """Replace ``path`` with ``text`` in one step (temporary file + rename), mode 0600."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)  # mkstemp: 0600
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def file_digest(path: str | Path | None) -> str | None:
    """``sha256:<hex>`` of a file's bytes, or None without a file."""
    if not path or str(path) == "-":
        return None
    try:
        return "sha256:" + hashlib.sha256(Path(path).read_bytes()).hexdigest()
    except OSError:
        return None


def mappings_digest(dirs: Iterable[str | Path]) -> str:
    """``sha256:<hex>`` over the shipped mapping files and every YAML file of ``dirs``, in order.

    Two runs with the same digest mapped with the same files, whatever the folders were called.
    """
    from importlib import resources

    h = hashlib.sha256()
    folders = [Path(str(resources.files("mail2dataverse.mappings")))] + [Path(d) for d in dirs]
    for folder in folders:
        files = sorted(folder.glob("*.y*ml")) if folder.is_dir() else [folder]
        for f in files:
            try:
                data = f.read_bytes()
            except OSError:
                continue
            h.update(f.name.encode() + b"\0" + hashlib.sha256(data).digest())
    return "sha256:" + h.hexdigest()


class RunFile:
    """The ``--report FILE`` of one run (``path`` None: the run metadata is kept, nothing written)."""

    def __init__(self, path: str | Path | None, report: Report, *, command: str):
        self.path = Path(path) if path else None
        self.report = report
        self.finished = False
        self._started = time.monotonic()
        report.run.update({
            "id": uuid.uuid4().hex,
            "command": command,
            "tool": "mail2dataverse",
            "version": __version__,
            "started": utc_now(),
            "ended": None,
            "duration_s": None,
            "org_url": None,
            "digests": {"config": None, "mappings": None},
        })

    def start(self) -> None:
        """Replace any earlier report with this run's ``running`` one.

        :raises OSError: the file cannot be written (its folder is missing or read-only): found
            before anything else is done.
        """
        self.report.forced_outcome = "running"
        self._write()
        self.report.forced_outcome = None

    def finish(self, exit_status: int, error: str | None = None) -> None:
        """Write the final report for a run that ends with ``exit_status``.

        Statuses 2, 130 and 143 say how the run ended whatever the counts say; any other status
        the counts disagree with (an error the report did not see) makes the run ``stopped``.
        Only the first call counts: the command finishes its report before printing it, and the
        CLI's catch-all finish after it is then a no-op.
        """
        if self.finished:
            return
        self.finished = True
        report = self.report
        report.forced_outcome = _FORCED.get(exit_status)
        if report.forced_outcome is None and report.exit_code() != exit_status:
            report.forced_outcome = "stopped"
            report.stopped = report.stopped or error or f"exit status {exit_status}"
        if error and report.error is None:
            report.error = error
        report.run["ended"] = utc_now()
        report.run["duration_s"] = round(time.monotonic() - self._started, 3)
        self._write()

    def _write(self) -> None:
        if self.path is not None:
            write_atomic(self.path, self.report.to_json() + "\n")
