"""The preview's spool: explanation records on disk while the plan runs, then read back once.

A preview prints its summary first, but the summary is only known once the last record is
planned. Holding every record until then is what made a 200,000-message preview need 2 GB;
instead each record is serialised once, as one JSON line, into a temporary file per section
(accounts, contacts, emails, addresses) the moment the planner settles it. The renderers then
stream the sections back in order. Memory stays flat whatever the export's size; the files
vanish when the spool is closed (or the process dies: they are unlinked at creation).
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterator
from typing import IO, Any

#: the sections of a preview, in output order
SECTIONS = ("account", "contact", "email", "address")

_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), default=str).encode
#: lines held per section before they go to the file in one write (a write per record cost as
#: much as a third of the encoding); a few hundred records, so memory stays flat
_BATCH = 256


class Spool:
    """Per-section temporary files of JSON lines, with a count per section."""

    def __init__(self) -> None:
        self._files: dict[str, IO[str]] = {}
        self._held: dict[str, list[str]] = {section: [] for section in SECTIONS}
        self.counts: dict[str, int] = dict.fromkeys(SECTIONS, 0)

    def write(self, section: str, record: dict[str, Any]) -> None:
        """Serialise ``record`` into ``section`` (one line)."""
        held = self._held[section]
        held.append(_dumps(record))
        self.counts[section] += 1
        if len(held) >= _BATCH:
            self._flush(section)

    def _flush(self, section: str) -> None:
        held = self._held[section]
        if not held:
            return
        f = self._files.get(section)
        if f is None:
            f = self._files[section] = tempfile.TemporaryFile(
                "w+", encoding="utf-8", newline="\n", buffering=1 << 20, prefix=f"m2d-preview-{section}-")
        held.append("")  # the last line's newline
        f.write("\n".join(held))
        held.clear()

    def lines(self, section: str) -> Iterator[str]:
        """The JSON lines of ``section`` in the order they were written (newline stripped)."""
        self._flush(section)
        f = self._files.get(section)
        if f is None:
            return
        f.flush()
        f.seek(0)
        for line in f:
            yield line[:-1]

    def records(self, section: str) -> Iterator[dict[str, Any]]:
        """The records of ``section``, decoded one at a time."""
        loads = json.loads
        for line in self.lines(section):
            yield loads(line)

    def close(self) -> None:
        """Delete the files. Safe to call twice."""
        for f in self._files.values():
            f.close()
        self._files.clear()
        for held in self._held.values():
            held.clear()

    def __enter__(self) -> Spool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
