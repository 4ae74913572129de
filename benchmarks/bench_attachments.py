"""Attachments and threads (issue 16): MB/s and peak memory of attachment writes; thread links.

Three short runs, each sync in its own process (its peak RSS is the client's alone) against an
emulator in another process (``cost_model="none"``: this measures the client, not the model).
The attachment runs read a ``--from-nylas`` export through a stand-in ``nylas`` (a shell script
that prints the export and "downloads" each attachment by copying its file), so they measure
the writer — planning, one CLI call per attachment, streaming into ``$batch`` — and not an
archive parser:

1. ``many``: 1,000 emails with 3 attachments of 200 KB each (random, so no reuse);
2. ``big``: one email with a 100 MB attachment, once under the org's default 5 MB limit
   (refused by the size policy, nothing sent) and once with ``maxuploadfilesize`` at its 128 MB
   maximum (written, streamed from the file);
3. ``threads``: a holdout-shaped export of 10,000 messages in conversations, newest first as
   the CLI prints them, half with headers (In-Reply-To/References), all with ``thread_id``;
   a tenth of the replies answer mail older than the export (their parent is in neither the
   run nor the org). Reported: the share of replies linked among those whose parent exists,
   and the extra requests per 10,000 messages against the same run with ``threads: false``.

    .venv/bin/python benchmarks/bench_attachments.py [--emails 1000] [--big-mb 100] [--messages 10000]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

OWNER = "owner@acme.example"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve(port: int, max_upload: int) -> None:
    """Child role: an emulator on ``port`` until stdin closes."""
    from mail2dataverse.emulator import Emulator

    with Emulator(port=port, anonymous=True, organization={"maxuploadfilesize": max_upload}):
        print("ready", flush=True)
        sys.stdin.read()


def client(url: str, folder: str, cfg: dict) -> None:
    """Child role: one sync; prints its report figures, wall time and peak RSS as JSON."""
    from mail2dataverse.auth import StaticToken
    from mail2dataverse.config import RunConfig
    from mail2dataverse.sync import Inputs, sync

    config = replace(RunConfig(owner_addresses=(OWNER,)), **cfg)
    script = Path(folder) / "nylas"
    if script.exists():  # a stand-in CLI export (see FAKE_NYLAS)
        os.environ["FAKE_NYLAS_DIR"] = folder
        inputs = Inputs(from_nylas=True, grant="g", nylas_options={"executable": str(script)})
    else:
        inputs = Inputs(messages=folder)
    t0 = time.perf_counter()
    report = sync(inputs, config, url=url, auth=StaticToken("bench"), state_path=None)
    wall = time.perf_counter() - t0
    print(json.dumps({"wall_s": wall, "peak_rss_mb": _peak_rss_mb(),
                      "failed": report.failed, "attachments": report.attachments, "threads": report.threads,
                      "requests": report.http.get("requests"), "emails": report.to_dict()["entities"]["email"]}))


FAKE_NYLAS = """#!/bin/sh
# A stand-in for the nylas CLI: the export and the attachment files come from $FAKE_NYLAS_DIR.
case "$1" in
  --version) echo "nylas version bench"; exit 0;;
