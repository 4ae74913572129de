"""``mail2dataverse demo``: a full sync of the bundled sample mailbox into an embedded emulator.

The emulator is seeded with what a real org would already hold (the mailbox owner as a system
user, an existing customer account with an open opportunity, a case), the sample export is
synced, a short look at what landed is printed, and the same sync runs again to show that a
re-run with nothing new sends no writes.

The emulator runs the realistic cost model with four web servers, its clock 50 times faster than
real time, so the demo shows the server time a real org would charge (and how much of the
service-protection budget the sync used) while finishing in seconds.
"""

from __future__ import annotations

import json
import sys
import tempfile
from importlib import resources
from pathlib import Path
from typing import Any, TextIO

from .auth import StaticToken
from .config import load_config
from .sync import Inputs, sync
from .writers.webapi import WebApiClient

MASKS = {1: "from", 2: "to", 3: "cc", 4: "bcc"}
#: The demo's org: realistic server time per operation, four web servers, a 50× clock.
DEMO_ORG = {"cost_model": "realistic", "web_servers": 4, "time_scale": 50}


def sample_path(name: str) -> Path:
    """Path of a bundled sample file (works from a wheel and from a checkout)."""
    return Path(str(resources.files("mail2dataverse.samples").joinpath(name)))


def seed_org(emu: Any) -> None:
    """Create the records the sample org holds before the first sync."""
    org = json.loads(sample_path("org.json").read_text("utf-8"))
    for table in ("systemuser", "account", "opportunity", "incident"):
        for row in org.get(table, []):
            emu.seed(table, row)


def run_demo(*, fmt: str = "text", out: TextIO | None = None) -> int:
    """Run the demo; returns 0 when the first sync wrote everything and the re-run wrote nothing."""
    from .emulator import Emulator  # only the demo and tests start the emulator

    out = out or sys.stdout
    config = load_config(sample_path("config.yaml"))
    inputs = Inputs(messages=str(sample_path("messages.json")), contacts=str(sample_path("contacts.json")))
    with Emulator(**DEMO_ORG) as emu, tempfile.TemporaryDirectory(prefix="m2d-demo-") as tmp:
        seed_org(emu)
        if fmt != "json":  # JSON output is one document, nothing before it
            print(f"emulator: {emu.service_root}  (seeded: 1 system user, 1 account, 1 opportunity, 1 case)",
                  file=out)
        state = Path(tmp) / "state.sqlite3"
        first = sync(inputs, config, url=emu.base_url, auth=StaticToken("demo"), state_path=state)
        writes_first = emu.stats.get("writes", 0)
        usage_first = emu.usage()
        emu.reset_stats()
        second = sync(inputs, config, url=emu.base_url, auth=StaticToken("demo"), state_path=state)
        writes_second = emu.stats.get("writes", 0)
        if fmt == "json":
            print(json.dumps({"first_run": first.to_dict(), "re_run": second.to_dict(),
                              "writes": {"first_run": writes_first, "re_run": writes_second},
                              "server_usage": {"first_run": usage_first, "both_runs": emu.usage()}}, indent=2,
                             ensure_ascii=False), file=out)
        else:
            usage_second = emu.usage()
            print("\nfirst sync:", file=out)
            print(_indent(first.summary()), file=out)
            with WebApiClient(emu.base_url, StaticToken("demo")) as client:
                linked = sum(1 for e in client.query_all("emails?$select=_regardingobjectid_value")
                             if e.get("_regardingobjectid_value"))
                print(_indent(explain(first, linked)), file=out)
                print("\nwhat landed:", file=out)
                print(_indent(landed(client)), file=out)
            print(f"\nre-run with the same state file: {writes_second} write operations "
                  f"(first run: {writes_first}); {second.entities['email'].unchanged} emails unchanged", file=out)
            usage_all = emu.usage()
            counts = [usage_first["totals"]["requests"],
                      usage_second["totals"]["requests"] - usage_first["totals"]["requests"],
                      usage_all["totals"]["requests"] - usage_second["totals"]["requests"]]
            print("\nserver time, as a real org would charge it (realistic cost model, estimates):", file=out)
            print(f"  {usage_all['totals']['requests']} requests in all: {counts[0]} by the first sync, "
                  f"{counts[1]} by the re-run, {counts[2]} reading what landed", file=out)
            print(_indent(usage_summary(usage_all)), file=out)
    return 0 if first.exit_code() == 0 and second.exit_code() == 0 and writes_second == 0 else 1


