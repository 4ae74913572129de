"""Compile + map + plan throughput (issue 2): a generated 100k-message export through the preview.

Source parsing is excluded (records come from memory; benchmarks/bench_stream.py measures the
reader); the planner runs against the dry-run executor, exactly as ``preview`` does.

    .venv/bin/python benchmarks/bench_plan.py [--messages 100000] [--contacts 5000] [--profile]
"""

from __future__ import annotations

import argparse
import cProfile
import json
import pstats
import sys
import time

from mail2dataverse.config import RunConfig
from mail2dataverse.model import RecordRef
from mail2dataverse.planner import Planner
from mail2dataverse.report import Report
from mail2dataverse.state import StateStore
from mail2dataverse.sync import build_runtime
from mail2dataverse.testing import generate
from mail2dataverse.writers.dry_run import DryRunExecutor

OWNER = "owner@acme-widgets.example"


def run(n_contacts: int, n_messages: int, profile: str = "sales") -> dict:
    contacts, messages = generate(n_contacts, n_messages, owner=OWNER)
    messages = list(messages)  # generation is not part of the measurement
    config = RunConfig(owner_addresses=(OWNER,), profile=profile)
    t0 = time.perf_counter()
    plugins, mappings = build_runtime(config)
    compiled = time.perf_counter()
    executor = DryRunExecutor()
    report = Report(dry_run=True)
    with StateStore(None) as state:
        planner = Planner(mappings, plugins, config, executor, state, report, full=True)
        planner.run(((RecordRef("contacts", i, c["id"]), c) for i, c in enumerate(contacts)),
                    ((RecordRef("messages", i, m["id"]), m) for i, m in enumerate(messages)))
    done = time.perf_counter()
    plan_s = done - compiled
    return {
        "profile": profile,
        "messages": n_messages,
        "contacts": n_contacts,
        "compile_s": round(compiled - t0, 3),
        "map_and_plan_s": round(plan_s, 2),
        "messages_per_s": round(n_messages / (done - t0)),
        "operations": len(executor.recorded),
        "emails_planned": report.entities["email"].created,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--messages", type=int, default=100_000)
    ap.add_argument("--contacts", type=int, default=5_000)
    ap.add_argument("--app-profile", default="sales", choices=["sales", "service", "none"],
                    help="the regarding profile (sales, the sample's, is the most work)")
    ap.add_argument("--profile", action="store_true", help="print the 25 most expensive functions")
    args = ap.parse_args(argv)
    if args.profile:
        prof = cProfile.Profile()
        result = prof.runcall(run, args.contacts, args.messages, args.app_profile)
        pstats.Stats(prof, stream=sys.stderr).sort_stats("cumulative").print_stats(25)
    else:
        result = run(args.contacts, args.messages, args.app_profile)
    json.dump(result, sys.stdout, indent=2)
    print()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
