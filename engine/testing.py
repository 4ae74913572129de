"""Helpers for tests and benchmarks, ours and plugin authors': synthetic Nylas exports.

The generator is deterministic for a seed and produces records in the Nylas CLI's exact shape
(RFC 3339 dates with offsets, omitted empty recipient lists, ``'`` and ``+`` in addresses,
non-ASCII names), so a workload exercises the same paths as a real export.
"""

from __future__ import annotations

import json
import random
import unicodedata
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import IO, Any

FREEMAIL = ("gmail.com", "yahoo.com", "outlook.com", "icloud.com", "hotmail.com", "proton.me")
FIRST = ("Zoë", "Marcus", "Priya", "Tomás", "Siobhán", "Dana", "Li", "Ana", "Jörg", "Noor", "Kwame", "Eve")
LAST = ("Ångström", "Webb", "Raman", "Herrera", "O'Brien", "Whitfield", "Chen", "Silva", "Müller", "Haddad")
OFFSETS = (0, -5, 1, 5.5, -8, 9)


def _person(rng: random.Random, i: int, company_domains: list[str], freemail_ratio: float) -> dict[str, Any]:
    first, last = rng.choice(FIRST), rng.choice(LAST)
    # ASCII local parts (as most servers issue them) that keep the apostrophe of O'Brien.
    local = unicodedata.normalize("NFKD", f"{first}.{last}{i}".lower()).encode("ascii", "ignore").decode()
    if i % 17 == 0:
        local = local.split(".")[0] + f"+crm{i}"  # plus-addressing
    if rng.random() < freemail_ratio:
        domain = rng.choice(FREEMAIL)
    else:
        domain = rng.choice(company_domains)
    return {"given_name": first, "surname": last, "email": f"{local}@{domain}", "company": domain.split(".")[0]}