esac
if [ "$1 $2" = "email list" ]; then cat "$FAKE_NYLAS_DIR/messages.json"; exit 0; fi
if [ "$1 $2" = "contacts list" ]; then echo "[]"; exit 0; fi
if [ "$1 $2 $3" = "email attachments download" ]; then
  aid="$4"; out=""
  while [ $# -gt 0 ]; do [ "$1" = "--output" ] && out="$2"; shift; done
  cp "$FAKE_NYLAS_DIR/att/$aid" "$out"; exit $?
fi
echo "unexpected: $*" >&2; exit 1
"""


def nylas_export(tmp: Path, name: str, messages: list[dict], files: dict[str, bytes]) -> Path:
    """A folder the stand-in CLI serves: messages.json and att/<attachment id>."""
    folder = tmp / name
    (folder / "att").mkdir(parents=True)
    (folder / "messages.json").write_text(json.dumps(messages))
    for aid, data in files.items():
        (folder / "att" / aid).write_bytes(data)
    script = folder / "nylas"
    script.write_text(FAKE_NYLAS)
    script.chmod(0o755)
    return folder


def _peak_rss_mb() -> float:
    """This process's peak RSS (VmHWM): unlike ru_maxrss it is not inherited across exec, so
    the bench's own generated data does not count."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run(folder: Path, max_upload: int, cfg: dict | None = None) -> dict:
    port = _free_port()
    emu = subprocess.Popen([sys.executable, __file__, "--role", "serve", "--port", str(port), "--max-upload",
                            str(max_upload)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert emu.stdout.readline().strip() == "ready"
        out = subprocess.run([sys.executable, __file__, "--role", "client", "--url", f"http://127.0.0.1:{port}",
                              "--folder", str(folder), "--cfg", json.dumps(cfg or {})],
                             capture_output=True, text=True, check=True)
        return json.loads(out.stdout.strip().splitlines()[-1])
    finally:
        emu.stdin.close()
        emu.wait(timeout=60)


def _message(i: int, attachments: list[dict]) -> dict:
    return {"id": f"n{i}", "grant_id": "g", "subject": f"Files {i}", "from": [{"email": f"c{i % 300}@customer.example"}],
            "to": [{"email": OWNER}], "body": "see attached", "snippet": "see attached",
            "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(1_700_000_000 + i * 60)), "folders": ["INBOX"],
            "attachments": attachments}


def many(tmp: Path, n: int) -> dict:
    rng = random.Random(1)
    messages, files = [], {}
    for i in range(n):
        atts = []
        for k in range(3):
            aid = f"a{i}x{k}"
            files[aid] = rng.randbytes(200 * 1024)
            atts.append({"id": aid, "filename": f"doc{k}.pdf", "content_type": "application/pdf", "size": 200 * 1024})
        messages.append(_message(i, atts))
    res = run(nylas_export(tmp, "many", messages, files), 5_242_880)
    res["raw_mb"] = n * 3 * 200 * 1024 / 1e6
    res["mb_per_s"] = res["raw_mb"] / res["wall_s"]
    return res


def big(tmp: Path, size_mb: int) -> dict:
    """``size_mb`` MiB against the default limit and the 128 MB maximum (100 MiB is 140 MB of
    Base64: refused by both), and 90 MiB (126 MB of Base64) written under the maximum."""
    out = {}
    for label, mib, limit in ((f"{size_mb}mib_at_5mb", size_mb, 5_242_880), (f"{size_mb}mib_at_128mb", size_mb, 131_072_000),
                              ("90mib_at_128mb", 90, 131_072_000)):
        size = mib * 1024 * 1024
        att = {"id": "huge", "filename": "huge.pdf", "content_type": "application/pdf", "size": size}
        folder = nylas_export(tmp, label, [_message(0, [att])], {"huge": os.urandom(size)})
        res = run(folder, limit)
        res["mb_per_s"] = size / 1e6 / res["wall_s"] if res["attachments"]["written"] else None
        out[label] = res
        (folder / "att" / "huge").unlink()
    return out


def threads(tmp: Path, n: int) -> dict:
    """A holdout-shaped export as JSON (the CLI's shape), newest first."""
    rng = random.Random(2)
    records, replies_with_parent, replies = [], 0, 0
    conv = 0
    i = 0
    while i < n:
        conv += 1
        length = min(n - i, rng.choice((1, 1, 2, 3, 4, 6)))
        holdout = rng.random() < 0.1  # the conversation started before the export window
        headers = rng.random() < 0.5
        ids = [f"<c{conv}.{k}@bench.example>" for k in range(length + 1)]
        for k in range(length):
            pos = k + (1 if holdout else 0)
            rec = {"id": f"n{i}", "grant_id": "g", "thread_id": f"t{conv}", "subject": f"Re: conv {conv}",
                   "from": [{"email": f"c{conv % 500}@customer{conv % 40}.example"}], "to": [{"email": OWNER}],
                   "body": "x", "snippet": "x", "folders": ["INBOX"],
                   "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(1_700_000_000 + i * 60 + k))}
            if headers:
                h = [{"name": "Message-ID", "value": ids[pos]}]
                if pos:
                    h += [{"name": "In-Reply-To", "value": ids[pos - 1]},
                          {"name": "References", "value": " ".join(ids[:pos])}]
                rec["headers"] = h
            if pos:
                replies += 1
                replies_with_parent += 1 if (k > 0) else 0
            records.append(rec)
            i += 1
    records.sort(key=lambda r: r["date"], reverse=True)
    path = tmp / "threads.json"
    path.write_text(json.dumps(records))
    on = run(path, 5_242_880)
    off = run(path, 5_242_880, {"threads": False})
    linked = on["threads"]["linked"]
    return {"messages": n, "replies": replies, "replies_with_parent_in_export": replies_with_parent,
            "linked": linked, "share_linked": linked / replies_with_parent if replies_with_parent else None,
            "share_linked_of_all_replies": linked / replies if replies else None,
            "deferred": on["threads"]["deferred"], "requests_on": on["requests"], "requests_off": off["requests"],
            "extra_requests_per_10k": (on["requests"] - off["requests"]) * 10_000 / n,
            "wall_s_on": on["wall_s"], "wall_s_off": off["wall_s"], "failed": on["failed"] + off["failed"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--role", choices=("bench", "serve", "client"), default="bench")
    parser.add_argument("--port", type=int)
    parser.add_argument("--max-upload", type=int, default=5_242_880)
    parser.add_argument("--url")
    parser.add_argument("--folder")
    parser.add_argument("--cfg", default="{}")
    parser.add_argument("--emails", type=int, default=1000)
    parser.add_argument("--big-mb", type=int, default=100)
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--only", choices=("many", "big", "threads"))
    args = parser.parse_args()
    if args.role == "serve":
        return serve(args.port, args.max_upload)
    if args.role == "client":
        return client(args.url, args.folder, json.loads(args.cfg))
    with tempfile.TemporaryDirectory() as tmp:
        runs = {"many": lambda: many(Path(tmp), args.emails), "big": lambda: big(Path(tmp), args.big_mb),
                "threads": lambda: threads(Path(tmp), args.messages)}
        out = {name: fn() for name, fn in runs.items() if args.only in (None, name)}
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
