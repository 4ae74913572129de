"""The cost-off W10k sync's client CPU, timed in turn with another commit's: issue 12's CPU bound
as the ratio it asks for (1.5 s where the issue measured 2.9 s: 0.52×), which a machine whose
speed moves 2.5× between hours cannot give as an absolute figure (see ``machine_speed.py``).

Each side is a tree of the package: this working tree, and ``--against`` (a commit, read with
``git archive``). Each runs in a child process that imports ``mail2dataverse`` from its tree (not
the editable install), starts its own tree's emulator in another child process (its CPU is not
the client's; ``--cost-model none`` where that tree's emulator has cost models, which the wave's
first commit did not) with 20 ms of latency, syncs one warm-up W10k, then times ``--runs`` syncs
with ``time.process_time``. The sides alternate ``--rounds`` times, so both meet the same hours.

    .venv/bin/python benchmarks/bench_paired.py --against 43437dd [--rounds 3] [--runs 2]

The other tree's own dependencies must be installed (43437dd read JSON with ``ijson``).
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

import machine_speed

from mail2dataverse.testing import write_export

ROOT = Path(__file__).resolve().parent.parent
OWNER = "owner@acme-widgets.example"
#: The folders pyproject.toml maps into the package besides engine/ (its package-dir).
SUBPACKAGES = ("plugins", "mappings", "schemas")
#: issue 12: "client CPU at most 1.5 s (today 2.9 s)"
BOUND_RATIO = round(1.5 / 2.9, 3)

#: argv: tree, then what ``python -m`` would take. Imports mail2dataverse from the tree.
_FROM_TREE = """\
import runpy, sys
sys.meta_path[:] = [f for f in sys.meta_path if "editable" not in repr(f).lower()]
sys.path.insert(0, sys.argv[1])
"""

#: argv: tree, export folder, runs. Prints one JSON line per timed sync.
_DRIVER = _FROM_TREE + """\
import argparse, json, re, subprocess, tempfile, threading, time
from pathlib import Path
from mail2dataverse.auth import StaticToken
from mail2dataverse.config import RunConfig
from mail2dataverse.emulator.cli import add_arguments
from mail2dataverse.sync import Inputs, sync

tree, export, runs = sys.argv[1], Path(sys.argv[2]), int(sys.argv[3])
flags = argparse.ArgumentParser()
add_arguments(flags)
cost = ["--cost-model", "none"] if "--cost-model" in flags._option_string_actions else []
emulator = [sys.executable, "-c", FROM_TREE + "sys.argv = sys.argv[2:]; runpy.run_module('mail2dataverse', run_name='__main__')",
            tree, "mail2dataverse", "emulator", "--port", "0", "--latency-ms", "20", *cost]

def once():
    proc = subprocess.Popen(emulator, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        found = None
        while found is None:
            line = proc.stdout.readline()
            if not line:
                raise SystemExit("the emulator of " + tree + " did not start")
            found = re.search(r"https?://[^/\\s]+", line)
        threading.Thread(target=proc.stdout.read, daemon=True).start()
        with tempfile.TemporaryDirectory() as tmp:
            cpu = time.process_time()
            report = sync(Inputs(messages=str(export / "messages.json"), contacts=str(export / "contacts.json")),
                          RunConfig(owner_addresses=("OWNER",)), url=found.group(0), auth=StaticToken("bench"),
                          state_path=Path(tmp) / "state.sqlite3")
            return time.process_time() - cpu, report.failed
    finally:
        proc.terminate()
        proc.wait()

once()  # imports, the public-suffix list
for _ in range(runs):
    cpu, failed = once()
    print(json.dumps({"client_cpu_s": round(cpu, 3), "failed": failed, "cost_model": "none" if cost else "(none: before cost models)"}), flush=True)
""".replace("FROM_TREE", repr(_FROM_TREE)).replace('"OWNER"', repr(OWNER))


def package_tree(source: Path, into: Path) -> Path:
    """A folder holding ``mail2dataverse`` as the checkout ``source`` maps it (engine/ and the
    subpackages), made of links; returns the folder to put on ``sys.path``."""
    package = into / "mail2dataverse"
    package.mkdir(parents=True)
    for entry in (source / "engine").iterdir():
        (package / entry.name).symlink_to(entry)
    for name in SUBPACKAGES:
        (package / name).symlink_to(source / name)
    return into


def checkout(commit: str, into: Path) -> Path:
    """The files of ``commit`` in ``into`` (``git archive``: no worktree left to clean up)."""
    archive = into.with_suffix(".tar")
    subprocess.run(["git", "-C", str(ROOT), "archive", "--output", str(archive), commit], check=True)
    with tarfile.open(archive) as tar:
        # (the filter came with 3.11.4; our own commits' archives need no guarding)
        tar.extractall(into, **({"filter": "data"} if hasattr(tarfile, "data_filter") else {}))
    archive.unlink()
    return into


def timed(tree: Path, export: Path, runs: int) -> list[dict]:
    """The client CPU of ``runs`` syncs by the package in ``tree`` (after its warm-up)."""
    out = subprocess.run([sys.executable, "-c", _DRIVER, str(tree), str(export), str(runs)],
                         check=True, capture_output=True, text=True)
    return [json.loads(line) for line in out.stdout.splitlines() if line.startswith("{")]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--against", required=True, help="the commit to time in turn with this working tree")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--runs", type=int, default=2, help="timed syncs a side per round")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="m2d-bench-paired-"))
    try:
        ours = package_tree(ROOT, tmp / "ours")
        theirs = package_tree(checkout(args.against, tmp / "src"), tmp / "theirs")
        export = tmp / "export"
        write_export(export, 2000, 10000, owner=OWNER)
        before = machine_speed.reference_seconds()
        rounds = []
        for n in range(args.rounds):
            sides = {}
            for side in (("theirs", "ours") if n % 2 == 0 else ("ours", "theirs")):
                sides[side] = timed(theirs if side == "theirs" else ours, export, args.runs)
            cpu = {side: statistics.median(r["client_cpu_s"] for r in runs) for side, runs in sides.items()}
            rounds.append({"ours": sides["ours"], "theirs": sides["theirs"], "ratio": round(cpu["ours"] / cpu["theirs"], 3)})
        machine = machine_speed.around(before, machine_speed.reference_seconds())
        ratios = [r["ratio"] for r in rounds]
        print(json.dumps({"against": args.against, "workload": "W10k, 20 ms latency", "rounds": rounds,
                          "ratio_median": statistics.median(ratios), "ratio_range": [min(ratios), max(ratios)],
                          "bound_ratio": BOUND_RATIO, "met": max(ratios) <= BOUND_RATIO, "machine": machine}, indent=1))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
