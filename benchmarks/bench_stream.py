"""Streaming a large Nylas export: records per second and peak memory (target: < 200 MB).

Generates a 200,000-message export exactly as ``nylas email list --all --json`` prints it
(pretty-printed with two-space indent, ``\\u003c``/``\\u003e``/``\\u0026`` escapes, raw UTF-8,
~2 KB HTML bodies, RFC 3339 dates) to a temporary file, written one record at a time so the
generator itself stays small. Then runs what the sync does: ``open_source`` + ``validate()``
(the full pre-pass) + one iteration over every ``(RecordRef, record)``, timing each pass.

Peak memory is the process's maximum resident set size (``ru_maxrss``): interpreter, ijson,
the largest record in flight and nothing else, since no pass keeps records.

    .venv/bin/python benchmarks/bench_stream.py [--messages 200000] [--body-bytes 2000] [--format json|ndjson] [--sync]

``--sync`` then runs the whole sync of the same export (map, plan, write in ``$batch`` requests,
state file) into the emulator started as a separate process, so the figure is this process's
peak memory for the full pipeline and the emulator's own memory is not counted. It takes
minutes (about 5 for 200,000 messages on two busy cores; the emulator is the bottleneck), so
``make bench`` runs without it.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

from mail2dataverse.sources import open_source

WORDS = ("renewal pricing seats quote addendum Friday pilot warehouse automation invoice call "
         "Zoë Ångström Siobhán O'Brien contract schedule meeting Tuesday review & <team> update").split()


def peak_mb() -> float:
    """Peak resident set size of this process in MB (ru_maxrss is KiB on Linux, bytes on macOS)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


def go_json(value: object) -> str:
    """Serialise like Go's encoding/json with SetIndent("", "  "): HTML characters escaped."""
    text = json.dumps(value, ensure_ascii=False, indent=2)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def message(i: int, rng: random.Random, body_bytes: int) -> dict:
    """One realistic message record in the CLI's field order."""
    words = []
    size = 0
    while size < body_bytes:
        w = rng.choice(WORDS)
        words.append(w)
        size += len(w) + 1
    text = " ".join(words)
    date = (datetime(2025, 3, 4, 14, 5, 9, tzinfo=timezone.utc) - timedelta(minutes=7 * i)).strftime("%Y-%m-%dT%H:%M:%SZ")
    record = {
        "id": f"{0x18f3a9c2b7d41e05 - i:016x}",
        "grant_id": "5a1e7c2d-3b4f-4e6a-9c8d-0f1e2d3c4b5a",
        "thread_id": f"{0x18f3a9c2b7d41e05 - i // 3:016x}",
        "subject": f"Re: {' '.join(words[:6])} #{i}",
        "from": [{"name": "Zoë Ångström", "email": f"zoe{i % 500}@northwind-traders.example"}],
        "to": [{"name": "Dana Whitfield", "email": "dana@acme-widgets.example"}],
    }
    if i % 4 == 0:
        record["cc"] = [{"name": "Siobhán O'Brien", "email": "o'brien@harbor-logistics.example"},
                        {"email": f"team{i % 50}@acme-widgets.example"}]
    record.update({
        "body": f'<div dir="ltr">{text}<br><br>Thanks,<br>Zoë</div>',
        "snippet": text[:100],
        "date": date,
        "unread": i % 3 == 0,
        "starred": i % 11 == 0,
        "folders": ["INBOX", "CATEGORY_PERSONAL"] if i % 5 else ["SENT"],
    })
    if i % 10 == 0:
        record["attachments"] = [{"id": f"att-{i}", "filename": "quote.pdf", "content_type": "application/pdf",
                                  "size": 248576}]
    record["created_at"] = date
    record["object"] = "message"
    return record