def explain(report: Any, linked: int) -> str:
    """How to read the first sync's summary: which outcomes are normal, with this run's counts.

    ``linked`` is the number of emails in the org with a regarding link. The counts printed
    here add up to the summary's: every email written is linked, unlinked or had no candidate.
    """
    emails = report.entities["email"].created
    unlinked = len(report.unlinked)
    nothing = emails - linked - unlinked
    unresolved = report.addresses.get("unresolved", 0)
    unchanged = report.entities["account"].unchanged
    lines = [
        "",
        "how to read it:",
        f"  {emails} emails written: {linked} linked to the record it is about, {unlinked} unlinked, "
        f"{nothing} with nothing to link (no company party: internal or freemail only).",
        "  unlinked: the email is in the org, without a regarding link, because the record the rule",
        "    named (here the newest open opportunity of the sender's account) is not there. A normal",
        "    outcome, not a failure; the report lists each one, and exit status is still 0.",
        f"  unresolved: {unresolved} addresses matched no contact, account or user; they stay on the",
        "    email as the address used (shared mailboxes, aliases, senders with no contact record).",
        "    Normal too: contacts come from the contact export, not from every address seen.",
    ]
    if unchanged:
        lines.append(f"  unchanged: {unchanged} account{'s were' if unchanged != 1 else ' was'} already in the org "
                     "and needed no write.")
    return "\n".join(lines)


def landed(client: WebApiClient) -> str:
    """A short human view of the emails in the org, each with its parties and regarding."""
    names: dict[str, str] = {}
    for table, entity_set, pk, name in (
        ("contact", "contacts", "contactid", "fullname"),
        ("account", "accounts", "accountid", "name"),
        ("systemuser", "systemusers", "systemuserid", "fullname"),
        ("opportunity", "opportunities", "opportunityid", "name"),
        ("incident", "incidents", "incidentid", "title"),
    ):
        for row in client.query_all(f"{entity_set}?$select={pk},{name}"):
            names[row[pk]] = f"{table} {row.get(name) or row[pk]}"
    lines = []
    query = (
        "emails?$select=subject,directioncode,statuscode,actualend,_regardingobjectid_value"
        "&$expand=email_activity_parties($select=participationtypemask,addressused,_partyid_value)"
        "&$orderby=actualend asc"
    )
    for email in client.query_all(query):
        status = {3: "Sent", 4: "Received"}.get(email.get("statuscode"), str(email.get("statuscode")))
        lines.append(f"{email.get('actualend', '')}  {status:<8} {email.get('subject')}")
        regarding = email.get("_regardingobjectid_value")
        if regarding:
            lines.append(f"    regarding: {names.get(regarding, regarding)}")
        for party in sorted(email.get("email_activity_parties", []), key=lambda p: p.get("participationtypemask", 0)):
            bound = party.get("_partyid_value")
            who = names.get(bound, bound) if bound else "unresolved"
            lines.append(f"    {MASKS.get(party.get('participationtypemask'), '?'):<4} {party.get('addressused')}  → {who}")
    counts = {t: sum(1 for n in names.values() if n.startswith(t + " ")) for t in ("contact", "account")}
    lines.append(f"{counts['contact']} contacts, {counts['account']} accounts in the org")
    return "\n".join(lines)


def usage_summary(report: dict) -> str:
    """The emulator's usage report in a few lines: requests, server time, budget, throttles."""
    totals = report["totals"]
    clock = report["clock"]
    per_server = report["execution_seconds_per_second_per_user_and_server"]
    bound = totals["execution_seconds"] / (per_server * report["web_servers"] * max(1, report["users"]))
    throttled = sum(totals["throttled"].values())
    lines = [f"{totals['requests']} requests, {totals['execution_seconds']:.1f} s of server time "
             f"over {clock['modeled_seconds']:.1f} s (modeled; {clock['real_seconds']:.1f} s real at "
             f"{clock['time_scale']:g}x)",
             f"execution-time bound with {report['web_servers']} web servers: {bound:.1f} s; "
             f"{throttled} throttled, {totals['timeouts']} timed out"]
    for row in report["usage"]:
        lines.append(f"  {row['user']} on server {row['server']}: {row['requests']} requests, "
                     f"{row['execution_seconds']:.1f} s, peak concurrency {row['peak_concurrency']}")
    return "\n".join(lines)


def _indent(text: str) -> str:
    return "\n".join("  " + line for line in text.splitlines())
