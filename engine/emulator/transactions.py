"""Atomic writes and ``$batch`` change sets over :class:`~.rows.TableRows`.

One re-entrant lock guards the whole store, so concurrent syncs see one consistent order of
creates and the same duplicate-key errors they would get from the real service. A transaction
opens the rows' journal; a failed operation or change set rolls back by restoring it. The
number of rows a committed transaction touched is reported to ``on_commit`` (the server's
``writes`` statistic), except while rows are being seeded.
"""

from __future__ import annotations

import threading
from contextlib import contextmanager
from typing import Callable, Iterator

from .rows import TableRows


class Transactions:
    """The store's lock and the begin/commit/rollback of its journal."""

    def __init__(self, rows: TableRows):
        self.rows = rows
        self.lock = threading.RLock()
        # Called with the number of rows a committed transaction touched (the "writes" stat).
        self.on_commit: Callable[[int], None] | None = None
        self.seeding = False  # pre-existing data being loaded: not writes made by a client

    @contextmanager
    def atomic(self) -> Iterator[None]:
        """Run a write atomically: roll back everything it touched if it raises.

        Nested calls join the outer transaction (a change set), which decides for all of them.
        """
        with self.lock:
            if self.rows.journal is not None:
                yield
                return
            self.rows.journal = {}
            try:
                yield
                self._committed(len(self.rows.journal))
            except BaseException:
                self.rows.rollback()
                raise
            finally:
                self.rows.journal = None

    @contextmanager
    def changeset(self) -> Iterator["ChangeSetTx"]:
        """Hold the lock for a whole change set; call ``tx.rollback()`` to undo it."""
        with self.lock:
            assert self.rows.journal is None, "change sets cannot nest"
            self.rows.journal = {}
            tx = ChangeSetTx(self.rows)
            try:
                yield tx
                self._committed(len(self.rows.journal))  # empty after a rollback
            except BaseException:
                self.rows.rollback()
                raise
            finally:
                self.rows.journal = None

    def _committed(self, rows: int) -> None:
        if rows and not self.seeding and self.on_commit is not None:
            self.on_commit(rows)


class ChangeSetTx:
    """Handle for a running change set: lets the batch runner roll back on the first failure."""

    def __init__(self, rows: TableRows):
        self.rows = rows

    def rollback(self) -> None:
        """Undo every write made since the change set began."""
        self.rows.rollback()
