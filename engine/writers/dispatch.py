"""The dispatcher: a queue of work, cut into batches as slots free up, sent over the users, settled.

:meth:`Dispatcher.submit` queues operations and change sets and returns a :class:`Job` at once,
so the caller maps and plans its next chunk while this one is in flight. One dispatching thread
takes a slot from the :class:`~.governor.Governor` (a user with room), then cuts the next batch
from the front of the queue:

* sized by the :class:`~.sizing.BatchSizer` for the kinds at the front (measured server time per
  operation, so a batch is never predicted to pass its bound), and no bigger than a fair share of
  what is queued (so every slot gets work, also at the end of a chunk);
* skipping, for now, any item that writes a row a request in flight writes (the service answers
  concurrent writes of one row with SQL deadlocks): it waits at the front for its turn;
* skipping, for now, a change set that binds to a row another unfinished item creates
  (:attr:`~mail2dataverse.operations.ChangeSet.after`: a reply and the email it answers), unless
  that item is in the same batch before it (a ``$batch`` runs its parts in order);
* a bulk message with more targets than its size is split (its tag is a
  :class:`~mail2dataverse.operations.BulkTag`), the rest staying at the front.

Each answer is handled by kind (:mod:`.batch_runner`): results go back to their jobs; a 429
rests that user and puts the batch back at the front for any user; an answer whose outcome is
unknown (timeout, cut-off connection, the service's SQL timeout, a gateway error) is *settled*:
after the service has surely given up on it, the rows its creates would have made are looked up
(:class:`~mail2dataverse.operations.Rows`, the planner's deterministic ids), the items that
landed get success results, and only the rest are queued again. No landed row is reported failed.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from mail2dataverse.operations import BulkTag, ChangeSet, Operation, Result, payload_bytes
from mail2dataverse.writers.batch import count_operations, map_batch_failure
from mail2dataverse.writers.batch_runner import EXECUTION_TIME_CODE, Answer, BatchRunner, is_timeout
from mail2dataverse.writers.governor import Governor, Lane
from mail2dataverse.writers.settle import landed_items
from mail2dataverse.writers.sizing import REQUEST_LIMIT, BatchSizer, bulk_message, fair_share, kind_of, split_bulk, units_of
from mail2dataverse.writers.transport import HttpStats

log = logging.getLogger("mail2dataverse.webapi")

#: Work is shared out over the slots only down to batches of this much server time: below it,
#: one request more costs more than the parallelism wins.
MIN_SHARE_SECONDS = 0.5
#: How often one item may be throttled before its 429 becomes its result.
MAX_THROTTLES = 50


class Job:
    """The results of one :meth:`Dispatcher.submit` call, once every item has them."""

    def __init__(self, items: Sequence[Operation | ChangeSet], continue_on_error: bool):
        self.items = list(items)
        self.continue_on_error = continue_on_error
        self._pieces: list[list[tuple[int, list[Result]]]] = [[] for _ in self.items]
        self._open = [1] * len(self.items)
        self._left = len(self.items)
        self._done = threading.Event()
        self.error: BaseException | None = None
        if not self.items:
            self._done.set()

    def done(self) -> bool:
        """Whether every item has its results (or the job failed)."""
        return self._done.is_set()

    def result(self) -> list[Result]:
        """Wait for the results: one per operation in input order (a split bulk message: one per part).

        :raises BaseException: what stopped the job (e.g. an :class:`~mail2dataverse.errors.AuthError`).
        """
        self._done.wait()
        if self.error is not None:
            raise self.error
        out: list[Result] = []
        for pieces in self._pieces:
            for _, results in sorted(pieces, key=lambda p: p[0]):
                out.extend(results)
        return out

    # called by the dispatcher under its lock
    def _put(self, index: int, piece: int, results: list[Result]) -> None:
        self._pieces[index].append((piece, results))
        self._open[index] -= 1
        if self._open[index] == 0:
            self._left -= 1
            if self._left == 0:
                self._done.set()

    def _split(self, index: int) -> None:
        self._open[index] += 1

    def _fail(self, error: BaseException) -> None:
        if self.error is None:
            self.error = error
        self._done.set()


@dataclass
class _Entry:
    """One queued item of a job (a piece of it, when a bulk message was split)."""

    job: Job
    index: int
    item: Operation | ChangeSet
    piece: int = 0
    attempts: int = 0
    throttles: int = 0
    keys: frozenset = field(default_factory=frozenset)
    kind: str = ""
    units: int = 1
    # Fixed per item, read on every pass of _take over the queue (thousands of entries):
    n_ops: int = 1  # operations it puts in a batch
    carried: int = 0  # bytes of file content
    after: frozenset | None = None  # rows it binds to (ChangeSet.after)
    reads: bool = False  # a GET


def _entry(job: Job, index: int, item: Operation | ChangeSet, piece: int = 0) -> _Entry:
    if isinstance(item, ChangeSet):
        # One pass over the members (an email's change set: its create and its completion),
        # for every change set of the run.
        ops = item.operations
        keys: set = set()
        carried = 0
        for op in ops:
            if op.rows is not None:
                keys.update(op.rows.keys())
            if op.body:
                carried += payload_bytes(op.body)
        n = len(ops)
        return _Entry(job, index, item, piece, keys=frozenset(keys), kind=kind_of(item), units=n, n_ops=n,
                      carried=carried, after=item.after)
    rows = frozenset(item.rows.keys()) if item.rows is not None else frozenset()
    return _Entry(job, index, item, piece, keys=rows, kind=kind_of(item), units=units_of(item),
                  carried=item.payload_bytes, reads=item.method == "GET")


class Dispatcher:
    """Cuts queued work into batches, sends them over the governor's users, settles the answers."""

    def __init__(self, governor: Governor, sizer: BatchSizer, runner: BatchRunner, stats: HttpStats, *,
                 max_operations: int, max_retries: int, sleep: Callable[[float], None] = time.sleep,
                 backoff: Callable[[int], float] = lambda attempt: 0.0):
        self.governor = governor
        self.sizer = sizer
        self.runner = runner
        self.stats = stats
        self.max_operations = max_operations
        #: attachment bytes (streamed file content) one $batch may carry; a bigger change set goes alone
        self.max_bytes = 32 * 1024 * 1024
        self.max_retries = max_retries
        self._sleep = sleep
        self._backoff = backoff
        self._cond = threading.Condition(threading.Lock())
        self._queue: deque[_Entry] = deque()
        self._queued_units = 0
        self._busy_keys: dict = {}  # row key → batches in flight writing it
        # rows that queued or in-flight change sets create, until those have their results
        self._open_rows: dict = {}
        self._completions = 0
        self._closed = False
        self._thread: threading.Thread | None = None
        self._pool = ThreadPoolExecutor(max_workers=sum(lane.cap for lane in governor.lanes), thread_name_prefix="webapi")

    # ------------------------------------------------------------------ the caller's side

    def submit(self, items: Sequence[Operation | ChangeSet], *, continue_on_error: bool = True,
               first: bool = False) -> Job:
        """Queue ``items``; the :class:`Job` gives their results when they are all settled.

        ``first`` puts them ahead of everything queued (in their order): the planner's lookups,
        which it waits for while thousands of writes are queued. Reads travel in batches of
        their own (:meth:`_take`), so their answer does not wait for slow writes.
        """
        job = Job(items, continue_on_error)
        if not job.items:
            return job
        entries = [_entry(job, i, item) for i, item in enumerate(job.items)]
        with self._cond:
            if self._closed:
                raise RuntimeError("the Web API client is closed")
            if first:
                self._queue.extendleft(reversed(entries))
            else:
                self._queue.extend(entries)
            self._queued_units += sum(e.units for e in entries)
            open_rows = self._open_rows
            for e in entries:
                if isinstance(e.item, ChangeSet):
                    _count_in(open_rows, e.keys)
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, name="webapi-dispatch", daemon=True)
                self._thread.start()
            self._cond.notify_all()
        return job

    def close(self) -> None:
        """Stop dispatching (queued items of unfinished jobs fail) and end the worker threads."""
        with self._cond:
            self._closed = True
            pending = list(self._queue)
            self._queue.clear()
            self._cond.notify_all()
        self.governor.close()
        for e in pending:
            e.job._fail(RuntimeError("the Web API client was closed before this work was sent"))
        with self._cond:
            self._open_rows.clear()
        self._pool.shutdown(wait=True)

    # ------------------------------------------------------------------ the dispatching thread

    def _loop(self) -> None:
        while True:
            with self._cond:
                while not self._queue and not self._closed:
                    self._cond.wait()
                if self._closed:
                    return
                seen = self._completions
            try:
                lane = self.governor.acquire()
            except RuntimeError:
                return
            with self._cond:
                batch = self._take()
                if not batch:
                    # Everything queued writes a row that is in flight: wait for an answer.
                    self.governor.release(lane, "neutral")
                    while self._completions == seen and not self._closed:
                        self._cond.wait()
                    continue
                for e in batch:
                    _count_in(self._busy_keys, e.keys)
                # (outside the governor's lock: a cut just before costs at most one cut more)
                sent_at_cut = lane.cuts
            self._pool.submit(self._run, lane, batch, sent_at_cut)

    def _take(self) -> list[_Entry]:
        """Cut the next batch from the front of the queue (called under the lock)."""
        if not self._queue:
            return []
        head = self._queue[0]
        coe = head.job.continue_on_error
        reading = head.reads
        share = fair_share(self._queued_units, self.governor.slots, self.sizer.share_floor(head.kind, MIN_SHARE_SECONDS))
        batch: list[_Entry] = []
        taken: list[int] = []
        units: dict[str, int] = {}
        limits: dict[str, int] = {}
        estimates: dict[str, float | None] = {}
        ops, predicted, carried = 0, 0.0, 0
        batch_rows: set = set()
        open_rows = self._open_rows
        busy = self._busy_keys.keys()
        for position, e in enumerate(self._queue):
            if e.reads != reading:
                break  # reads and writes go in separate batches: a read's answer never waits for writes
            if e.job.continue_on_error != coe or (e.keys and not busy.isdisjoint(e.keys)):
                continue
            after = e.after
            if after and _waits(after, open_rows, batch_rows):
                continue  # what it binds to has not landed yet
            op = e.item if isinstance(e.item, Operation) else None
            if op is not None and bulk_message(op):
                if batch:
                    break  # a bulk message travels alone: its targets are the batch
                size = min(self.sizer.size(e.kind, bulk=True), share)
                if e.units > size and isinstance(op.tag, BulkTag):
                    head, rest = split_bulk(op, size)
                    e.job._split(e.index)
                    self._queue[position] = _entry(e.job, e.index, rest, e.piece + 1)
                    piece = _entry(e.job, e.index, head, e.piece)
                    piece.attempts, piece.throttles = e.attempts, e.throttles
                    self._queued_units -= piece.units
                    return [piece]
                batch.append(e)
                taken.append(position)
                break
            n = e.n_ops
            limit = limits.get(e.kind)
            if limit is None:
                limit = limits[e.kind] = min(self.sizer.size(e.kind), share)
                estimates[e.kind] = self.sizer.per_unit(e.kind)
            est = estimates[e.kind]
            cost = est * e.units if est is not None else 0.0
            size = e.carried
            if batch and (ops + n > self.max_operations or units.get(e.kind, 0) + e.units > limit
                          or predicted + cost > self.sizer.max_seconds or carried + size > self.max_bytes):
                break
            batch.append(e)
            taken.append(position)
            batch_rows.update(e.keys)
            units[e.kind] = units.get(e.kind, 0) + e.units
            ops += n
            predicted += cost
            carried += size
        if taken == list(range(len(taken))):
            for _ in taken:
                self._queue.popleft()
        else:
            chosen = set(taken)
            self._queue = deque(e for i, e in enumerate(self._queue) if i not in chosen)
        self._queued_units -= sum(e.units for e in batch)
        return batch

    # ------------------------------------------------------------------ one request

    def _run(self, lane: Lane, batch: list[_Entry], sent_at_cut: int) -> None:
        outcome, retry_after, slowdown = "neutral", None, 1.0
        try:
            outcome, retry_after, slowdown = self._exchange(lane, batch)
        except BaseException as exc:  # AuthError and the unexpected: the jobs raise it
            log.debug("batch stopped by %s", type(exc).__name__)
            with self._cond:
                for e in batch:
                    self._close_rows(e)
                    e.job._fail(exc)
        finally:
            with self._cond:
                for e in batch:
                    _count_out(self._busy_keys, e.keys)
                self._completions += 1
                self._cond.notify_all()
            self.governor.release(lane, outcome, retry_after=retry_after, slowdown=slowdown, sent_at_cut=sent_at_cut)

    def _exchange(self, lane: Lane, batch: list[_Entry]) -> tuple[str, float | None, float]:
        """Send one batch on ``lane`` and act on the answer: the governor's outcome, rest and the
        answer's slowdown (:meth:`~.sizing.BatchSizer.observe`)."""
        items = [e.item for e in batch]
        units = _units(batch)
        predicted = self.sizer.predict(units)
        started = time.monotonic()
        answer = self.runner.send(lane.transport, items, continue_on_error=batch[0].job.continue_on_error,
                                  timeout=self.sizer.read_timeout(predicted))
        if answer.kind == "throttled":
            self.stats.count("throttled")
            self.stats.count("retry_after_seconds_total", answer.retry_after or 0.0)
            log.warning("%s throttled (%s); resting %.1fs, %d operations go back to the queue",
                        lane.name, answer.code or "429", answer.retry_after or 0.0, sum(count_operations(i) for i in items))
            if answer.code == EXECUTION_TIME_CODE:
                self.sizer.shrink(units)
            give_up = [e for e in batch if e.throttles + 1 >= MAX_THROTTLES]
            self._requeue([e for e in batch if e not in give_up], throttled=True)
            for e in give_up:
                self._finish(e, map_batch_failure([e.item], 429, answer.code, answer.why))
            return "throttled", answer.retry_after if answer.retry_after is not None else self._backoff(1), 1.0
        lane.record(sum(e.units for e in batch), answer.server_seconds, time.monotonic() * self.sizer.time_scale)
        if answer.kind == "unknown":
            timed_out = answer.client_timeout or bool(answer.results and is_timeout(answer.results[0]))
            if timed_out:
                # Too big for the org: a cut connection or a gateway error says nothing about size.
                self.sizer.shrink(units, took_at_least=REQUEST_LIMIT)
            self._settle(lane, batch, answer, started, timed_out=timed_out)
            return ("slow" if timed_out else "neutral"), None, 1.0
        if answer.kind == "failed":
            # The transport's retries found no way to the service: nothing landed.
            for e, results in zip(batch, _per_item(batch, answer.results)):
                self._finish(e, results)
            return "neutral", None, 1.0
        # An answer: parts that timed out inside it ran and rolled back; they go again, smaller.
        per_item = _per_item(batch, answer.results)
        again = [e for e, results in zip(batch, per_item) if any(is_timeout(r) for r in results) and e.attempts < self.max_retries]
        slowdown = 1.0
        if again:
            self.sizer.shrink(_units(again))
        else:
            slowdown = self.sizer.observe(units, answer.server_seconds)
        self._finish_all([(e, results) for e, results in zip(batch, per_item) if e not in again])
        self._requeue(again)
        return ("slow" if again else "ok"), None, slowdown

    def _settle(self, lane: Lane, batch: list[_Entry], answer: Answer, started: float, *, timed_out: bool) -> None:
        """Find out which items of a batch with an unknown outcome landed; queue only the rest."""
        if answer.client_timeout:
            # The service may still be working on it: look only once it has surely given up, so
            # a resend never writes a row that request is still writing.
            wait = self.sizer.service_gave_up_by(started) - time.monotonic()
            if wait > 0:
                self._sleep(wait)
        elif not timed_out:
            # A cut connection or a gateway error: back off as for any transient failure.
            self._sleep(self._backoff(max(e.attempts for e in batch)))
        try:
            landed = landed_items(lane.transport, [e.item for e in batch])
        except Exception as exc:  # the lookup failed too: resend; creates answer duplicates
            log.warning("could not look up what a %s landed (%s); sending it again", answer.why or "timed-out batch", exc)
            landed = [False] * len(batch)
        kept, resend = 0, []
        for e, hit in zip(batch, landed):
            if hit:
                kept += 1
                self._finish(e, _landed_results(e.item))
            else:
                resend.append(e)
        self.stats.count("settled_landed", kept)
        self.stats.count("settled_resent", len(resend))
        log.warning("%s: %d of %d items had landed, %d go again", answer.why or "batch outcome unknown", kept, len(batch), len(resend))
        last = [e for e in resend if e.attempts >= self.max_retries]
        self._requeue([e for e in resend if e not in last])
        for e in last:
            why = answer.why or "no answer"
            self._finish(e, [Result(operation=op, status=0, error_code="TransportError",
                                    error_message=f"not executed or outcome unknown: $batch failed, {why}; re-running the sync completes it")
                             for op in _ops(e.item)])

    # ------------------------------------------------------------------ bookkeeping

    def _finish(self, e: _Entry, results: list[Result]) -> None:
        self._finish_all([(e, results)])

    def _finish_all(self, done: list[tuple[_Entry, list[Result]]]) -> None:
        """Hand each entry its results: one lock for a whole batch's (hundreds of entries)."""
        for _, results in done:
            self.stats.count_errors(results)
        with self._cond:
            for e, results in done:
                self._close_rows(e)
                e.job._put(e.index, e.piece, results)

    def _close_rows(self, e: _Entry) -> None:
        """``e`` has its results: items waiting for the rows it creates may go (under the lock)."""
        if isinstance(e.item, ChangeSet) and e.keys:
            _count_out(self._open_rows, e.keys)

    def _requeue(self, entries: list[_Entry], *, throttled: bool = False) -> None:
        if not entries:
            return
        for e in entries:
            if throttled:
                e.throttles += 1
            else:
                e.attempts += 1
        with self._cond:
            self._queue.extendleft(reversed(entries))
            self._queued_units += sum(e.units for e in entries)
            self._cond.notify_all()


