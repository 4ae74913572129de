"""Where the client's CPU goes in the cost-off W10k sync (issue 12's 1.5 s bound), part by part.

Each part is timed with ``time.thread_time`` around the functions that do it, in the thread that
runs them, so the figures are CPU seconds, exact, and add up (a part's own inner parts are inside
it). Profilers mislead here: cProfile and yappi charge every call (4-5 times the real cost of the
planner's many small functions), and a sampler that reads each thread's CPU clock charges the CPU
a thread spent since the last sample to wherever it stands then, which in a program of 50 threads
sharing the GIL is mostly where it waits for the GIL again (after a read, a send).

The emulator runs in its own process (cost model off, 20 ms latency), so its CPU is not counted.
One warm-up sync first (imports, the public-suffix list), then ``--runs`` syncs; the median of
each part is printed, and the machine's speed meanwhile (``machine_speed.py``).

    .venv/bin/python benchmarks/bench_client_cpu.py [--runs 3] [--max-parallel 52]
"""

from __future__ import annotations

import argparse
import collections
import functools
import statistics
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import requests

import machine_speed
from bench_throughput import OWNER, EmulatorProcess

from mail2dataverse.auth import StaticToken
from mail2dataverse.config import RunConfig
from mail2dataverse.planner import contacts, emails, run
from mail2dataverse.sync import Inputs, sync
from mail2dataverse.testing import write_export
from mail2dataverse.writers import batch_runner, dispatch, transport

#: (owner, attribute, label): what is timed. The planner's parts run in the main thread, the
#: writer's in the request threads.
PARTS: list[tuple[Any, str, str]] = [
    (run.Planner, "phase_contacts", "main: phase 1 (accounts, contacts)"),
    (run.Planner, "phase_emails", "main: phase 2 (emails)"),
    (emails.EmailPhase, "_plan", "main:   planning change sets"),
    (emails.EmailPhase, "_hand_over", "main:   handing over (queueing, settling older chunks)"),
    (emails.EmailPhase, "_finish", "main:   settling a chunk (report, state)"),
    (contacts.TableWriter, "write", "main:   phase 1 writes (queueing, settling)"),
    (dispatch.Dispatcher, "_loop", "dispatcher: cutting batches"),
    (batch_runner.BatchRunner, "send", "writers: one $batch"),
    (batch_runner, "encode_batch", "writers:   encoding"),
    (transport.Transport, "request", "writers:   HTTP (requests, urllib3, http.client)"),
    (requests.Session, "prepare_request", "writers:     requests' preparing"),
    (batch_runner, "decode_and_map", "writers:   decoding into results"),
]


class PartClock:
    """CPU seconds per part, summed over every thread that ran it."""

    def __init__(self) -> None:
        self.seconds: collections.Counter[str] = collections.Counter()
        self._lock = threading.Lock()
        self._saved: list[tuple[Any, str, Any]] = []

    def _timed(self, fn: Callable[..., Any], label: str) -> Callable[..., Any]:
        @functools.wraps(fn)
        def timed(*args: Any, **kwargs: Any) -> Any:
            start = time.thread_time()
            try:
                return fn(*args, **kwargs)
            finally:
                spent = time.thread_time() - start
                with self._lock:
                    self.seconds[label] += spent
        return timed

    def __enter__(self) -> PartClock:
        for owner, name, label in PARTS:
            original = getattr(owner, name)
            self._saved.append((owner, name, original))
            setattr(owner, name, self._timed(original, label))
        return self

    def __exit__(self, *exc: object) -> None:
        for owner, name, original in reversed(self._saved):
            setattr(owner, name, original)
        self._saved.clear()


def one_sync(paths: tuple[Path, Path], tmp: Path, max_parallel: int) -> tuple[float, float, float, dict[str, float], int]:
    """(wall s, client CPU s, main-thread CPU s, CPU per part, requests) of one sync."""
    cpath, mpath = paths
    with EmulatorProcess("--cost-model", "none", "--latency-ms", "20") as emu, PartClock() as clock:
        t0, c0, m0 = time.perf_counter(), time.process_time(), time.thread_time()
        report = sync(Inputs(messages=str(mpath), contacts=str(cpath)),
                      RunConfig(owner_addresses=(OWNER,), max_parallel=max_parallel), url=emu.url,
                      auth=[StaticToken("bench")], state_path=tmp / f"state-{time.monotonic_ns()}.sqlite3")
        wall, cpu, main = time.perf_counter() - t0, time.process_time() - c0, time.thread_time() - m0
    return wall, cpu, main, dict(clock.seconds), report.http["requests"]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--max-parallel", type=int, default=52, help="requests in flight per user at most (the config's max_parallel)")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        paths = write_export(tmp / "export", 2000, 10000, owner=OWNER)
        one_sync(paths, tmp, args.max_parallel)  # warm-up: imports, the public-suffix list
        before = machine_speed.reference_seconds()
        runs = [one_sync(paths, tmp, args.max_parallel) for _ in range(args.runs)]
        machine = machine_speed.around(before, machine_speed.reference_seconds())
    med = statistics.median
    cpu = med(r[1] for r in runs)
    print(f"W10k, cost model off, 20 ms, max_parallel {args.max_parallel}, median of {args.runs} runs")
    print(f"  wall {med(r[0] for r in runs):.2f} s, requests {med(r[4] for r in runs):.0f}")
    print(f"  client CPU {cpu:.2f} s (bound 1.5 s): main thread {med(r[2] for r in runs):.2f} s, "
          f"other threads {med(r[1] - r[2] for r in runs):.2f} s")
    print(f"  machine: reference workload {machine['reference_cpu_s_before']:.3f} s before, "
          f"{machine['reference_cpu_s_after']:.3f} s after; client CPU = {machine_speed.in_units(cpu, machine)} units")
    print(f"  python: {machine['python']}")
    for _, _, label in PARTS:
        print(f"  {label:<58} {med(r[3].get(label, 0.0) for r in runs):6.3f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
