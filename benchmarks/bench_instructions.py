"""Instructions per message of the empty-org preview, ours against a commit: a figure the machine's hour does not move.

On this kind of machine the same code's CPU time moves by up to 2.5× from one hour to the next,
and by 5-10 % between two runs a minute apart, so a change worth 1-2 % cannot be seen by timing
it, even in turn with the other side (``bench_paired.py``). The number of instructions a run
executes is the same on every run. Here each side (the working tree and ``--against``) runs the
preview ``bench_paired.py`` times (empty org, json, output to ``/dev/null``) under valgrind's
callgrind, on two exports that differ only in their number of messages (the same contacts). The
difference of the two counts over the difference of messages is the instructions per message,
with start-up, imports and compiling (``PYTHONDONTWRITEBYTECODE``) cancelled out.

An instruction count is not time: memory traffic (cache misses, page faults) counts for nothing
here, and it is what a bloated preview paid most for. The 43437dd preview, which held every
operation in memory, runs 0.77× our instructions per message at 4,000 messages, where timing at
100,000 gives 0.70-0.75×. Use it to decide between two versions of a hot path (a ratio under 1
is fewer instructions for the working tree), not as the issue's figure. Needs ``valgrind``
(Debian's package); each run is about 50 times slower than native, about 4 minutes in all.

    .venv/bin/python benchmarks/bench_instructions.py [--against COMMIT] [--messages 1000,4000]
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import bench_paired
import bench_preview

CONTACTS = 500


def instructions(tree: Path, export: Path, out_file: Path) -> int:
    """Instructions one preview of ``export`` by the package in ``tree`` executes (callgrind's total)."""
    run = subprocess.run(["valgrind", "--tool=callgrind", f"--callgrind-out-file={out_file}", sys.executable, "-c",
                          bench_paired._PREVIEW_DRIVER, str(tree), str(export), "1"],
                         capture_output=True, text=True, check=True)
    found = re.search(r"Collected : (\d+)", run.stderr)
    if found is None:
        raise RuntimeError(f"callgrind printed no total:\n{run.stderr[-2000:]}")
    return int(found.group(1))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--against", default=bench_paired.WAVE_START, help="the commit to compare with (default: the wave's first)")
    ap.add_argument("--messages", default="1000,4000", help="the two export sizes, smaller first")
    args = ap.parse_args(argv)
    small, large = (int(n) for n in args.messages.split(","))
    if not 0 < small < large:
        ap.error("--messages takes two sizes, the smaller first")
    if shutil.which("valgrind") is None:
        print("bench_instructions: valgrind is not installed (apt-get install valgrind); nothing measured", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        exports = {}
        for n in (small, large):
            exports[n] = tmp / f"export-{n}"
            bench_preview.export(exports[n], n, CONTACTS)
        trees = {"theirs": bench_paired.package_tree(bench_paired.checkout(args.against, tmp / "src-theirs"), tmp / "theirs"),
                 "ours": bench_paired.package_tree(bench_paired.ROOT, tmp / "ours")}
        sides = {}
        for side, tree in trees.items():
            counts = {n: instructions(tree, exports[n], tmp / f"callgrind.{side}.{n}") for n in (small, large)}
            sides[side] = {"instructions": counts, "per_message": round((counts[large] - counts[small]) / (large - small))}
            print(f"{side}: {sides[side]['per_message']:,} instructions a message", file=sys.stderr, flush=True)
    print(json.dumps({"workload": f"empty-org json preview, {small:,} and {large:,} messages, {CONTACTS} contacts",
                      "against": args.against, **sides,
                      "ratio": round(sides["ours"]["per_message"] / sides["theirs"]["per_message"], 4)}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