def _count_in(counts: dict, keys: frozenset) -> None:
    """One more holder of each of ``keys`` (a dict, not a Counter: its update and subtract
    are Python loops with a call per key, on the writer's path for every item)."""
    for k in keys:
        counts[k] = counts.get(k, 0) + 1


def _count_out(counts: dict, keys: frozenset) -> None:
    """One holder less of each of ``keys``; a key nobody holds is dropped."""
    for k in keys:
        n = counts.get(k, 0) - 1
        if n > 0:
            counts[k] = n
        else:
            counts.pop(k, None)


def _waits(after: frozenset, open_rows: dict, batch_rows: set) -> bool:
    """Whether a row of ``after`` is written by an item queued or in flight outside this batch."""
    for k in after:
        if open_rows.get(k, 0) > 0 and k not in batch_rows:
            return True
    return False


def _ops(item: Operation | ChangeSet) -> list[Operation]:
    return item.operations if isinstance(item, ChangeSet) else [item]


def _units(batch: list[_Entry]) -> dict[str, int]:
    out: dict[str, int] = {}
    for e in batch:
        out[e.kind] = out.get(e.kind, 0) + e.units
    return out


def _per_item(batch: list[_Entry], results: list[Result]) -> list[list[Result]]:
    """``results`` (one per operation, in order) cut into one list per entry."""
    out, at = [], 0
    for e in batch:
        n = count_operations(e.item)
        out.append(results[at : at + n])
        at += n
    return out


def _landed_results(item: Operation | ChangeSet) -> list[Result]:
    """Success results for an item whose rows were found after its answer was lost."""
    out = []
    for op in _ops(item):
        entity_id = op.rows.values[0] if op.rows is not None and op.rows.created and len(op.rows.values) == 1 else None
        status = 200 if bulk_message(op) else 204
        out.append(Result(operation=op, status=status, headers={"x-mail2dataverse-settled": "found after the answer was lost"},
                          entity_id=entity_id))
    return out


__all__ = ["Dispatcher", "Job"]
