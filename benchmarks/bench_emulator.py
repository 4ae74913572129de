"""Benchmark the emulator: one $batch of 1,000 creates, plus single-request round trips.

Run: ``.venv/bin/python benchmarks/bench_emulator.py [--repeat 5] [--ops 1000]``.
Prints wall time, requests/s and operations/s. No latency or faults are injected, so the
figures are the emulator's own cost (and the client's), the ceiling for sync benchmarks.
The client is ``http.client`` on one kept-alive connection with TCP_NODELAY, like the server,
so the ~40 ms delayed-ACK stall is not what gets measured.
"""

from __future__ import annotations

import argparse
import http.client
import json
import socket
import statistics
import time
import uuid

from mail2dataverse.emulator import Emulator

HEADERS = {"Authorization": "Bearer bench", "OData-Version": "4.0", "Accept": "application/json"}


def batch_of_creates(n: int, in_changeset: bool) -> tuple[bytes, str]:
    """A $batch body with ``n`` contact creates (client-generated ids), CRLF throughout."""
    parts = []
    for i in range(n):
        body = json.dumps({"contactid": str(uuid.uuid4()), "firstname": "Bench", "lastname": f"Contact {i}",
                           "emailaddress1": f"bench{i}@example.com"})
        cid = f"Content-ID: {i + 1}\r\n" if in_changeset else ""
        parts.append("Content-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n" + cid +
                     "\r\nPOST /api/data/v9.2/contacts HTTP/1.1\r\nContent-Type: application/json; type=entry\r\n"
                     "\r\n" + body)
    if in_changeset:
        inner = "".join(f"--changeset_b\r\n{p}\r\n" for p in parts) + "--changeset_b--"
        text = f'--batch_b\r\nContent-Type: multipart/mixed; boundary="changeset_b"\r\n\r\n{inner}\r\n--batch_b--\r\n'
    else:
        text = "".join(f"--batch_b\r\n{p}\r\n" for p in parts) + "--batch_b--\r\n"
    return text.encode(), 'multipart/mixed; boundary="batch_b"'


def connect(emu: Emulator) -> http.client.HTTPConnection:
    conn = http.client.HTTPConnection(emu.host, emu.port)
    conn.connect()
    conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return conn


def bench_batch(ops: int, repeat: int, in_changeset: bool) -> list[float]:
    """Wall seconds for each of ``repeat`` batches of ``ops`` creates (fresh emulator each time)."""
    times = []
    for _ in range(repeat):
        with Emulator() as emu:
            body, ctype = batch_of_creates(ops, in_changeset)
            conn = connect(emu)
            start = time.perf_counter()
            conn.request("POST", "/api/data/v9.2/$batch", body=body, headers={**HEADERS, "Content-Type": ctype})
            resp = conn.getresponse()
            payload = resp.read()
            elapsed = time.perf_counter() - start
            conn.close()
            assert resp.status == 200, payload[:300]
            assert payload.count(b"HTTP/1.1 204 No Content") == ops
            assert len(emu.records("contact")) == ops
            times.append(elapsed)
    return times


def bench_single_requests(n: int) -> float:
    """Wall seconds for ``n`` sequential single POSTs on one kept-alive connection."""
    with Emulator() as emu:
        conn = connect(emu)
        start = time.perf_counter()
        for i in range(n):
            conn.request("POST", "/api/data/v9.2/contacts", body=json.dumps({"lastname": f"s{i}"}),
                         headers={**HEADERS, "Content-Type": "application/json"})
            resp = conn.getresponse()
            resp.read()
            assert resp.status == 204
        elapsed = time.perf_counter() - start
        conn.close()
        return elapsed


def main() -> None:
    """Run the benchmarks and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ops", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--singles", type=int, default=500)
    args = parser.parse_args()
    for label, in_cs in (("$batch, no change set", False), ("$batch, one change set", True)):
        times = bench_batch(args.ops, args.repeat, in_cs)
        med = statistics.median(times)
        print(f"{label}: {args.ops} creates  median {med * 1000:.1f} ms  best {min(times) * 1000:.1f} ms  "
              f"-> {1 / med:.1f} requests/s, {args.ops / med:,.0f} operations/s")
    elapsed = bench_single_requests(args.singles)
    print(f"single POSTs on a kept-alive connection: {args.singles} in {elapsed * 1000:.0f} ms "
          f"-> {args.singles / elapsed:,.0f} requests/s ({elapsed / args.singles * 1000:.2f} ms each)")


if __name__ == "__main__":
    main()