def generate(
    n_contacts: int,
    n_messages: int,
    *,
    parties: int = 3,
    freemail_ratio: float = 0.3,
    n_companies: int | None = None,
    owner: str = "owner@acme-widgets.example",
    grant: str = "bench-grant-0001",
    seed: int = 7,
    body_size: int = 400,
) -> tuple[list[dict[str, Any]], Iterator[dict[str, Any]]]:
    """Return ``(contacts, messages)``: a contact list and a lazy message iterator.

    Messages are exchanged between the owner and the contacts (plus occasional unknown
    addresses), newest first like the CLI, with ``parties`` participants on average.
    """
    rng = random.Random(seed)
    companies = [f"company{c}.example" for c in range(n_companies or max(1, n_contacts // 8))]
    people = [_person(rng, i, companies, freemail_ratio) for i in range(n_contacts)]
    contacts = []
    for i, p in enumerate(people):
        c: dict[str, Any] = {"id": f"ct{i:07d}", "grant_id": grant, "object": "contact",
                             "given_name": p["given_name"], "surname": p["surname"]}
        if not p["email"].split("@")[1] in FREEMAIL:
            c["company_name"] = p["company"].title()
        c["emails"] = [{"email": p["email"], "type": "work"}]
        if i % 3 == 0:
            c["phone_numbers"] = [{"number": f"+1 555 01{i % 100:02d}", "type": "work"}]
        c["source"] = "address_book"
        contacts.append(c)

    def messages() -> Iterator[dict[str, Any]]:
        mrng = random.Random(seed + 1)
        start = datetime(2025, 6, 30, 18, 0, tzinfo=timezone.utc)
        filler = ("Lorem ipsum dolor sit amet, consectetur adipiscing elit. " * (body_size // 56 + 1))[:body_size]
        for m in range(n_messages):
            when = start - timedelta(minutes=7 * m)
            off = mrng.choice(OFFSETS)
            tz = timezone(timedelta(hours=off))
            outgoing = mrng.random() < 0.4
            others = [mrng.choice(people) for _ in range(max(1, parties - 1))]
            if mrng.random() < 0.05:
                others.append({"given_name": "Unknown", "surname": "Sender", "email": f"unknown{m}@elsewhere{m % 50}.example"})
            them = [{"name": f"{o['given_name']} {o['surname']}", "email": o["email"]} for o in others]
            me = {"name": "Owner", "email": owner}
            msg: dict[str, Any] = {"id": f"msg{m:08d}", "grant_id": grant, "thread_id": f"th{m // 3:08d}",
                                   "subject": f"Re: order {m} – status update"}
            if outgoing:
                msg["from"], msg["to"] = [me], them[:1]
                if len(them) > 1:
                    msg["cc"] = them[1:]
                folders = ["SENT"]
            else:
                msg["from"], msg["to"] = them[:1], [me]
                if len(them) > 1:
                    msg["cc"] = them[1:]
                folders = ["INBOX"]
            msg["body"] = f"<div>{filler}</div>"
            msg["snippet"] = filler[:100]
            msg["date"] = when.astimezone(tz).isoformat().replace("+00:00", "Z")
            msg["unread"] = False
            msg["starred"] = False
            msg["folders"] = folders
            msg["created_at"] = msg["date"]
            msg["object"] = "message"
            yield msg

    return contacts, messages()


def write_export(directory: Path, n_contacts: int, n_messages: int, **kwargs: Any) -> tuple[Path, Path]:
    """Write a generated workload as ``contacts.json`` and ``messages.json`` (JSON arrays)."""
    directory.mkdir(parents=True, exist_ok=True)
    contacts, messages = generate(n_contacts, n_messages, **kwargs)
    cpath, mpath = directory / "contacts.json", directory / "messages.json"
    cpath.write_text(json.dumps(contacts, ensure_ascii=False), encoding="utf-8")
    with mpath.open("w", encoding="utf-8") as fh:  # streamed: big workloads never sit in memory
        fh.write("[")
        for i, msg in enumerate(messages):
            fh.write(("," if i else "") + json.dumps(msg, ensure_ascii=False))
        fh.write("]")
    return cpath, mpath


def read_http_request(reader: IO[bytes]) -> bool:
    """Read one HTTP/1.1 request (its head and a ``Content-Length`` body) from a server-side
    ``reader``; False when the client closed the connection. For the small socket servers of the
    transport's tests and benchmarks, which answer whatever they are sent."""
    line, length = reader.readline(), 0
    if not line:
        return False
    while line not in (b"\r\n", b""):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":")[1])
        line = reader.readline()
    reader.read(length)
    return True


class EmulatorProcess:
    """``mail2dataverse emulator`` in a child process, for benchmarks that must not count its
    CPU or memory as the client's. ``flags`` go to the command line (``--cost-model none``...).

    Use as a context manager: ``url`` is the emulator's base URL once it listens, ``proc`` the
    child process; leaving the block ends the process.
    """

    def __init__(self, *flags: str, stderr: Any = None):
        self.flags = flags
        self._stderr = stderr

    def __enter__(self) -> EmulatorProcess:
        import re
        import subprocess
        import sys
        import threading

        self.proc = subprocess.Popen([sys.executable, "-m", "mail2dataverse", "emulator", "--port", "0", *self.flags],
                                     stdout=subprocess.PIPE, stderr=self._stderr, text=True)
        assert self.proc.stdout is not None
        found = None
        while found is None:
            line = self.proc.stdout.readline()
            if not line:
                self.proc.wait()
                raise RuntimeError("the emulator did not start")
            found = re.search(r"https?://[^/\s]+", line)
        self.url = found.group(0)
        # Keep reading its stdout, so a chatty emulator can never block on a full pipe.
        threading.Thread(target=self.proc.stdout.read, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=30)

    def usage(self) -> dict[str, Any]:
        """The emulator's ``/_emulator/usage`` figures (modeled server time per user and server)."""
        import requests

        return requests.get(self.url + "/_emulator/usage", timeout=30).json()

    def reset_usage(self) -> None:
        """Start the usage figures afresh (between two measured runs on one emulator)."""
        import requests

        requests.delete(self.url + "/_emulator/usage", timeout=30)
