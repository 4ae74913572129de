"""``benchmarks/bench_preview.py``'s ``read_mb`` counts what the input readers read.

It used to be the process's ``rchar`` over the preview, which also counts the preview reading
back its own spool of formatted records (several times the input for the json format): the
figure said a preview read its input five times when it read it once.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from mail2dataverse.sources.inputs import Input
from mail2dataverse.testing import write_export

BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_preview.py"


def _bench(monkeypatch):
    monkeypatch.syspath_prepend(str(BENCH.parent))  # its sibling machine_speed, as a script finds it
    spec = importlib.util.spec_from_file_location("bench_preview", BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    # the machine's reference workload (seconds of CPU, beside the figure) has no bearing here
    monkeypatch.setattr(module.machine_speed, "reference_seconds", lambda: 0.25)
    return module


def test_read_mb_counts_the_input_readers_not_the_spool_read_back(tmp_path, monkeypatch):
    bench = _bench(monkeypatch)
    plain_open = Input.open
    contacts, messages = write_export(tmp_path, 100, 1500, owner=bench.OWNER)
    config = tmp_path / "config.yaml"
    config.write_text(f"profile: sales\nowner_addresses: [{bench.OWNER}]\n", encoding="utf-8")
    figures = bench.throughput(contacts, messages, config, 1500)
    assert figures["messages"] == 1500
    # read once: the whole input, plus the few 64 KB heads format sniffing and detection read
    assert figures["input_mb"] <= figures["read_mb"] <= figures["input_mb"] + 0.5
    if figures["process_read_mb"] is not None:  # /proc is there: the spool read-back is on top
        assert figures["process_read_mb"] > figures["read_mb"] + figures["input_mb"]
    assert Input.open is plain_open  # the counting is the benchmark's, for its run only
