"""Run every benchmark in this folder, one after the other, and print their figures.

Benchmarks print numbers; they never assert on time (tests don't either). Run one alone with
``.venv/bin/python benchmarks/bench_<name>.py --help``.
"""

import subprocess
import sys
from pathlib import Path

here = Path(__file__).resolve().parent
status = 0
for script in sorted(here.glob("bench_*.py")):
    print(f"== {script.name}", flush=True)
    status |= subprocess.run([sys.executable, str(script)]).returncode
raise SystemExit(status)
