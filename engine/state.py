"""SQLite state store: what this tool already wrote, so a re-run with nothing new writes nothing.

One row per written record: ``(kind, key)`` → Dataverse id, content hash and the columns as
written (so a changed record is updated with only its changed columns). Per mailbox, the
date ranges in which every message is known to be in the org (the incremental coverage).
The store is a cache of the
org's state, never the only truth: a lost state file costs lookups, not duplicates, because
every create is preceded by a lookup and uses a deterministic primary key.
"""

from __future__ import annotations

import functools
import hashlib
import json
import sqlite3
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from .private_files import ensure_private

SCHEMA_VERSION = 2

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS records (
    kind TEXT NOT NULL,
    key TEXT NOT NULL,
    dataverse_id TEXT,
    content_hash TEXT NOT NULL,
    columns TEXT NOT NULL,
    source_ref TEXT,
    written_at TEXT NOT NULL,
    PRIMARY KEY (kind, key)
);
CREATE TABLE IF NOT EXISTS mailboxes (
    mailbox TEXT PRIMARY KEY,
    coverage TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
"""


#: Rows of one INSERT: 7 values each, well inside SQLite's 32,766 variables (999 before 3.32).
_ROWS_PER_INSERT = 140


@functools.lru_cache(maxsize=8)
def _insert(rows: int) -> str:
    """``INSERT OR REPLACE`` of ``rows`` records in one statement (the full size is reused)."""
    return "INSERT OR REPLACE INTO records VALUES " + ",".join(["(?, ?, ?, ?, ?, ?, ?)"] * rows)


#: json.dumps with any setting but the defaults builds an encoder per call, a third of the cost
#: of serialising an email's one column; the state store serialises every record written.
_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str).encode


def _canonical(columns: dict[str, Any]) -> str:
    return _CANONICAL(columns)


def _hash_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


def content_hash(columns: dict[str, Any]) -> str:
    """Stable hash of a payload: canonical JSON (sorted keys, no spaces), SHA-256, 32 hex chars."""
    return _hash_text(_canonical(columns))


@dataclass(frozen=True, slots=True)
class Stored:
    """A record as the state store remembers it."""

    dataverse_id: str | None
    content_hash: str
    columns: dict[str, Any]


class StateStore:
    """The SQLite file behind ``--state``. ``StateStore(None)`` keeps the state in memory.

    Writes are grouped: call :meth:`commit` after each batch of results so a crash loses at most
    the rows of the batch in flight (which the next run finds again through lookups).
    """

    def __init__(self, path: str | Path | None):
        self.path = str(path) if path else ":memory:"
        if path:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            ensure_private(path)  # personal data: 0600, and SQLite gives -wal/-shm the same mode
        # check_same_thread=False: the store is only used from the orchestrating thread, but a
        # KeyboardInterrupt handler may close it from another frame.
        self._db = sqlite3.connect(self.path, check_same_thread=False)
        self._pending: list[tuple[Any, ...]] = []  # rows put and not yet written (see put)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)
        row = self._db.execute("SELECT value FROM meta WHERE name='schema_version'").fetchone()
        if row is None:
            self._db.execute("INSERT INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
            self._db.commit()

    # records -----------------------------------------------------------------------------

    def get_many(self, kind: str, keys: Iterable[str]) -> dict[str, Stored]:
        """Return the stored rows of ``kind`` for ``keys`` (missing keys are absent)."""
        self._flush()
        keys = list(keys)
        found: dict[str, Stored] = {}
        for start in range(0, len(keys), 500):  # SQLite's default variable limit is 999
            chunk = keys[start : start + 500]
            marks = ",".join("?" * len(chunk))
            for key, dv_id, h, cols in self._db.execute(
                f"SELECT key, dataverse_id, content_hash, columns FROM records WHERE kind=? AND key IN ({marks})",
                (kind, *chunk),
            ):
                found[key] = Stored(dv_id, h, json.loads(cols))
        return found

    def put(self, kind: str, key: str, dataverse_id: str | None, columns: dict[str, Any], source_ref: str = "") -> None:
        """Remember that ``key`` of ``kind`` now holds ``columns`` in the org under ``dataverse_id``."""
        text = _canonical(columns)  # serialised once: stored, and hashed (once per record written)
        # Written in one executemany before the next read or commit (or every 1,000 rows): one
        # statement per record cost more than the record's serialising and hashing together.
        self._pending.append((kind, key, dataverse_id, _hash_text(text), text, source_ref, _now()))
        if len(self._pending) >= 1000:
            self._flush()

    def _flush(self) -> None:
        """Write the rows :meth:`put` collected (before any read of them, and at commit).

        Many rows a statement, not ``executemany``: the sqlite3 module lets go of the GIL for
        every step, and each time the main thread waits to get it back from the writer's
        threads (up to a switch interval): at 1,000 rows a flush that cost a W10k sync up to
        0.7 s of wall."""
        if not self._pending:
            return
        rows, self._pending = self._pending, []
        for start in range(0, len(rows), _ROWS_PER_INSERT):
            chunk = rows[start:start + _ROWS_PER_INSERT]
            self._db.execute(_insert(len(chunk)), [value for row in chunk for value in row])

    def count(self, kind: str) -> int:
        """Number of stored records of ``kind``."""
        self._flush()
        return self._db.execute("SELECT COUNT(*) FROM records WHERE kind=?", (kind,)).fetchone()[0]

    # incremental coverage --------------------------------------------------------------------

    def coverage(self, mailbox: str) -> list[tuple[datetime, datetime]]:
        """Date ranges of ``mailbox`` in which every message is in the org, oldest first."""
        row = self._db.execute("SELECT coverage FROM mailboxes WHERE mailbox=?", (mailbox,)).fetchone()
        if row is None:
            return []
        return [(datetime.fromisoformat(lo), datetime.fromisoformat(hi)) for lo, hi in json.loads(row[0])]

    def add_coverage(self, mailbox: str, ranges: Iterable[tuple[datetime, datetime]]) -> None:
        """Add ranges to ``mailbox``'s coverage, merging those that overlap."""
        merged = merge_ranges([*self.coverage(mailbox), *ranges])
        self._db.execute(
            "INSERT OR REPLACE INTO mailboxes VALUES (?, ?, ?)",
            (mailbox, json.dumps([[lo.isoformat(), hi.isoformat()] for lo, hi in merged]), _now()),
        )

    def commit(self) -> None:
        """Make everything put so far durable."""
        self._flush()
        self._db.commit()

    def close(self) -> None:
        """Commit and close the database."""
        try:
            self._flush()
            self._db.commit()
        finally:
            self._db.close()

    def __enter__(self) -> StateStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def merge_ranges(ranges: Iterable[tuple[datetime, datetime]]) -> list[tuple[datetime, datetime]]:
    """Sorted, disjoint ranges covering the same instants as ``ranges`` (empty ones dropped)."""
    out: list[tuple[datetime, datetime]] = []
    for lo, hi in sorted(r for r in ranges if r[0] <= r[1]):
        if out and lo <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], hi))
        else:
            out.append((lo, hi))
    return out


def covered(ranges: list[tuple[datetime, datetime]], when: datetime) -> bool:
    """Whether ``when`` lies inside one of ``ranges`` (bounds included)."""
    return any(lo <= when <= hi for lo, hi in ranges)


_stamp: tuple[int, str] = (-1, "")


def _now() -> str:
    """The current UTC second as ``YYYY-MM-DDTHH:MM:SSZ``, formatted once per second (it is
    written with every record, 12,000 times in a W10k sync)."""
    global _stamp
    second = int(time.time())
    if _stamp[0] != second:
        _stamp = (second, datetime.fromtimestamp(second, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"))
    return _stamp[1]
