"""Progress on a pseudo-terminal (rich), log lines elsewhere; -q/-v anywhere; JSON logs."""

from __future__ import annotations

import json
import os
import pty
import select
import subprocess
import time

from mail2dataverse.cli import build_parser
from mail2dataverse.demo import seed_org
from mail2dataverse.emulator import Emulator

from .helpers import SAMPLE, command, env, run


def _read_all(fd: int, proc: subprocess.Popen, timeout: float = 60) -> str:
    chunks = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.1)
        if ready:
            try:
                data = os.read(fd, 65536)
            except OSError:  # the child closed its end
                break
            if not data:
                break
            chunks.append(data)
        elif proc.poll() is not None:
            break
    return b"".join(chunks).decode("utf-8", "replace")


def test_a_terminal_gets_a_live_display_per_phase(tmp_path):
    with Emulator(latency_ms=20) as emu:
        seed_org(emu)
        master, slave = pty.openpty()
        proc = subprocess.Popen(command("sync", *SAMPLE, "--url", emu.base_url, "--auth", "none",
                                        "--state", str(tmp_path / "s.sqlite3")),
                                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=slave,
                                env=env(COLUMNS="120", TERM="xterm"))
        os.close(slave)
        try:
            screen = _read_all(master, proc)
            proc.wait(timeout=60)
        finally:
            os.close(master)
            if proc.poll() is None:
                proc.kill()
    assert proc.returncode == 0
    assert "\x1b[" in screen  # drawn in place by rich, not printed line by line
    assert "contacts" in screen and "emails" in screen
    assert "8/8" in screen and "100%" in screen  # the email phase's count, total and fraction
    assert "━" in screen  # rich's bar


def test_a_pipe_gets_progress_log_lines_and_json_logs(tmp_path):
    with Emulator(latency_ms=30) as emu:
        seed_org(emu)
        proc = run("sync", *SAMPLE, "--url", emu.base_url, "--auth", "none", "--state", str(tmp_path / "s.sqlite3"),
                   "--log-format", "json", env=env(MAIL2DATAVERSE_PROGRESS_INTERVAL="0.05"))
    assert proc.returncode == 0, proc.stderr
    lines = [json.loads(line) for line in proc.stderr.splitlines() if line.strip()]
    progress = [r for r in lines if r["logger"] == "mail2dataverse.progress"]
    assert progress, proc.stderr
    last = progress[-1]
    assert last["level"] == "info" and last["message"].startswith("progress: emails 8/8 (100%)")
    assert last["progress"]["emails"]["total"] == 8 and last["time"].endswith("Z")
    assert "\x1b[" not in proc.stderr


def test_quiet_silences_progress(tmp_path):
    with Emulator() as emu:
        seed_org(emu)
        proc = run("sync", *SAMPLE, "--url", emu.base_url, "--auth", "none", "--state", str(tmp_path / "s.sqlite3"),
                   "-q", env=env(MAIL2DATAVERSE_PROGRESS_INTERVAL="0.05"))
    assert proc.returncode == 0 and proc.stderr == ""


def test_verbosity_flags_are_accepted_before_and_after_the_command():
    parser = build_parser()
    assert parser.parse_args(["-v", "validate"]).verbose == 1
    assert parser.parse_args(["validate", "-vv"]).verbose == 2
    assert parser.parse_args(["sync", "--dry-run", "-q"]).quiet is True
    assert parser.parse_args(["-q", "preview"]).quiet is True
    assert parser.parse_args(["doctor", "--log-format", "json"]).log_format == "json"
    assert parser.parse_args(["--log-format", "json", "plugins"]).log_format == "json"
