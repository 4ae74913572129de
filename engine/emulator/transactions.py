"""Atomic writes and ``$batch`` change sets over :class:`~.rows.TableRows`.

One re-entrant lock guards the whole store, so concurrent syncs see one consistent order of
creates and the same duplicate-key errors they would get from the real service. A transaction
opens the rows' journal; a failed operation or change set rolls back by restoring it. The
number of rows a committed transaction touched is reported to ``on_commit`` (the server's
``writes`` statistic), except while rows are being seeded.
"""

from __future__ import annotations

import threading
from typing import Callable

from .rows import TableRows


class Transactions:
    """The store's lock and the begin/commit/rollback of its journal."""

    def __init__(self, rows: TableRows):
        self.rows = rows
        self.lock = threading.RLock()
        # Called with the number of rows a committed transaction touched (the "writes" stat).
        self.on_commit: Callable[[int], None] | None = None
        self.seeding = False  # pre-existing data being loaded: not writes made by a client

    def atomic(self) -> "_Atomic":
        """Run a write atomically: roll back everything it touched if it raises.

        Nested calls join the outer transaction (a change set), which decides for all of them.
        A call from the thread already running a transaction joins it without taking the lock
        again (the lock is the thread's until the outer transaction ends).
        """
        # Only the lock's owner sets or clears the journal, so a journal and the lock held by
        # this thread mean this thread's transaction. (_is_owned is the RLock's own check,
        # the one threading.Condition uses.)
        if self.rows.journal is not None and self.lock._is_owned():
            return _JOINED
        return _Atomic(self, nested_ok=True)

    def changeset(self) -> "_Atomic":
        """Hold the lock for a whole change set; call ``tx.rollback()`` to undo it."""
        return _Atomic(self, nested_ok=False)

    def _committed(self, rows: int) -> None:
        if rows and not self.seeding and self.on_commit is not None:
            self.on_commit(rows)


class _Atomic:
    """The context manager of :meth:`Transactions.atomic` and :meth:`Transactions.changeset`.

    A class rather than ``@contextmanager``: every row write enters one, and a generator-based
    manager costs several times as much per use.
    """

    __slots__ = ("tx", "nested_ok", "outer")

    def __init__(self, tx: Transactions, nested_ok: bool):
        self.tx = tx
        self.nested_ok = nested_ok
        self.outer = False

    def __enter__(self) -> "ChangeSetTx | None":
        tx = self.tx
        tx.lock.acquire()
        rows = tx.rows
        if rows.journal is not None:
            if not self.nested_ok:
                tx.lock.release()
                raise AssertionError("change sets cannot nest")
            return None  # joins the running transaction, which decides
        self.outer = True
        rows.journal = {}
        return None if self.nested_ok else ChangeSetTx(rows)

    def __exit__(self, exc_type, exc, tb) -> bool:
        tx = self.tx
        try:
            if self.outer:
                rows = tx.rows
                try:
                    if exc_type is None:
                        try:
                            tx._committed(len(rows.journal))  # empty after a rollback
                        except BaseException:
                            rows.rollback()
                            raise
                    else:
                        rows.rollback()
                finally:
                    rows.journal = None
        finally:
            tx.lock.release()
        return False


class _Joined:
    """An atomic write inside the calling thread's running transaction: that one decides."""

    __slots__ = ()

    def __enter__(self) -> None:
        return None

    def __exit__(self, exc_type, exc, tb) -> bool:
        return False


_JOINED = _Joined()


class ChangeSetTx:
    """Handle for a running change set: lets the batch runner roll back on the first failure."""

    def __init__(self, rows: TableRows):
        self.rows = rows

    def rollback(self) -> None:
        """Undo every write made since the change set began."""
        self.rows.rollback()
