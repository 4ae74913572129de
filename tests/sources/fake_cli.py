"""The ``fake_nylas`` fixture: a fake `nylas` on PATH that prints recorded CLI output.

Not a conftest.py: other test folders do ``from conftest import ...``, and a second module named
``conftest`` would shadow theirs. Test modules import the fixture by name instead.
"""

from __future__ import annotations

import json
import os
import stat
import sys
from pathlib import Path

import pytest

FIXTURES = Path(__file__).parent / "fixtures"


class FakeNylas:
    """Controls the fake CLI through environment variables and reads back its argv log."""

    def __init__(self, bin_dir: Path, log: Path, monkeypatch: pytest.MonkeyPatch):
        self.bin_dir = bin_dir
        self.log = log
        self._mp = monkeypatch

    def set(self, mode: str = "ok", output: Path | None = None, headers: dict | None = None,
            contacts: Path | None = None, contacts_by_source: dict[str, Path] | None = None) -> None:
        """Choose the behaviour of the next calls.

        ``output`` is what every list command prints unless ``contacts`` (what ``contacts list``
        prints) or ``contacts_by_source`` (``{"inbox": path}``, for ``--source inbox``) say
        otherwise.
        """
        self._mp.setenv("FAKE_NYLAS_MODE", mode)
        self._mp.setenv("FAKE_NYLAS_OUTPUT", str(output or FIXTURES / "messages.json"))
        if contacts is not None:
            self._mp.setenv("FAKE_NYLAS_CONTACTS", str(contacts))
        else:
            self._mp.delenv("FAKE_NYLAS_CONTACTS", raising=False)
        for source in ("ADDRESS_BOOK", "INBOX", "DOMAIN"):
            self._mp.delenv(f"FAKE_NYLAS_CONTACTS_{source}", raising=False)
        for source, path in (contacts_by_source or {}).items():
            self._mp.setenv(f"FAKE_NYLAS_CONTACTS_{source.upper()}", str(path))
        path = self.bin_dir / "headers.json"
        path.write_text(json.dumps(headers or {}), encoding="utf-8")
        self._mp.setenv("FAKE_NYLAS_HEADERS", str(path))

    def calls(self) -> list[dict]:
        """Every recorded call: ``{"argv": [...], "NYLAS_API_TIMEOUT": "..."}``."""
        if not self.log.exists():
            return []
        return [json.loads(line) for line in self.log.read_text(encoding="utf-8").splitlines()]


@pytest.fixture
def fake_nylas(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FakeNylas:
    """Install ``nylas`` (tests/sources/fixtures/fake_nylas.py) first on PATH."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    exe = bin_dir / "nylas"
    source = (FIXTURES / "fake_nylas.py").read_text(encoding="utf-8")
    exe.write_text(f"#!{sys.executable}\n{source}", encoding="utf-8")
    exe.chmod(exe.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}")
    log = tmp_path / "calls.jsonl"
    monkeypatch.setenv("FAKE_NYLAS_LOG", str(log))
    monkeypatch.delenv("NYLAS_API_TIMEOUT", raising=False)
    fake = FakeNylas(bin_dir, log, monkeypatch)
    fake.set()
    return fake
