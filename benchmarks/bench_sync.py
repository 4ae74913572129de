"""End-to-end sync throughput against the emulator with injected latency, next to a naive baseline.

Workload (issue 4): 2,000 contacts, 10,000 messages with ~3 parties each, 30 % freemail, 20 ms of
injected latency per request. The baseline is what the seed guide's script does: one request per
record (a GET to find a contact, a POST to create it; a POST per email and a PATCH to complete
it), measured on a slice of the same workload in the same run, since a full baseline run would
take many minutes. Both are reported as records per second.

    .venv/bin/python benchmarks/bench_sync.py [--contacts 2000] [--messages 10000] [--latency-ms 20]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import requests

from mail2dataverse.auth import StaticToken
from mail2dataverse.config import RunConfig
from mail2dataverse.emulator import Emulator
from mail2dataverse.odata import literal
from mail2dataverse.sync import Inputs, sync
from mail2dataverse.testing import generate, write_export

OWNER = "owner@acme-widgets.example"


def ours(tmp: Path, n_contacts: int, n_messages: int, latency_ms: int) -> dict:
    cpath, mpath = write_export(tmp / "export", n_contacts, n_messages, owner=OWNER)
    config = RunConfig(owner_addresses=(OWNER,))
    with Emulator(latency_ms=latency_ms) as emu:
        t0 = time.perf_counter()
        report = sync(Inputs(messages=str(mpath), contacts=str(cpath)), config, url=emu.base_url,
                      auth=StaticToken("bench"), state_path=tmp / "state.sqlite3")
        wall = time.perf_counter() - t0
        requests_first = emu.stats["requests"]
        emu.reset_stats()
        t1 = time.perf_counter()
        again = sync(Inputs(messages=str(mpath), contacts=str(cpath)), config, url=emu.base_url,
                     auth=StaticToken("bench"), state_path=tmp / "state.sqlite3")
        rerun_wall = time.perf_counter() - t1
        rerun_writes = emu.stats.get("writes", 0)
        rerun_requests = emu.stats["requests"]
        emails = len(emu.records("email"))
        parties = len(emu.records("activityparty"))
    records = n_contacts + n_messages
    return {
        "records": records,
        "requests": requests_first,
        "wall_s": round(wall, 2),
        "records_per_s": round(records / wall, 1),
        "emails_in_org": emails,
        "parties_in_org": parties,
        "failed": report.failed,
        "rerun_requests": rerun_requests,
        "rerun_writes": rerun_writes,
        "rerun_wall_s": round(rerun_wall, 2),
        "rerun_failed": again.failed,
    }


def baseline(n_contacts: int, n_messages: int, latency_ms: int) -> dict:
    """One request per record, as the seed guide's script does."""
    contacts, messages = generate(n_contacts, n_messages, owner=OWNER)
    with Emulator(latency_ms=latency_ms) as emu:
        root = emu.service_root
        s = requests.Session()
        s.headers.update({"Authorization": "Bearer bench", "Accept": "application/json",
                          "OData-Version": "4.0", "OData-MaxVersion": "4.0"})
        t0 = time.perf_counter()
        n_req = 0
        for c in contacts:
            email = c["emails"][0]["email"]
            r = s.get(root + "contacts", params={"$select": "contactid", "$filter": f"emailaddress1 eq {literal(email)}"})
            n_req += 1
            if not r.json().get("value"):
                s.post(root + "contacts", json={"firstname": c.get("given_name"), "lastname": c.get("surname"),
                                                "emailaddress1": email})
                n_req += 1
        for m in messages:
            parties = [{"participationtypemask": mask, "addressused": p["email"]}
                       for key, mask in (("from", 1), ("to", 2), ("cc", 3), ("bcc", 4)) for p in m.get(key) or []]
            r = s.post(root + "emails", json={"subject": m["subject"], "description": m["body"],
                                              "email_activity_parties": parties})
            n_req += 1
            entity = r.headers.get("OData-EntityId", "")
            if entity:
                s.patch(entity, json={"statecode": 1, "statuscode": 4})
                n_req += 1
        wall = time.perf_counter() - t0
    records = n_contacts + n_messages
    return {"records": records, "requests": n_req, "wall_s": round(wall, 2), "records_per_s": round(records / wall, 1)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--contacts", type=int, default=2000)
    ap.add_argument("--messages", type=int, default=10000)
    ap.add_argument("--latency-ms", type=int, default=20)
    ap.add_argument("--baseline-fraction", type=float, default=0.05, help="slice of the workload the baseline runs")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        mine = ours(Path(tmp), args.contacts, args.messages, args.latency_ms)
    base = baseline(max(1, int(args.contacts * args.baseline_fraction)), max(1, int(args.messages * args.baseline_fraction)), args.latency_ms)
    result = {"workload": {"contacts": args.contacts, "messages": args.messages, "latency_ms": args.latency_ms},
              "mail2dataverse": mine, "baseline_one_request_per_record": base,
              "speedup_records_per_s": round(mine["records_per_s"] / base["records_per_s"], 1)}
    json.dump(result, sys.stdout, indent=2)
    print()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
