"""One ``$batch`` request on one application user's transport, and what its answer means.

:meth:`BatchRunner.send` encodes a batch, sends it with a read timeout that follows its predicted
server time, measures the server time it took and classifies the answer as an :class:`Answer`:

* ``ok`` — a multipart answer (or a whole-batch rejection such as a 400): one result per operation;
* ``throttled`` — a 429: nothing ran, the user rests for ``Retry-After``;
* ``unknown`` — the request may have run in part: a read timeout, a connection cut while the
  answer was on its way, the service's timeout answer (the SQL timeout, ``-2147204783``), or a
  gateway error (502/503/504). What landed is settled by :mod:`.dispatch`, never resent blind;
* ``failed`` — no request reached the service after the transport's retries.

Which batch goes to which user, and what is done with each kind of answer, is
:mod:`.dispatch`'s and :mod:`.governor`'s business.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from mail2dataverse.operations import ChangeSet, Operation, Result
from mail2dataverse.writers.batch import (
    count_operations,
    decode_and_map,
    encode_batch,
    error_of,
    map_batch_failure,
    parse_body,
)
from mail2dataverse.writers.transport import HttpStats, Transport, TransportFailure, parse_retry_after

log = logging.getLogger("mail2dataverse.webapi")

#: The service's timeout answers: "SQL timeout expired" (-2147204783 = 0x80044151), as the
#: bulk-operation troubleshooting page names it, and the generic timeout code.
TIMEOUT_CODES = frozenset({"0x80044151", "-2147204783", "0x80040216"})
#: 429 codes: requests, execution time, concurrency (api-limits.md).
EXECUTION_TIME_CODE = "0x80072321"
THROTTLE_CODES = frozenset({"0x80072322", EXECUTION_TIME_CODE, "0x80072326"})
GATEWAY_STATUSES = frozenset({502, 503, 504})


def is_timeout(result: Result) -> bool:
    """Whether a result (a part or a whole batch) is the service's timeout answer."""
    if result.error_code in TIMEOUT_CODES:
        return True
    return bool(result.status >= 500 and result.error_message and "-2147204783" in result.error_message)


@dataclass
class Answer:
    """What one ``$batch`` request came back with (see the module docstring for ``kind``)."""

    kind: str
    results: list[Result] = field(default_factory=list)
    server_seconds: float = 0.0
    retry_after: float | None = None
    code: str | None = None
    why: str = ""
    #: the read timeout fired on our side (the service may still be working on it)
    client_timeout: bool = False


def validate(items: Sequence[Operation | ChangeSet], max_operations: int) -> None:
    """Refuse, before anything is sent, what the service would refuse.

    :raises ValueError: a change set is empty, holds a GET or exceeds a batch.
    """
    for item in items:
        if isinstance(item, ChangeSet):
            n = count_operations(item)
            if n == 0:
                raise ValueError("a change set must hold at least one operation")
            if n > max_operations:
                raise ValueError(f"a change set of {n} operations cannot fit in a $batch of {max_operations}")
            for op in item.operations:
                if op.method.upper() == "GET":
                    raise ValueError(f"GET is not allowed inside a change set: {op.describe()}")


class BatchRunner:
    """Encodes, sends and decodes one ``$batch`` on a given transport."""

    def __init__(self, stats: HttpStats, *, time_scale: Callable[[], float] = lambda: 1.0):
        self.stats = stats
        self._time_scale = time_scale

    def send(self, transport: Transport, chunk: Sequence[Operation | ChangeSet], *, continue_on_error: bool,
             timeout: float | None) -> Answer:
        """Send ``chunk`` as one ``$batch`` on ``transport`` and classify the answer."""
        n_ops = sum(count_operations(i) for i in chunk)
        content_type, body = encode_batch(chunk, service_root_path=urlsplit(transport.service_root).path)
        headers = {"Content-Type": content_type}
        if continue_on_error:
            headers["Prefer"] = "odata.continue-on-error"
        what = f"POST $batch ({n_ops} operations)"
        started = time.monotonic()
        try:
            resp = transport.request("POST", transport.service_root + "$batch", data=body, headers=headers, what=what,
                                     timeout=timeout, retry_throttle=False, resend_unknown=False)
        except TransportFailure as exc:
            if exc.unknown:
                timed_out = "timeout" in exc.reason.lower() or "timed out" in exc.reason.lower()
                if timed_out:
                    self.stats.count("timeouts")
                return Answer("unknown", why=str(exc), client_timeout=timed_out)
            results = map_batch_failure(chunk, 0, "TransportError", None)
            for r in results:
                r.error_message = f"not executed or outcome unknown: $batch failed, {exc}; re-running the sync completes it"
            return Answer("failed", results, why=str(exc))
        elapsed = time.monotonic() - started
        server_seconds = elapsed * self._time_scale()
        status = resp.status_code
        content_type_header = resp.headers.get("Content-Type", "")
        if status == 429:
            code, message = error_of(status, parse_body(resp.content), resp.reason or "")
            return Answer("throttled", server_seconds=0.0, retry_after=parse_retry_after(resp.headers.get("Retry-After")),
                          code=code, why=message or "HTTP 429")
        self.stats.count("batches")
        self.stats.count("operations", n_ops)
        if content_type_header.lower().startswith("multipart/"):
            try:
                results = decode_and_map(chunk, content_type_header, resp.content, continue_on_error=continue_on_error)
            except ValueError as exc:
                results = map_batch_failure(chunk, status, "InvalidBatchResponse", str(exc))
            return Answer("ok", results, server_seconds=server_seconds)
        code, message = error_of(status, parse_body(resp.content), resp.reason or "")
        if status < 400:  # 2xx without multipart: nothing we can map
            code, message = "InvalidBatchResponse", f"HTTP {status} with Content-Type {content_type_header!r}"
        results = map_batch_failure(chunk, status, code, message)
        if status in GATEWAY_STATUSES or (results and is_timeout(results[0])):
            if results and is_timeout(results[0]):
                self.stats.count("timeouts")
            return Answer("unknown", results, server_seconds=server_seconds, code=code, why=f"HTTP {status} {code or ''}: {message}")
        return Answer("ok", results, server_seconds=server_seconds)
