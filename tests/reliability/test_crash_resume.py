"""Crash and resume: the sync process is killed with SIGKILL at seeded random points (nothing
runs on the way out: no ``finally``, no SQLite commit), then re-run; the re-run completes and
the org ends exactly as after a clean run.

Kill points are of two kinds: "the emulator has seen N requests" (the process dies while the
service handles request N, either before it runs or just after it committed — the second is
the worst case: written to the org, never recorded in the state file) and "after a random
delay". The emulator runs in the test process; ``--auth none`` sends its placeholder token.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from mail2dataverse.emulator import Emulator

from .conftest import OWNER, duplicates, export, snapshot

CONFIG_YAML = f"owner_addresses: [{OWNER}]\nbatch_size: 10\nlookup_chunk: 20\nmax_parallel: 2\n"
N_CONTACTS, N_MESSAGES = 40, 120


def sync_command(inputs, url: str, state: Path, config: Path) -> list[str]:
    """The CLI invocation the suite runs and kills."""
    return [sys.executable, "-m", "mail2dataverse", "sync", "--messages", inputs.messages, "--contacts",
            inputs.contacts, "--config", str(config), "--url", url, "--auth", "none", "--state", str(state),
            "--format", "json"]


class KillSwitch:
    """Wraps the emulator's request handling to SIGKILL the sync process at request ``n``."""

    def __init__(self, emu: Emulator, n: int, after_commit: bool):
        self.emu, self.n, self.after_commit = emu, n, after_commit
        self.seen = 0
        self.proc: subprocess.Popen | None = None
        self.fired = threading.Event()
        self._lock = threading.Lock()
        self._real = emu._process
        emu._process = self._process  # instance attribute: the handler calls emu._process(req)

    def _kill(self) -> None:
        if self.proc is not None and not self.fired.is_set():
            os.kill(self.proc.pid, signal.SIGKILL)
            self.fired.set()

    def _process(self, req):
        with self._lock:
            self.seen += 1
            hit = self.seen == self.n
        if hit and not self.after_commit:
            self._kill()  # the process dies before the service runs the request
        resp = self._real(req)
        if hit and self.after_commit:
            self._kill()  # the service committed; the answer never reaches anyone
        return resp

    def remove(self) -> None:
        self.emu._process = self._real


def env() -> dict[str, str]:
    """The sync's environment: the checkout importable, no proxy between it and the emulator."""
    e = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
    e["PYTHONPATH"] = str(Path(__file__).resolve().parents[2])
    e["NO_PROXY"] = "127.0.0.1,localhost"
    return e


def clean(cmd_inputs, tmp: Path, config: Path):
    """Snapshot and request count of an uninterrupted CLI run."""
    with Emulator() as emu:
        done = subprocess.run(sync_command(cmd_inputs, emu.base_url, tmp / "clean.sqlite3", config),
                              capture_output=True, text=True, env=env(), timeout=120)
        assert done.returncode == 0, done.stderr
        return snapshot(emu), emu.stats["requests"]


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("crash")
    inputs = export(tmp / "in", N_CONTACTS, N_MESSAGES)
    config = tmp / "config.yaml"
    config.write_text(CONFIG_YAML, encoding="utf-8")
    reference, requests = clean(inputs, tmp, config)
    assert len(reference["emails"]) == N_MESSAGES and requests > 10
    return inputs, config, reference, requests


def kill_points(seed: int, count: int, requests: int) -> list[tuple[str, float, bool]]:
    """``count`` seeded kill points: ("request", n, after_commit) or ("delay", seconds, False)."""
    rng = random.Random(seed)
    points = []
    for i in range(count):
        if i % 3 == 2:
            points.append(("delay", rng.uniform(0.3, 1.5), False))
        else:
            points.append(("request", rng.randint(1, requests - 1), i % 3 == 1))
    return points


def crash_then_resume(inputs, config, reference, tmp: Path, point) -> dict:
    """Kill one run at ``point``, re-run to completion, compare with the clean run."""
    kind, where, after_commit = point
    state = tmp / "state.sqlite3"
    with Emulator() as emu:
        switch = KillSwitch(emu, int(where) if kind == "request" else 0, after_commit)
        proc = subprocess.Popen(sync_command(inputs, emu.base_url, state, config), stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, env=env())
        switch.proc = proc
        if kind == "delay":
            try:
                proc.wait(timeout=where)
            except subprocess.TimeoutExpired:
                switch._kill()
        out, err = proc.communicate(timeout=120)
        switch.remove()
        killed = switch.fired.is_set()
        if killed:
            assert proc.returncode == -signal.SIGKILL
        else:  # the delay outlasted the run: it must have finished cleanly
            assert proc.returncode == 0, err
        written_before = len(emu.records("email"))
        done = subprocess.run(sync_command(inputs, emu.base_url, state, config), capture_output=True, text=True,
                              env=env(), timeout=120)
        assert done.returncode == 0, f"re-run after {point}: {done.stderr[-2000:]}"
        assert "Traceback" not in done.stderr
        assert duplicates(emu) == {}
        assert snapshot(emu) == reference, f"org differs after a kill at {point}"
    return {"point": point, "killed": killed, "emails_before_rerun": written_before}


@pytest.mark.parametrize("point", kill_points(seed=20250701, count=3, requests=40))
def test_sigkill_then_rerun_ends_in_the_clean_state(setup, tmp_path, point):
    inputs, config, reference, requests = setup
    kind, where, after_commit = point
    if kind == "request":
        point = (kind, min(where, requests - 1), after_commit)
    result = crash_then_resume(inputs, config, reference, tmp_path, point)
    if kind == "request":
        assert result["killed"]


def test_repeated_kills_on_one_state_file_then_a_full_run(setup, tmp_path):
    # Three kills in a row on the same state file and org (each run gets further), then a
    # complete run: progress is kept and nothing is written twice.
    inputs, config, reference, requests = setup
    state = tmp_path / "state.sqlite3"
    with Emulator() as emu:
        for n in (requests // 4, requests // 4, requests // 4):
            switch = KillSwitch(emu, n, after_commit=True)
            proc = subprocess.Popen(sync_command(inputs, emu.base_url, state, config), stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, env=env())
            switch.proc = proc
            proc.communicate(timeout=120)
            switch.remove()
        done = subprocess.run(sync_command(inputs, emu.base_url, state, config), capture_output=True, text=True,
                              env=env(), timeout=120)
        assert done.returncode == 0, done.stderr[-2000:]
        assert duplicates(emu) == {}
        assert snapshot(emu) == reference


@pytest.mark.slow
def test_sigkill_at_20_seeded_points(setup, tmp_path):
    inputs, config, reference, requests = setup
    results = []
    for i, point in enumerate(kill_points(seed=7, count=20, requests=requests)):
        results.append(crash_then_resume(inputs, config, reference, tmp_path / f"p{i}", point))
    assert sum(r["killed"] for r in results) >= 14  # every request point, most delay points
