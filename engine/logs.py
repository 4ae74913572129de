"""Log set-up for the command line: verbosity, quiet, and text or JSON lines on stderr.

``-q`` leaves errors only; the default shows warnings and the progress lines
(``mail2dataverse.progress``, which a non-terminal gets at a steady interval); ``-v`` adds
information, ``-vv`` debug. ``--log-format json`` writes one JSON object per line for log
collectors: ``{"time", "level", "logger", "message"}`` plus the record's structured ``fields``
(a progress line carries its counts, rate and time left there).
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import datetime, timezone
from typing import Any

PROGRESS_LOGGER = "mail2dataverse.progress"


class JsonFormatter(logging.Formatter):
    """One JSON object per record; ``extra={"fields": {...}}`` adds structured fields."""

    def format(self, record: logging.LogRecord) -> str:
        """The record as one line of JSON (never a traceback across lines)."""
        out: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            out.update(fields)
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info).splitlines()[-1]
        return json.dumps(out, ensure_ascii=False, default=str)


def configure(*, verbose: int = 0, quiet: bool = False, fmt: str = "text", stream: Any = None) -> None:
    """Route the tool's logging to ``stream`` (stderr) at the level the flags ask for."""
    handler = logging.StreamHandler(stream or sys.stderr)
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler._mail2dataverse = True  # type: ignore[attr-defined]
    root = logging.getLogger()
    # Replace only our own handler from an earlier call (tests call main() many times); a
    # host's or pytest's handlers stay.
    for old in [h for h in root.handlers if getattr(h, "_mail2dataverse", False)]:
        root.removeHandler(old)
    root.addHandler(handler)
    if quiet:
        root.setLevel(logging.ERROR)
    else:
        root.setLevel([logging.WARNING, logging.INFO, logging.DEBUG][min(verbose, 2)])
    # Progress lines are what an unattended run's log is for: shown unless -q.
    logging.getLogger(PROGRESS_LOGGER).setLevel(logging.ERROR if quiet else logging.INFO)
