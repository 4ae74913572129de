"""Benchmark the emulator: one $batch of 1,000 creates, single-request round trips, and its CPU
per 1,000 messages as the org grows.

Run: ``.venv/bin/python benchmarks/bench_emulator.py [--repeat 5] [--ops 1000]``.
Prints wall time, requests/s and operations/s. No latency or faults are injected, so the
figures are the emulator's own cost (and the client's), the ceiling for sync benchmarks.
The client is ``http.client`` on one kept-alive connection with TCP_NODELAY, like the server,
so the ~40 ms delayed-ACK stall is not what gets measured.

``--scaling 10000,50000,200000`` then syncs a generated mailbox of each size (one contact per
ten messages) into an emulator running as a separate process with ``--cost-model none`` and
prints the emulator's CPU seconds (from ``/proc``) per 1,000 messages next to the client's
(this process). The emulator's lookups are indexed, so its figure should stay flat as the org
grows; 200,000 messages take minutes, so ``make bench`` runs only the default sizes.

``--w10k`` syncs the issue-12 workload (2,000 contacts, 10,000 messages) the way
``bench_throughput.py`` does with the cost model off (20 ms latency, ``--cost-model none``) and
prints the emulator's CPU per 1,000 messages beside its bound (0.25 s): a client cannot meet
its own wall-time bound against an emulator that spends more. ``--runs`` repeats it (median).
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import socket
import statistics
import tempfile
import time
import uuid
from pathlib import Path

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


def _cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of process ``pid`` so far (Linux ``/proc``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def bench_scaling(messages: int, contacts: int | None = None, latency_ms: float = 0) -> dict:
    """Sync ``messages`` generated messages (and ``contacts``, one per ten messages unless
    given) into an emulator process with the cost model off; CPU of each side."""
    from mail2dataverse.auth import StaticToken
    from mail2dataverse.config import RunConfig
    from mail2dataverse.sync import Inputs, sync
    from mail2dataverse.testing import EmulatorProcess, write_export

    owner = "owner@acme-widgets.example"
    with tempfile.TemporaryDirectory(prefix="bench-emulator-") as tmp:
        n_contacts = contacts if contacts is not None else max(1, messages // 10)
        cpath, mpath = write_export(Path(tmp) / "export", n_contacts, messages, owner=owner)
        with EmulatorProcess("--anonymous", "--cost-model", "none", "--latency-ms", f"{latency_ms:g}") as emulator:
            pid = emulator.proc.pid
            emu_before, client_before, t0 = _cpu_seconds(pid), time.process_time(), time.perf_counter()
            report = sync(Inputs(messages=str(mpath), contacts=str(cpath)), RunConfig(owner_addresses=(owner,)),
                          url=emulator.url, auth=StaticToken("bench"), state_path=str(Path(tmp, "state.sqlite3")))
            wall = time.perf_counter() - t0
            client = time.process_time() - client_before
            emu = _cpu_seconds(pid) - emu_before
    return {"messages": messages, "created": report.entities["email"].created, "failed": report.failed,
            "wall_s": wall, "client_cpu_s": client, "emulator_cpu_s": emu}


def main() -> None:
    """Run the benchmarks and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ops", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--singles", type=int, default=500)
    parser.add_argument("--scaling", metavar="N,N,...", default="",
                        help="also sync mailboxes of these sizes and print CPU per 1,000 messages")
    parser.add_argument("--w10k", action="store_true",
                        help="only the W10k cost-off sync (20 ms): emulator CPU per 1,000 messages beside 0.25 s")
    parser.add_argument("--runs", type=int, default=1, help="W10k runs (the median is the figure)")
    args = parser.parse_args()
    if args.w10k:
        runs = [bench_scaling(10_000, contacts=2_000, latency_ms=20) for _ in range(args.runs)]
        per_1k = [r["emulator_cpu_s"] / 10 for r in runs]
        med = statistics.median(per_1k)
        print(f"W10k cost-off sync at 20 ms ({runs[0]['created']:,} emails created, {runs[-1]['failed']} failed): "
              f"emulator CPU {med:.3f} s per 1,000 messages (bound 0.25 s; runs "
              f"{', '.join(f'{v:.3f}' for v in per_1k)}); client CPU "
              f"{statistics.median(r['client_cpu_s'] for r in runs):.2f} s; wall "
              f"{statistics.median(r['wall_s'] for r in runs):.1f} s", flush=True)
        return
    for label, in_cs in (("$batch, no change set", False), ("$batch, one change set", True)):
        times = bench_batch(args.ops, args.repeat, in_cs)
        med = statistics.median(times)
        print(f"{label}: {args.ops} creates  median {med * 1000:.1f} ms  best {min(times) * 1000:.1f} ms  "
              f"-> {1 / med:.1f} requests/s, {args.ops / med:,.0f} operations/s")
    elapsed = bench_single_requests(args.singles)
    print(f"single POSTs on a kept-alive connection: {args.singles} in {elapsed * 1000:.0f} ms "
          f"-> {args.singles / elapsed:,.0f} requests/s ({elapsed / args.singles * 1000:.2f} ms each)")
    for size in filter(None, (int(n) for n in args.scaling.split(","))):
        r = bench_scaling(size)
        k = r["messages"] / 1000
        print(f"sync of {r['messages']:,} messages ({r['created']:,} created, {r['failed']} failed, "
              f"{r['wall_s']:.0f} s): emulator CPU {r['emulator_cpu_s']:.1f} s = {r['emulator_cpu_s'] / k:.2f} s "
              f"per 1,000 messages; client CPU {r['client_cpu_s']:.1f} s = {r['client_cpu_s'] / k:.2f} s per 1,000; "
              f"emulator/client {r['emulator_cpu_s'] / r['client_cpu_s']:.2f}", flush=True)


if __name__ == "__main__":
    main()
