"""Throughput on the emulator's model of a real org, each figure printed beside its bound (issue 12).

The emulator runs in its own process, so this process's CPU time is the client's alone. Records
are counted in the org after each run (not taken from the input).

1. Cost model off, 20 ms latency, W10k (2,000 contacts, 10,000 messages): median wall time over
   ``--runs`` runs and the client's CPU time (bounds: 3.5 s and 1.5 s). Beside it, the machine's
   speed at the time (``machine_speed.py``'s reference workload before and after the runs) and
   the CPU figure in units of that reference, which tells a slow hour from a fast one.
2. Realistic cost model, four web servers, in real time (``--time-scale``, default 1): W10k as one
   application user, then as two; and the same pair on one web server (time scale 10), where
   the execution-time budget binds and a second user's budget shows. Modeled wall time (real wall × time scale) beside the
   execution-time bound: the total modeled execution time the emulator charged ÷ (4 server-s
   per s × web servers × users). Bounds: within 1.25× of it, 0 timeouts, 0 failed, every record
   landed; two users at least 1.8× one user's throughput.
3. A projection of 1,000,000 messages per application user: at the measured rate, and at most
   at the rate the execution-time budget allows (4 server-s per s per web server).
4. The one-request-per-record baseline (the seed guide's script: a GET and a POST per contact, a
   POST and a PATCH per email) on the full W10k, sequential, with the service limits on: its
   modeled wall time is what a sequential client needs at the least (execution time + latency +
   the Retry-After waits, client overhead left out, which favours the baseline). The emulator
   ratio (cost model off, 20 ms) runs the baseline on ``--baseline-fraction`` of the workload.

    .venv/bin/python benchmarks/bench_throughput.py [--runs 3] [--time-scale 10] [--skip-baseline]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

import machine_speed
from mail2dataverse.auth import StaticToken
from mail2dataverse.config import RunConfig
from mail2dataverse.odata import literal
from mail2dataverse.sync import Inputs, sync
from mail2dataverse import testing
from mail2dataverse.testing import generate, write_export
from mail2dataverse.writers.webapi import WebApiClient

OWNER = "owner@acme-widgets.example"
EXEC_PER_SECOND = 4.0  # 1,200 server-s per 300 s, per user per web server


class EmulatorProcess(testing.EmulatorProcess):
    """The shared emulator process (its CPU is not the client's), plus counting what landed."""

    def __init__(self, *flags: str):
        super().__init__(*flags, stderr=subprocess.DEVNULL)

    def count(self, entity_set: str, key: str) -> int:
        """Rows of ``entity_set`` in the org, counted by reading them (what landed)."""
        with WebApiClient(self.url, StaticToken("counter")) as client:
            return sum(1 for _ in client.query_all(f"{entity_set}?$select={key}", page_size=5000))


def sync_once(url: str, tmp: Path, paths: tuple[Path, Path], tokens: list[str]) -> tuple[float, float, object]:
    """One sync into an empty state store: (wall s, client CPU s, report)."""
    cpath, mpath = paths
    state = tmp / f"state-{time.monotonic_ns()}.sqlite3"
    t0, c0 = time.perf_counter(), time.process_time()
    report = sync(Inputs(messages=str(mpath), contacts=str(cpath)), RunConfig(owner_addresses=(OWNER,)), url=url,
                  auth=[StaticToken(t) for t in tokens], state_path=state)
    return time.perf_counter() - t0, time.process_time() - c0, report


def cost_off(tmp: Path, paths, n_records: int, runs: int) -> dict:
    walls, cpus = [], []
    before = machine_speed.reference_seconds()
    for _ in range(runs):
        with EmulatorProcess("--cost-model", "none", "--latency-ms", "20") as emu:
            wall, cpu, report = sync_once(emu.url, tmp, paths, ["bench"])
            walls.append(wall)
            cpus.append(cpu)
            landed = emu.count("contacts", "contactid") + emu.count("emails", "activityid")
    med = statistics.median(walls)
    machine = machine_speed.around(before, machine_speed.reference_seconds())
    cpu = statistics.median(cpus)
    return {"wall_s_median": round(med, 2), "wall_s_runs": [round(w, 2) for w in walls], "bound_wall_s": 3.5,
            "client_cpu_s_median": round(cpu, 2), "bound_client_cpu_s": 1.5,
            # the fastest run beside the median: on a shared machine interference only slows a run down
            "client_cpu_s_runs": [round(c, 2) for c in cpus],
            "client_cpu_in_reference_units": machine_speed.in_units(cpu, machine), "machine": machine,
            "records_landed": landed, "records_per_s": round(n_records / med, 1), "failed": report.failed,
            "requests": report.http["requests"]}


def realistic(tmp: Path, paths, n_contacts: int, n_messages: int, users: int, scale: float, servers: int) -> dict:
    flags = ("--cost-model", "realistic", "--web-servers", str(servers), "--time-scale", str(scale), "--latency-ms", "20")
    with EmulatorProcess(*flags) as emu:
        wall, cpu, report = sync_once(emu.url, tmp, paths, [f"bench-user-{i}" for i in range(1, users + 1)])
        usage = emu.usage()
        contacts = emu.count("contacts", "contactid")
        emails = emu.count("emails", "activityid")
    totals = usage["totals"]
    modeled = wall * scale
    bound = totals["execution_seconds"] / (EXEC_PER_SECOND * servers * users)
    per_message_exec = totals["execution_seconds"] / max(1, n_messages)
    rate = n_messages / modeled
    return {
        "users": users, "web_servers": servers, "time_scale": scale,
        "modeled_wall_s": round(modeled, 1), "execution_time_bound_s": round(bound, 1),
        "ratio_to_bound": round(modeled / bound, 2), "bound_ratio": 1.25,
        "timeouts": totals["timeouts"], "throttled": totals["throttled"], "failed": report.failed,
        "contacts_landed": contacts, "emails_landed": emails, "every_record_landed": contacts >= 1 and emails == n_messages,
        "messages_per_modeled_s": round(rate, 2), "client_cpu_s": round(cpu, 2), "real_wall_s": round(wall, 2),
        "modeled_execution_s": round(totals["execution_seconds"], 1), "requests": totals["requests"],
        "per_user": report.http["users"], "server_time": report.http["server_time"],
        "_exec_per_message": per_message_exec,
    }


def baseline_requests(url: str, contacts: list, messages: list, token: str) -> tuple[int, float]:
    """The guide's script, honouring Retry-After (else it would just fail): (requests, waits in s)."""
    root = url + "/api/data/v9.2/"
    s = requests.Session()
    s.headers.update({"Authorization": f"Bearer {token}", "Accept": "application/json",
                      "OData-Version": "4.0", "OData-MaxVersion": "4.0"})
    n_req, waited = 0, 0.0

    def call(method: str, target: str, **kw):
        nonlocal n_req, waited
        while True:
            r = s.request(method, target, timeout=300, **kw)
            n_req += 1
            if r.status_code != 429:
                return r
            wait = float(r.headers.get("Retry-After", "1"))
            waited += wait
            time.sleep(wait)

    for c in contacts:
        email = c["emails"][0]["email"]
        r = call("GET", root + "contacts", params={"$select": "contactid", "$filter": f"emailaddress1 eq {literal(email)}"})
        if not r.json().get("value"):
            call("POST", root + "contacts", json={"firstname": c.get("given_name"), "lastname": c.get("surname"), "emailaddress1": email})
    for m in messages:
        parties = [{"participationtypemask": mask, "addressused": p["email"]}
                   for key, mask in (("from", 1), ("to", 2), ("cc", 3), ("bcc", 4)) for p in m.get(key) or []]
        r = call("POST", root + "emails", json={"subject": m["subject"], "description": m["body"], "email_activity_parties": parties})
        entity = r.headers.get("OData-EntityId", "")
        if entity:
            call("PATCH", entity, json={"statecode": 1, "statuscode": 4})
    return n_req, waited


def baseline_realistic(n_contacts: int, n_messages: int, scale: float, servers: int) -> dict:
    contacts, messages = generate(n_contacts, n_messages, owner=OWNER)
    flags = ("--cost-model", "realistic", "--web-servers", str(servers), "--time-scale", str(scale), "--latency-ms", "20")
    with EmulatorProcess(*flags) as emu:
        t0 = time.perf_counter()
        n_req, waited = baseline_requests(emu.url, contacts, messages, "baseline")
        wall = time.perf_counter() - t0
        usage = emu.usage()
        emails = emu.count("emails", "activityid")
    exec_s = usage["totals"]["execution_seconds"]
    # A sequential client waits for each request's server time and latency, and for its rests.
    modeled = exec_s + n_req * 0.020 + waited * scale
    return {"records": n_contacts + n_messages, "requests": n_req, "emails_landed": emails,
            "modeled_wall_s": round(modeled, 1), "throttled": usage["totals"]["throttled"],
            "messages_per_modeled_s": round(n_messages / modeled, 3), "real_wall_s": round(wall, 1)}


def baseline_cost_off(n_contacts: int, n_messages: int) -> dict:
    contacts, messages = generate(n_contacts, n_messages, owner=OWNER)
    with EmulatorProcess("--cost-model", "none", "--latency-ms", "20") as emu:
        t0 = time.perf_counter()
        n_req, _ = baseline_requests(emu.url, contacts, messages, "baseline")
        wall = time.perf_counter() - t0
    return {"records": n_contacts + n_messages, "requests": n_req, "wall_s": round(wall, 2),
            "records_per_s": round((n_contacts + n_messages) / wall, 1)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--contacts", type=int, default=2000)
    ap.add_argument("--messages", type=int, default=10000)
    ap.add_argument("--runs", type=int, default=3, help="cost-model-off runs (the median is the figure)")
    ap.add_argument("--time-scale", type=float, default=1.0,
                    help="modeled seconds per real second for the four-server runs; above 1 the client's own CPU "
                         "counts that many times over in modeled time, which flatters neither side (default 1: real time)")
    ap.add_argument("--baseline-scale", type=float, default=200.0, help="time scale of the realistic baseline run")
    ap.add_argument("--web-servers", type=int, default=4)
    ap.add_argument("--baseline-fraction", type=float, default=0.05)
    ap.add_argument("--skip-baseline", action="store_true")
    args = ap.parse_args(argv)
    out: dict = {"workload": {"contacts": args.contacts, "messages": args.messages}}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        paths = write_export(tmp / "export", args.contacts, args.messages, owner=OWNER)
        out["cost_model_off_20ms"] = off = cost_off(tmp, paths, args.contacts + args.messages, args.runs)
        one = realistic(tmp, paths, args.contacts, args.messages, 1, args.time_scale, args.web_servers)
        two = realistic(tmp, paths, args.contacts, args.messages, 2, args.time_scale, args.web_servers)
        # On four servers W10k fits one user's budget (4 x 1,200 s per window): a second user
        # can only show its worth where the budget binds, so the same pair on one web server.
        one_b = realistic(tmp, paths, args.contacts, args.messages, 1, 10.0, 1)
        two_b = realistic(tmp, paths, args.contacts, args.messages, 2, 10.0, 1)
    per_message = one.pop("_exec_per_message")
    for r in (two, one_b, two_b):
        r.pop("_exec_per_message")
    out["realistic_one_user"] = one
    out["realistic_two_users"] = two
    out["two_users_speedup"] = {"value": round(two["messages_per_modeled_s"] / one["messages_per_modeled_s"], 2), "bound": 1.8}
    # Not issue 12's figure (four web servers, above): no bound printed beside it.
    out["budget_bound_one_server"] = {"one_user": one_b, "two_users": two_b, "two_users_speedup": {
        "value": round(two_b["messages_per_modeled_s"] / one_b["messages_per_modeled_s"], 2),
        "note": "at time scale 10 the client's own CPU counts ten times over in modeled time, and the run ends before "
                "the execution-time budget bites (the service's lag): this machine's client bounds it, not the org"}}
    budget_rate = EXEC_PER_SECOND * args.web_servers / per_message  # messages/s one user's budget allows
    rate = min(one["messages_per_modeled_s"], budget_rate)
    out["projection_1m_messages"] = {
        "per_user_messages_per_s_measured": one["messages_per_modeled_s"],
        "per_user_messages_per_s_budget": round(budget_rate, 2),
        "hours_one_user": round(1_000_000 / rate / 3600, 2),
        "hours_two_users": round(1_000_000 / (2 * rate) / 3600, 2),
        "note": "beyond a 5-minute window the execution-time budget binds: at most 4 server-s per s per user per web server",
    }
    if not args.skip_baseline:
        base = baseline_realistic(args.contacts, args.messages, args.baseline_scale, args.web_servers)
        out["baseline_realistic_full"] = base
        out["ratio_realistic"] = round(one["messages_per_modeled_s"] / base["messages_per_modeled_s"], 1)
        slice_ = baseline_cost_off(max(1, int(args.contacts * args.baseline_fraction)), max(1, int(args.messages * args.baseline_fraction)))
        out["baseline_cost_off_slice"] = slice_
        out["ratio_emulator"] = round(off["records_per_s"] / slice_["records_per_s"], 1)
    json.dump(out, sys.stdout, indent=2)
    print()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
