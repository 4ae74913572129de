"""The HTML preview as a browser shows it: headless Chromium runs the page, then its DOM is read.

Chromium is required (Debian's ``chromium`` package; ``.ci/run`` installs it when missing): a
missing browser fails the test rather than skipping it, so CI cannot pass without looking.
``--dump-dom`` prints the document after the page's script ran, so what is checked is what a
reader sees: the counts, the highlighted changes, the filters' effect.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

from mail2dataverse.cli import main

from .conftest import sample_args

BROWSER = shutil.which("chromium") or shutil.which("chromium-browser")


class _Dom(HTMLParser):
    """Rows of the page's tables (cell texts, the row's style), its links and scripts."""

    def __init__(self) -> None:
        super().__init__()
        self.section: str | None = None
        self.rows: dict[str, list[tuple[list[str], str]]] = {}
        self.shown: dict[str, str] = {}
        self.external: list[str] = []
        self.changed: list[str] = []
        self._row: list[str] | None = None
        self._style = ""
        self._cell: list[str] | None = None
        self._in: list[str] = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        for name in ("src", "href"):
            if a.get(name) and not a[name].startswith("#"):
                self.external.append(f"{tag} {name}={a[name]}")
        if tag == "link":
            self.external.append("link")
        if tag == "section":
            self.section = a.get("data-section") or a.get("id")
        elif tag == "tr":
            self._row, self._style = [], a.get("style", "")
        elif tag in ("td", "th") and self._row is not None:
            self._cell = []
        self._in.append((tag, a.get("class", "")))

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None and self._row is not None:
            self._row.append(" ".join("".join(self._cell).split()))
            self._cell = None
        elif tag == "tr" and self._row is not None:
            self.rows.setdefault(self.section or "", []).append((self._row, self._style))
            self._row = None
        if self._in:
            self._in.pop()

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)
        top = self._in[-1] if self._in else ("", "")
        if top[0] == "span" and top[1] == "shown":
            self.shown[self.section or ""] = data
        if top[0] == "ins" and "changed" in top[1]:
            self.changed.append(data)


def _browse(page: Path, fragment: str = "") -> _Dom:
    assert BROWSER, "headless Chromium is needed for this test: apt-get install chromium (.ci/run does)"
    done = subprocess.run([BROWSER, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                           "--virtual-time-budget=5000", "--dump-dom", page.as_uri() + fragment],
                          capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr[-2000:]
    dom = _Dom()
    dom.feed(done.stdout)
    return dom


def _page(tmp_path, diff_org, sales_rules) -> Path:
    page = tmp_path / "preview.html"
    assert main(["preview", *sample_args(), "--config", str(sales_rules), "--url", diff_org.base_url, "--auth", "none",
                 "--format", "html", "--output", str(page)]) == 0
    return page


def test_the_page_shows_summary_changes_parties_and_regarding(tmp_path, diff_org, sales_rules):
    dom = _browse(_page(tmp_path, diff_org, sales_rules))
    assert dom.external == []  # self-contained: nothing loaded from anywhere
    summary = {row[0]: row[1:] for row, _ in dom.rows["summary"][1:]}
    # columns: create, update, unchanged, skipped, would fail
    assert summary["contact"] == ["3", "3", "0", "1", "0"] and summary["email"] == ["7", "0", "1", "0", "0"]
    assert "Account Executive" in dom.changed and "Procurement desk" in dom.changed  # highlighted afters
    emails = [cells for cells, _ in dom.rows["email"][1:]]
    text = " ".join(" ".join(c) for c in emails)
    assert "priya+pilot@mail.bluefin-robotics.co.uk → contact Priya Raman" in text
    assert "soporte@herrera-hijos.example → contact Soporte Herrera (ambiguous: 2 candidates)" in text
    assert re.search(r"regarding: opportunity where name = 'Bluefin pilot' 'Bluefin pilot' \[linked\]", text)
    assert "Q3 renewal – 40 seats" in text and "Herrera site rollout" in text
    # the script ran: every section says how many of its rows are shown
    assert dom.shown == {"account": "4 of 4 shown", "contact": "7 of 7 shown", "email": "8 of 8 shown",
                         "address": "10 of 10 shown"}


def test_the_filter_hides_rows_in_the_browser(tmp_path, diff_org, sales_rules):
    dom = _browse(_page(tmp_path, diff_org, sales_rules), "#q=Bluefin")
    visible = [cells for cells, style in dom.rows["email"][1:] if "display: none" not in style]
    assert len(visible) == 2 and all("Bluefin" in " ".join(c) for c in visible)
    assert dom.shown["email"] == "2 of 8 shown"
