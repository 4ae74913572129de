"""The preview (issue 13): peak memory per format, throughput, and requests against an org.

Generates a 200,000-message export (plus 5,000 contacts) once into ``--cache`` and reuses it.
Then:

- **memory**: ``mail2dataverse preview`` in a child process per format (json, ndjson, yaml,
  table, html), without ``--url`` (empty org) and with ``--url`` against the emulator (itself a
  separate process, so its memory is not counted); the figure is the child's peak resident set
  size (``wait4``, started from a small launcher: see :data:`_LAUNCHER`), output going to
  ``/dev/null``. Target: at most 150 MB everywhere.
- **throughput**: the empty-org preview of a 100,000-message export, in this process, from
  reading the file to the rendered json, compile included. Target: at least 20,000 messages/s.
  Beside it, the machine's speed before and after (``machine_speed.py``) and the CPU in units of
  its reference workload, which tells a slow hour from a fast one.
  With it, ``read_mb``: the bytes the input readers took from the two input files (counted at
  the readers, under ``Input.open``: format sniffing and every reading pass included), against
  ``input_mb``, their size: a preview reads its input once. ``process_read_mb`` is everything
  the process read meanwhile (``rchar`` of ``/proc/self/io``): the input, and also the
  preview's read-back of its own spool (the formatted records, copied out after the summary),
  replies deferred to disk, if any, and the mapping files, so it overstates how much of the input was read.
- **requests**: the ``--url`` preview of the first 10,000 messages against an emulator holding
  the mailbox owner as a system user: how many HTTP requests it sends (lookups only, batched as
  a sync batches them).

    .venv/bin/python benchmarks/bench_preview.py [--messages 200000] [--skip-memory] [--formats json,table]
        [--parts throughput,requests,memory] [--against empty,url]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import machine_speed
from mail2dataverse import testing

OWNER = "owner@acme-widgets.example"
FORMATS = ("json", "ndjson", "yaml", "table", "html")


def export(cache: Path, n_messages: int, n_contacts: int) -> tuple[Path, Path, Path]:
    """The generated export in ``cache`` (written the first time only) and its config file."""
    from mail2dataverse.testing import write_export

    stamp = cache / f"done-{n_messages}-{n_contacts}"
    contacts, messages, config = cache / "contacts.json", cache / "messages.json", cache / "config.yaml"
    if not stamp.exists():
        t0 = time.perf_counter()
        write_export(cache, n_contacts, n_messages, owner=OWNER)
        stamp.write_text("ok\n")
        print(f"generated {n_messages:,} messages in {time.perf_counter() - t0:.0f} s ({messages.stat().st_size / 1e6:,.0f} MB)",
              file=sys.stderr)
    config.write_text(f"profile: sales\nowner_addresses: [{OWNER}]\n", encoding="utf-8")
    return contacts, messages, config


class EmulatorProcess(testing.EmulatorProcess):
    """The shared emulator process, seeded with the owner as a system user."""

    def __init__(self) -> None:
        super().__init__("--anonymous", "--cost-model", "none")

    def __enter__(self) -> EmulatorProcess:
        super().__enter__()
        import requests

        answer = requests.post(f"{self.url}/api/data/v9.2/systemusers", timeout=30,
                               json={"firstname": "Owner", "lastname": "Acme", "internalemailaddress": OWNER})
        if not answer.ok:
            print(f"could not seed the owner as a system user: {answer.status_code}", file=sys.stderr)
        return self


#: Runs argv[2:] as its child and writes the child's peak RSS (KiB, from ``wait4``) to the file
#: argv[1]. The kernel keeps, across ``exec``, the peak of the memory a process had before it
#: (for a child of ``subprocess``, a vfork of this process: with the 100k throughput run done
#: in-process, 200+ MB), so a child started from here directly reports at least this
#: process's peak. Started from this small launcher instead, it reports its own.
_LAUNCHER = """\
import os, sys
pid = os.fork()
if pid == 0:
    os.execv(sys.argv[2], sys.argv[2:])
