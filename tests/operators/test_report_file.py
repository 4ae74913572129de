"""The report file is written on every exit, atomically, 0600, and never left stale."""

from __future__ import annotations

import json
import signal
import stat
import subprocess
import time

import pytest

from mail2dataverse.demo import seed_org
from mail2dataverse.emulator import Emulator
from mail2dataverse.report import Report
from mail2dataverse.runfile import RunFile, write_atomic

from .helpers import SAMPLE, command, env, read_report, run, stale_report


def test_write_atomic_replaces_in_one_step_with_mode_0600(tmp_path):
    path = tmp_path / "report.json"
    path.write_text("old", encoding="utf-8")
    path.chmod(0o644)
    write_atomic(path, '{"new": true}\n')
    assert path.read_text(encoding="utf-8") == '{"new": true}\n'
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["report.json"]  # no temporary file left


def test_a_successful_run_reports_its_identity_inputs_digests_and_outcome(tmp_path):
    report = tmp_path / "report.json"
    stale_report(report)
    with Emulator() as emu:
        seed_org(emu)
        proc = run("sync", *SAMPLE, "--url", emu.base_url, "--auth", "none", "--state", str(tmp_path / "s.sqlite3"),
                   "--report", str(report))
    assert proc.returncode == 0, proc.stderr
    data = read_report(report)
    run_info = data["run"]
    assert data["outcome"] == "ok" and data["exit_status"] == 0 and data["ok"] is True
    assert run_info["id"] != "yesterday" and len(run_info["id"]) == 32
    assert run_info["started"].endswith("Z") and run_info["ended"].endswith("Z") and run_info["started"] <= run_info["ended"]
    assert run_info["duration_s"] > 0 and run_info["version"] and run_info["org_url"] == emu.base_url
    assert run_info["digests"]["config"].startswith("sha256:") and run_info["digests"]["mappings"].startswith("sha256:")
    messages = next(s for s in data["sources"] if s["kind"] == "messages")
    assert messages["path"].endswith("messages.json") and messages["bytes"] > 0 and messages["records"] == 8
    assert "Nothing failed" in data["summary_text"]
    assert "details_dropped" in data


def test_a_dry_run_writes_its_report_too(tmp_path):
    report = tmp_path / "report.json"
    stale_report(report)
    proc = run("sync", *SAMPLE, "--dry-run", "--report", str(report))
    assert proc.returncode == 0, proc.stderr
    data = read_report(report)
    assert data["dry_run"] is True and data["outcome"] == "ok" and data["run"]["command"] == "sync --dry-run"
    assert data["entities"]["email"]["created"] == 8 and data["summary_text"].startswith("Would write")


def test_a_report_in_a_missing_folder_is_a_usage_error_before_anything_runs(tmp_path):
    proc = run("sync", *SAMPLE, "--dry-run", "--report", str(tmp_path / "no" / "report.json"))
    assert proc.returncode == 2 and "cannot write the report" in proc.stderr


def test_the_file_says_running_while_the_run_runs():
    report = Report()
    run_file = RunFile(None, report, command="sync")
    run_file.start()
    assert report.outcome == "ok"  # "running" is only what the file says until the end
    report.forced_outcome = "running"
    assert json.loads(report.to_json())["outcome"] == "running"


def _default_sigint() -> None:
    """Ctrl-C's default in the child, as a terminal gives it. A shell starts a background job
    (``make test &``, ``nohup``) with SIGINT ignored, the child would inherit that, and Python
    then leaves it ignored: the run would end normally and this test fail for the shell's sake."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@pytest.mark.parametrize("sig,status,outcome", [(signal.SIGINT, 130, "interrupted"), (signal.SIGTERM, 143, "terminated")])
def test_a_signal_mid_run_leaves_a_fresh_report(tmp_path, sig, status, outcome):
    report = tmp_path / "report.json"
    stale_report(report)
    # A second per request: the run needs tens of seconds, so even on a loaded machine the signal
    # after the third request arrives while it writes (at 150 ms the run sometimes ended first).
    with Emulator(latency_ms=1000) as emu:
        seed_org(emu)
        proc = subprocess.Popen(command("sync", *SAMPLE, "--url", emu.base_url, "--auth", "none", "--state",
                                        str(tmp_path / "s.sqlite3"), "--report", str(report)),
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env(),
                                preexec_fn=_default_sigint)
        try:
            deadline = time.monotonic() + 60
            while emu.stats.get("requests", 0) < 3 and time.monotonic() < deadline and proc.poll() is None:
                time.sleep(0.02)
            assert proc.poll() is None, proc.communicate()
            assert read_report(report)["outcome"] == "running"  # already replaced, before the end
            proc.send_signal(sig)
            out, err = proc.communicate(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    assert proc.returncode == status, err
    data = read_report(report)
    assert data["outcome"] == outcome and data["exit_status"] == status and data["ok"] is False
    assert data["run"]["ended"] and data["run"]["id"] != "yesterday"
    assert "re-run to continue" in data["summary_text"]
    assert stat.S_IMODE(report.stat().st_mode) == 0o600
    assert "Traceback" not in err
