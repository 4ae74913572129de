"""Running the real command as a subprocess, as cron or a terminal would."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from mail2dataverse.demo import sample_path

SAMPLE = ["--messages", str(sample_path("messages.json")), "--contacts", str(sample_path("contacts.json")),
          "--config", str(sample_path("config.yaml"))]


def env(**extra: str) -> dict[str, str]:
    """The environment of a child run: no org, no Entra ID, fast progress lines."""
    out = {k: v for k, v in os.environ.items()
           if not k.startswith(("AZURE_", "DATAVERSE_", "DYNAMICS_", "MAIL2DATAVERSE_"))}
    out.update(extra)
    return out


def command(*args: str) -> list[str]:
    """``python -m mail2dataverse ARGS``."""
    return [sys.executable, "-m", "mail2dataverse", *args]


def run(*args: str, timeout: float = 60, **kwargs) -> subprocess.CompletedProcess:
    """Run the command to its end (the timeout is generous: a hang fails the test, slowness does not)."""
    return subprocess.run(command(*args), capture_output=True, text=True, timeout=timeout,
                          env=kwargs.pop("env", env()), **kwargs)


def read_report(path: Path) -> dict:
    """The report file's JSON."""
    return json.loads(path.read_text(encoding="utf-8"))


def stale_report(path: Path) -> None:
    """Yesterday's report of a run that went well: it must never survive today's."""
    path.write_text(json.dumps({"ok": True, "outcome": "ok", "run": {"id": "yesterday"}}), encoding="utf-8")