def generate(path: Path, count: int, body_bytes: int, fmt: str) -> None:
    """Write the export record by record (never the whole list in memory)."""
    rng = random.Random(42)
    with open(path, "w", encoding="utf-8") as f:
        if fmt == "ndjson":
            for i in range(count):
                f.write(json.dumps(message(i, rng, body_bytes), ensure_ascii=False))
                f.write("\n")
            return
        f.write("[\n")
        for i in range(count):
            body = go_json(message(i, rng, body_bytes))
            f.write("  " + body.replace("\n", "\n  "))
            f.write(",\n" if i < count - 1 else "\n")
        f.write("]\n")


def sync_into_emulator(path: Path, expected: int) -> None:
    """Sync ``path`` into ``mail2dataverse emulator --anonymous`` running in a child process."""
    from mail2dataverse.auth import StaticToken
    from mail2dataverse.config import RunConfig
    from mail2dataverse.sync import Inputs, sync
    from mail2dataverse.testing import EmulatorProcess

    # A separate process: the emulator keeps every record in memory, which is not ours to count.
    with EmulatorProcess("--anonymous", "--cost-model", "none") as emulator, \
            tempfile.TemporaryDirectory(prefix="bench-stream-state-") as state:
        t0 = time.perf_counter()
        report = sync(Inputs(messages=str(path)), RunConfig(), url=emulator.url, auth=StaticToken("bench"),
                      state_path=str(Path(state, "state.sqlite3")))
        elapsed = time.perf_counter() - t0
        created = report.entities["email"].created
        print(f"sync: {created:,} of {expected:,} emails created, {report.failed} failed, "
              f"{expected / elapsed:,.0f} messages/s ({elapsed:.0f} s)")


def main(argv: list[str] | None = None) -> int:
    """Generate, validate, iterate; print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=200_000)
    parser.add_argument("--body-bytes", type=int, default=2000)
    parser.add_argument("--format", choices=("json", "ndjson"), default="json")
    parser.add_argument("--keep", action="store_true", help="keep the generated file and print its path")
    parser.add_argument("--sync", action="store_true",
                        help="also sync the export into an emulator process and report the peak memory")
    args = parser.parse_args(argv)

    fd, name = tempfile.mkstemp(prefix="bench-stream-", suffix=".ndjson" if args.format == "ndjson" else ".json")
    os.close(fd)
    path = Path(name)
    try:
        t0 = time.perf_counter()
        generate(path, args.messages, args.body_bytes, args.format)
        t_gen = time.perf_counter() - t0
        size_mb = path.stat().st_size / 1e6
        print(f"generated {args.messages:,} messages, {size_mb:,.0f} MB ({args.format}) in {t_gen:.1f} s; "
              f"peak RSS so far {peak_mb():.0f} MB")

        with open_source(path, "messages") as src:
            t0 = time.perf_counter()
            count = src.validate()
            t_val = time.perf_counter() - t0
            assert count == args.messages, (count, args.messages)
            t0 = time.perf_counter()
            seen = 0
            newest = ""
            for _ref, record in src:
                seen += 1
                if record["date"] > newest:  # touch the record like the incremental sync would
                    newest = record["date"]
            t_iter = time.perf_counter() - t0
        assert seen == count

        print(f"validate(): {count / t_val:,.0f} records/s ({t_val:.1f} s, {size_mb / t_val:,.0f} MB/s)")
        print(f"iterate:    {seen / t_iter:,.0f} records/s ({t_iter:.1f} s, {size_mb / t_iter:,.0f} MB/s)")
        print(f"validate + iterate: {count / (t_val + t_iter):,.0f} records/s end to end")
        peak = peak_mb()
        print(f"peak memory (ru_maxrss): {peak:.0f} MB — target < 200 MB: {'OK' if peak < 200 else 'OVER'}")
        if args.sync:
            sync_into_emulator(path, args.messages)
            peak = peak_mb()
            print(f"peak memory with the sync (ru_maxrss): {peak:.0f} MB — target < 200 MB: "
                  f"{'OK' if peak < 200 else 'OVER'}")
        return 0 if peak < 200 else 1
    finally:
        if args.keep:
            print(f"kept {path}")
        else:
            path.unlink(missing_ok=True)


if __name__ == "__main__":
    sys.exit(main())