_, status, usage = os.wait4(pid, 0)
with open(sys.argv[1], "w") as f:
    f.write(str(usage.ru_maxrss))
sys.exit(os.waitstatus_to_exitcode(status))
"""


def peak_of(argv: list[str]) -> tuple[float, float, int]:
    """Run ``argv`` with stdout to /dev/null; its peak RSS in MB, seconds and exit status."""
    t0 = time.perf_counter()
    with open(os.devnull, "w") as null, tempfile.NamedTemporaryFile("r", suffix=".maxrss") as peak:
        proc = subprocess.Popen([sys.executable, "-c", _LAUNCHER, peak.name, *argv], stdout=null, stderr=subprocess.PIPE)
        _, err_bytes = proc.communicate()
        kib = int(peak.read() or 0)
    err = err_bytes.decode()
    code = proc.returncode
    if code:
        print(err[-2000:], file=sys.stderr)
    return kib / 1024, time.perf_counter() - t0, code


def memory(contacts: Path, messages: Path, config: Path, formats: list[str], against: list[str]) -> list[dict]:
    """Peak RSS of each format, without (``empty``) and with ``--url`` (``url``)."""
    rows: list[dict] = []
    base = [sys.executable, "-m", "mail2dataverse", "preview", "--messages", str(messages), "--contacts", str(contacts),
            "--config", str(config)]
    for fmt in formats if "empty" in against else ():
        mb, seconds, code = peak_of([*base, "--format", fmt])
        rows.append({"format": fmt, "against": "empty org", "peak_mb": round(mb, 1), "seconds": round(seconds, 1), "exit": code})
        print(json.dumps(rows[-1]), file=sys.stderr)
    if "url" not in against:
        return rows
    with EmulatorProcess() as emu:
        for fmt in formats:
            mb, seconds, code = peak_of([*base, "--format", fmt, "--url", emu.url, "--auth", "none"])
            rows.append({"format": fmt, "against": "emulator (--url)", "peak_mb": round(mb, 1),
                         "seconds": round(seconds, 1), "exit": code})
            print(json.dumps(rows[-1]), file=sys.stderr)
    return rows


def throughput(contacts: Path, messages: Path, config: Path, n: int) -> dict:
    """Messages per second of the empty-org json preview of the first ``n`` messages."""
    from mail2dataverse.config import load_config
    from mail2dataverse.preview import Selection, run_preview
    from mail2dataverse.sync import Inputs

    before = machine_speed.reference_seconds()
    with open(os.devnull, "w", encoding="utf-8") as null, _input_reads() as input_read:
        read0 = _bytes_read()
        t0, cpu0 = time.perf_counter(), time.process_time()
        report = run_preview(Inputs(messages=str(messages), contacts=str(contacts)), load_config(config),
                             out=null, fmt="json", selection=Selection(limit=n))
        elapsed, cpu = time.perf_counter() - t0, time.process_time() - cpu0
        read = _bytes_read() - read0
    machine = machine_speed.around(before, machine_speed.reference_seconds())
    planned = report.inputs["messages"]
    size = messages.stat().st_size + contacts.stat().st_size
    return {"messages": planned, "seconds": round(elapsed, 2), "messages_per_s": round(planned / elapsed),
            "cpu_seconds": round(cpu, 2), "messages_per_cpu_s": round(planned / cpu),
            "cpu_in_reference_units": machine_speed.in_units(cpu, machine), "machine": machine,
            "input_mb": round(size / 1e6, 1), "read_mb": round(input_read[0] / 1e6, 1),
            "process_read_mb": round(read / 1e6, 1) if read >= 0 else None}


class _CountedRaw(io.RawIOBase):
    """An input file's raw reads, added up in ``counted[0]``: the bytes its reader took from the
    file (what ``rchar`` counts for it), whatever the reader's own buffering."""

    def __init__(self, path: Path, counted: list[int]):
        super().__init__()
        self._file = open(path, "rb", buffering=0)
        self._counted = counted

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int | None:  # noqa: ANN001 - a writable buffer, as RawIOBase takes
        n = self._file.readinto(buffer)
        self._counted[0] += n or 0
        return n

    def close(self) -> None:
        self._file.close()
        super().close()


