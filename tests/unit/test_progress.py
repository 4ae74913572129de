"""The terminal progress bar: fraction of the counted messages, failures, contacts."""

import io

from mail2dataverse.report import Report
from mail2dataverse.sync import Progress


def test_bar_shows_fraction_failures_and_contacts_then_ends_its_line():
    out = io.StringIO()
    bar = Progress(200, stream=out, width=10)
    report = Report()
    report.count("contact", "created", 7)
    report.count("email", "created", 49)
    report.fail("email", "m.json record 3", "0x80044331", "too long")
    bar(report)
    text = out.getvalue()
    assert text.startswith("\r[##........]  25% 50/200 emails (1 failed, ")
    assert text.endswith("· 7 contacts")
    bar.close()
    assert out.getvalue().endswith("\n")


def test_closing_a_bar_never_shown_prints_nothing():
    out = io.StringIO()
    Progress(10, stream=out).close()
    assert out.getvalue() == ""
