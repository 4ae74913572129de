"""Client CPU of one ``$batch``-sized exchange: the transport's one-read body against requests' own.

A local socket server answers every request with a 280 KB body (about what the emulator answers
a 289-email ``$batch``). The calling thread's CPU clock times

* ``transport``: :class:`~mail2dataverse.writers.transport.Transport.request`, which streams
  and reads the body in one call (:func:`~mail2dataverse.writers.transport.read_whole`);
* ``requests``: the same session's ``request`` without ``stream=True``, which reads the body
  10 KB at a time (requests' ``CONTENT_CHUNK_SIZE``).

No emulator and no cost model: this is the client's own cost per request, which the cost-off
W10k sync pays about 140 times (docs/webapi.md, "The client's own CPU").

    .venv/bin/python benchmarks/bench_http_read.py [--requests 200] [--rounds 5]
"""

from __future__ import annotations

import argparse
import json
import random
import socket
import statistics
import threading
import time

from mail2dataverse.auth import StaticToken
from mail2dataverse.testing import read_http_request
from mail2dataverse.writers.transport import HttpStats, Transport

REQUEST = b"x" * 300_000
ANSWER = b"y" * 280_000


def serve() -> str:
    """Start the answering server in daemon threads; its base URL."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    head = f"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: {len(ANSWER)}\r\n\r\n".encode()

    def answer(conn: socket.socket) -> None:
        reader = conn.makefile("rb")
        with conn:
            while read_http_request(reader):
                conn.sendall(head + ANSWER)

    def accept() -> None:
        while True:
            conn, _ = sock.accept()
            threading.Thread(target=answer, args=(conn,), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    return f"http://127.0.0.1:{sock.getsockname()[1]}"


def per_request_ms(send, n: int) -> float:
    """The calling thread's CPU milliseconds per call of ``send`` over ``n`` calls."""
    started = time.thread_time()
    for _ in range(n):
        send()
    return (time.thread_time() - started) / n * 1e3


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--requests", type=int, default=200, help="requests a side a round")
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    base = serve()
    url = base + "/api/data/v9.2/$batch"
    transport = Transport(base, StaticToken("bench"), session=None, pool_size=2, timeout=30.0, max_retries=0,
                          backoff_base=0.1, backoff_cap=1.0, verify=True, sleep=time.sleep, random=random.Random(1),
                          user_agent="bench", stats=HttpStats())
    sides = {
        "transport": lambda: transport.request("POST", url, data=REQUEST, headers={}, what="POST $batch").content,
        "requests": lambda: transport.session.request("POST", url, data=REQUEST, timeout=30.0).content,
    }
    for send in sides.values():
        send()  # connect, warm up
    figures: dict[str, list[float]] = {side: [] for side in sides}
    for n in range(args.rounds):
        for side in (sides if n % 2 == 0 else reversed(list(sides))):
            figures[side].append(round(per_request_ms(sides[side], args.requests), 3))
    print(json.dumps({
        "workload": f"{len(REQUEST) // 1000} KB request, {len(ANSWER) // 1000} KB answer, local socket, no emulator",
        "client_cpu_ms_per_request": {side: {"median": statistics.median(v), "rounds": v} for side, v in figures.items()},
        "ratio": round(statistics.median(figures["transport"]) / statistics.median(figures["requests"]), 3),
    }, indent=1))


if __name__ == "__main__":
    main()
