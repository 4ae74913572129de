"""Sync throughput under the fault profile of issue 7, with the retries it took and peak memory.

The emulator injects 10 % throttling (429 + Retry-After), 2 % 503, 1 % connections dropped
before and 1 % after the service committed, and 5 % slow answers; the same workload also runs
fault-free for comparison. Retry-After waits are recorded, not slept (the emulator's minimum
Retry-After is 1 s, which would measure the sleep, not the engine); transport backoffs are
really slept, capped at 50 ms; slow answers really wait. Peak memory is the process's peak RSS,
engine and in-process emulator together (the fault-free run goes first). Each run ends with a check that the org equals the fault-free
one. Prints figures; asserts nothing about time.

    .venv/bin/python benchmarks/bench_faults.py [--messages 10000] [--contacts 2000] [--batch-size 50]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import resource
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mail2dataverse.auth import StaticToken  # noqa: E402
from mail2dataverse.config import RunConfig  # noqa: E402
from mail2dataverse.emulator import Emulator  # noqa: E402
from mail2dataverse.sync import Inputs, sync  # noqa: E402
from mail2dataverse.testing import write_export  # noqa: E402

FAULTS = "429=0.1,503=0.02,drop=0.01,drop_after=0.01,slow=0.05:200ms,retry_after=1,seed=7"


def one(inputs: Inputs, config: RunConfig, faults: str | None) -> dict:
    """Sync once into a fresh emulator; returns figures and the org's content."""
    waits: list[float] = []

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        time.sleep(min(seconds, 0.05) if seconds < 1 else 0)  # backoffs a little, Retry-After not at all

    with Emulator(faults=faults) as emu:
        started = time.perf_counter()
        report = sync(inputs, config, url=emu.base_url, auth=StaticToken("bench"),
                      client_options={"sleep": sleep, "max_retries": 15})
        elapsed = time.perf_counter() - started
        # Peak RSS of this process so far (engine and in-process emulator together; Linux: KiB).
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        content = (sorted(r["messageid"] for r in emu.records("email")),
                   sorted(r["emailaddress1"] for r in emu.records("contact")),
                   len(emu.records("activityparty")))
        records = report.inputs["messages"] + report.inputs["contacts"]
        return {"elapsed": elapsed, "records_per_s": records / elapsed, "report": report, "waits": waits,
                "peak_mb": peak / 1e6, "emulator": dict(emu.stats), "content": content}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--messages", type=int, default=10_000)
    ap.add_argument("--contacts", type=int, default=2_000)
    ap.add_argument("--batch-size", type=int, default=50)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="m2d-bench-faults-") as tmp:
        contacts, messages = write_export(Path(tmp), args.contacts, args.messages)
        inputs = Inputs(messages=str(messages), contacts=str(contacts))
        config = RunConfig(owner_addresses=("owner@acme-widgets.example",), batch_size=args.batch_size)
        clean = one(inputs, config, None)
        faulty = one(inputs, config, FAULTS)
    for name, r in (("fault-free", clean), ("faults", faulty)):
        h, e, rep = r["report"].http, r["emulator"], r["report"]
        print(f"{name:>10}: {rep.inputs['messages']} messages + {rep.inputs['contacts']} contacts in "
              f"{r['elapsed']:.1f}s = {r['records_per_s']:.0f} records/s; peak RSS {r['peak_mb']:.0f} MB (with the emulator)")
        print(f"{'':>10}  requests {h['requests']}, retries {h['retries']} (429: {h['throttled']}, transport: "
              f"{h['transport_errors']}), Retry-After total {h['retry_after_seconds_total']:.0f}s (not slept), "
              f"failed {rep.failed}, duplicate creates refused {h['errors_by_code'].get('0x80040237', 0)}")
        print(f"{'':>10}  emulator: faults {e['faults']}, throttled {e['throttled']}, dropped {e['dropped']}, "
              f"writes {e['writes']}")
    same = clean["content"] == faulty["content"]
    print(f"org after faults equals the fault-free org: {same}")
    return 0 if same and faulty["report"].failed == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
