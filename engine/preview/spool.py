"""The preview's spool: each record, already in the output format, on disk until the summary is out.

A preview prints its summary first, but the summary is only known once the last record is
planned. Holding every record until then is what made a 200,000-message preview need 2 GB;
instead each record is turned into its final text (a JSON line, a YAML document, a table line,
an HTML row: the format's :class:`~.render.RecordFormat`) the moment the planner settles it,
and that text goes into a temporary file per section (accounts, contacts, emails, addresses).
The renderers then copy the sections out in order, in large blocks. Each record is encoded
once, and never read back into Python objects (a JSON spool decoded again for the YAML, table
and HTML formats cost more than all the rest of the preview). Memory stays flat whatever the
export's size; the files vanish when the spool is closed (or the process dies: they are
unlinked at creation).
"""

from __future__ import annotations

import codecs
import json
import os
import tempfile
from collections.abc import Callable
from typing import IO, Any

#: the sections of a preview, in output order
SECTIONS = ("account", "contact", "email", "address")

#: the JSON text of a value, as every format reads it: the summary's, and :func:`plain`'s (the
#: ``json`` and ``ndjson`` records are written by :func:`~..jsontext.dumps_bytes`, the same text
#: in a sixth of the time); records are trees the explainer built, hence no circular-reference
#: bookkeeping
dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), default=str, check_circular=False).encode

#: bytes held per section before they go to the file in one write (a write per record cost
#: as much as a third of the encoding): a few hundred records, so memory stays flat
_BATCH_BYTES = 1 << 19
#: the block size sections are copied out in
_COPY = 1 << 20
#: whether a text stream writes "\n" as it is (then its bytes can be written under it directly)
_UTF8 = os.linesep == "\n"


def plain(value: Any) -> Any:
    """``value`` as it reads back from its JSON text (tuples become lists, keys strings, other
    objects their ``str``): what every format shows of a value that is not plain JSON data."""
    return json.loads(dumps(value))


class Spool:
    """Per-section temporary files of formatted records, with a count per section.

    :param encode: ``(section, record) → UTF-8 bytes``: the record as the output shows it
        (bytes, so the JSON formats' text goes in as orjson writes it: :mod:`..jsontext`).
    """

    def __init__(self, encode: Callable[[str, dict[str, Any]], bytes]) -> None:
        self._encode = encode
        self._files: dict[str, IO[bytes]] = {}
        self._held: dict[str, list[bytes]] = {section: [] for section in SECTIONS}
        self._size: dict[str, int] = dict.fromkeys(SECTIONS, 0)
        self.counts: dict[str, int] = dict.fromkeys(SECTIONS, 0)

    def write(self, section: str, record: dict[str, Any]) -> None:
        """Format ``record`` and add it to ``section``."""
        data = self._encode(section, record)
        self._held[section].append(data)
        self.counts[section] += 1
        size = self._size[section] = self._size[section] + len(data)
        if size >= _BATCH_BYTES:
            self._flush(section)

    def _flush(self, section: str) -> None:
        held = self._held[section]
        if not held:
            return
        f = self._files.get(section)
        if f is None:
            f = self._files[section] = tempfile.TemporaryFile("w+b", prefix=f"m2d-preview-{section}-")
        f.write(b"".join(held))
        held.clear()
        self._size[section] = 0

    def copy(self, section: str, out: IO[str]) -> None:
        """Write ``section``'s records to ``out``, in the order they were written."""
        self._flush(section)
        f = self._files.get(section)
        if f is not None:
            f.flush()
            f.seek(0)
            raw = getattr(out, "buffer", None)
            if raw is not None and _UTF8 and (getattr(out, "encoding", "") or "").lower().replace("-", "") == "utf8":
                out.flush()  # the bytes go straight to the file under ``out`` (no decoding, no encoding)
                write_bytes = raw.write
                block = f.read(_COPY)
                while block:
                    write_bytes(block)
                    block = f.read(_COPY)
            else:
                decode = codecs.getincrementaldecoder("utf-8")().decode
                block = f.read(_COPY)
                while block:
                    out.write(decode(block))
                    block = f.read(_COPY)
                out.write(decode(b"", final=True))
            f.seek(0, 2)  # a later write appends

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