@contextlib.contextmanager
def _input_reads():
    """While open, every input file the readers open (``Input.open``) counts its reads; yields
    ``[bytes read so far]``. The readers get the buffered reader ``open(path, "rb")`` gives."""
    from mail2dataverse.sources.inputs import Input

    counted = [0]
    plain_open = Input.open

    def counted_open(inp: Input):
        if inp.path is None:  # a spooled stream (stdin, the nylas command): not a file here
            return plain_open(inp)
        return io.BufferedReader(_CountedRaw(inp.path, counted), io.DEFAULT_BUFFER_SIZE)

    Input.open = counted_open
    try:
        yield counted
    finally:
        Input.open = plain_open


def _bytes_read() -> int:
    """Bytes this process has read so far (``rchar``), or -1 where /proc is not there."""
    try:
        with open("/proc/self/io", encoding="ascii") as f:
            return next(int(line.split()[1]) for line in f if line.startswith("rchar:"))
    except (OSError, StopIteration):
        return -1


def requests_per_10k(contacts: Path, messages: Path, config: Path) -> dict:
    """HTTP requests of the ``--url`` preview of the first 10,000 messages."""
    from mail2dataverse.auth import StaticToken
    from mail2dataverse.config import load_config
    from mail2dataverse.preview import Selection, run_preview
    from mail2dataverse.sync import Inputs

    with EmulatorProcess() as emu:
        report = run_preview(Inputs(messages=str(messages), contacts=str(contacts)), load_config(config),
                             out=io.StringIO(), fmt="ndjson", selection=Selection(limit=10_000), url=emu.url,
                             auth=StaticToken("bench"))
    http = report.http
    return {"messages": report.inputs["messages"], "contacts": report.inputs["contacts"],
            "requests": http.get("requests"), "batches": http.get("batches"), "operations": http.get("operations")}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--messages", type=int, default=200_000)
    ap.add_argument("--contacts", type=int, default=5_000)
    ap.add_argument("--cache", type=Path, default=Path(os.environ.get("TMPDIR", "/tmp")) / "m2d-bench-preview")
    ap.add_argument("--formats", default=",".join(FORMATS))
    ap.add_argument("--speed-messages", type=int, default=100_000)
    ap.add_argument("--skip-memory", action="store_true", help="only throughput and requests (quick)")
    ap.add_argument("--parts", default="throughput,requests,memory", help="which figures (comma-separated)")
    ap.add_argument("--against", default="empty,url", help="memory: without --url (empty), with it (url), or both")
    args = ap.parse_args(argv)
    parts = set(args.parts.split(",")) - ({"memory"} if args.skip_memory else set())
    contacts, messages, config = export(args.cache, args.messages, args.contacts)
    result: dict = {"messages": args.messages, "contacts": args.contacts}
    if "memory" in parts:  # first: the children's figures do not depend on it, but it is the slow part
        result["memory"] = memory(contacts, messages, config, args.formats.split(","), args.against.split(","))
    if "throughput" in parts:
        # Its own export of exactly that size, so the figure is that of a whole 100k-message file
        # (with --limit on the big one the reader would stop early: fine, but not what is asked).
        small = export(args.cache / f"speed-{args.speed_messages}", args.speed_messages, args.contacts)
        result["throughput"] = throughput(*small, args.speed_messages)
        print(json.dumps(result["throughput"]), file=sys.stderr)
    if "requests" in parts:
        result["requests_per_10k"] = requests_per_10k(contacts, messages, config)
        print(json.dumps(result["requests_per_10k"]), file=sys.stderr)
    json.dump(result, sys.stdout, indent=2)
    print()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
