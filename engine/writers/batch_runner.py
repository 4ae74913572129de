"""``$batch`` execution: packing operations into batches, the in-flight gate, result decoding.

:class:`BatchRunner` packs operations and change sets into batches of at most
``max_batch_operations`` (a change set is never split), sends each through the
:class:`~.transport.Transport` while holding a slot of the :class:`InFlightGate`, and turns each
answer (or its absence) into one :class:`~mail2dataverse.operations.Result` per operation with
:mod:`.batch`'s decoder. How big a batch is (:meth:`BatchRunner.pack`) and how many are in
flight (:class:`InFlightGate`) are decided here and nowhere else.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from urllib.parse import urlsplit

import requests

from mail2dataverse.operations import ChangeSet, Operation, Result
from mail2dataverse.writers.batch import (
    count_operations,
    decode_batch_response,
    encode_batch,
    error_of,
    map_batch_failure,
    map_batch_results,
    parse_body,
)
from mail2dataverse.writers.transport import HttpStats, Transport, TransportFailure

log = logging.getLogger("mail2dataverse.webapi")


class InFlightGate:
    """At most :attr:`parallelism` ``$batch`` requests at once: ``min(max_parallel, x-ms-dop-hint)``."""

    def __init__(self, max_parallel: int):
        self.max_parallel = max_parallel
        self.dop_hint: int | None = None
        self._slots = threading.Condition(threading.Lock())
        self._in_flight = 0

    @property
    def parallelism(self) -> int:
        """How many ``$batch`` requests may be in flight: ``min(max_parallel, x-ms-dop-hint)``."""
        hint = self.dop_hint
        return max(1, min(self.max_parallel, hint)) if hint else self.max_parallel

    @contextmanager
    def slot(self) -> Iterator[None]:
        """Hold one in-flight slot for the duration of the block (waits while all are taken)."""
        # Re-read parallelism on every wait: a lower x-ms-dop-hint takes effect at once.
        with self._slots:
            while self._in_flight >= self.parallelism:
                self._slots.wait()
            self._in_flight += 1
        try:
            yield
        finally:
            with self._slots:
                self._in_flight -= 1
                self._slots.notify_all()

    def read_dop_hint(self, resp: requests.Response) -> None:
        """Adopt the service's recommended degree of parallelism from a response, if it sent one."""
        value = resp.headers.get("x-ms-dop-hint")
        if value:
            try:
                hint = int(value)
            except ValueError:
                return
            if hint >= 1 and hint != self.dop_hint:
                with self._slots:
                    self.dop_hint = hint
                    self._slots.notify_all()
                log.debug("x-ms-dop-hint %d: up to %d batches in flight", hint, self.parallelism)


class BatchRunner:
    """Runs operations through ``$batch`` requests; one :class:`Result` per operation, in order."""

    def __init__(self, transport: Transport, gate: InFlightGate, stats: HttpStats, *, max_batch_operations: int):
        self.transport = transport
        self.gate = gate
        self.stats = stats
        self.max_batch_operations = max_batch_operations

    def pack(self, items: Sequence[Operation | ChangeSet]) -> list[list[Operation | ChangeSet]]:
        """Cut ``items`` into batches of at most ``max_batch_operations`` operations.

        :raises ValueError: a change set is empty, holds a GET or exceeds a batch.
        """
        chunks: list[list[Operation | ChangeSet]] = []
        current: list[Operation | ChangeSet] = []
        size = 0
        for item in items:
            n = count_operations(item)
            if isinstance(item, ChangeSet):
                if n == 0:
                    raise ValueError("a change set must hold at least one operation")
                if n > self.max_batch_operations:
                    raise ValueError(
                        f"a change set of {n} operations cannot fit in a $batch of {self.max_batch_operations}"
                    )
                for op in item.operations:
                    if op.method.upper() == "GET":
                        raise ValueError(f"GET is not allowed inside a change set: {op.describe()}")
            if current and size + n > self.max_batch_operations:
                chunks.append(current)
                current, size = [], 0
            current.append(item)
            size += n
        if current:
            chunks.append(current)
        return chunks

    def send_batch(self, chunk: list[Operation | ChangeSet], continue_on_error: bool) -> list[Result]:
        """Send one packed batch; its results, or ``TransportError`` results when no answer came."""
        n_ops = sum(count_operations(i) for i in chunk)
        content_type, body = encode_batch(chunk, service_root_path=urlsplit(self.transport.service_root).path)
        headers = {"Content-Type": content_type}
        if continue_on_error:
            headers["Prefer"] = "odata.continue-on-error"
        what = f"POST $batch ({n_ops} operations)"
        with self.gate.slot():
            try:
                resp = self.transport.request("POST", self.transport.service_root + "$batch", data=body, headers=headers, what=what)
            except TransportFailure as exc:
                results = map_batch_failure(chunk, 0, "TransportError", None)
                for r in results:
                    r.error_message = (
                        f"not executed or outcome unknown: $batch failed, {exc}; re-running the sync completes it"
                    )
                self.stats.count_errors(results)
                return results
        self.stats.count("batches")
        self.stats.count("operations", n_ops)
        content_type_header = resp.headers.get("Content-Type", "")
        if content_type_header.lower().startswith("multipart/"):
            try:
                parts = decode_batch_response(content_type_header, resp.content)
                results = map_batch_results(chunk, parts, continue_on_error=continue_on_error)
            except ValueError as exc:
                results = map_batch_failure(chunk, resp.status_code, "InvalidBatchResponse", str(exc))
        else:
            code, message = error_of(resp.status_code, parse_body(resp.content), resp.reason or "")
            if resp.status_code < 400:  # 2xx without multipart: nothing we can map
                code, message = "InvalidBatchResponse", f"HTTP {resp.status_code} with Content-Type {content_type_header!r}"
            results = map_batch_failure(chunk, resp.status_code, code, message)
        self.stats.count_errors(results)
        return results

    def execute(self, items: Sequence[Operation | ChangeSet], *, continue_on_error: bool = True) -> list[Result]:
        """Pack ``items``, send the batches (in parallel when there are several), results in order.

        What :meth:`~mail2dataverse.writers.webapi.WebApiClient.execute` runs; see it for the
        contract of the results.
        """
        chunks = self.pack(items)
        if not chunks:
            return []
        if len(chunks) == 1 or self.gate.max_parallel == 1:
            out: list[Result] = []
            for chunk in chunks:
                out.extend(self.send_batch(chunk, continue_on_error))
            return out
        with ThreadPoolExecutor(max_workers=min(self.gate.max_parallel, len(chunks)), thread_name_prefix="webapi") as pool:
            futures = [pool.submit(self.send_batch, chunk, continue_on_error) for chunk in chunks]
            try:
                per_chunk = [f.result() for f in futures]
            except BaseException:
                for f in futures:
                    f.cancel()
                raise
        return [r for chunk_results in per_chunk for r in chunk_results]
