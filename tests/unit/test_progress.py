"""Progress per phase: counts, totals, rate and time left, and the hook for extra figures."""

import io
import logging

from mail2dataverse.progress import RunProgress, make_progress
from mail2dataverse.report import Report


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def test_line_shows_each_phase_with_total_rate_and_time_left():
    clock = Clock()
    progress = RunProgress(live=False, interval=3600, clock=clock)
    progress.start({"contacts": 10, "emails": 200})
    report = Report()
    report.count("contact", "created", 10)
    clock.now += 1
    progress(report)  # phase 1 done: phase 2 starts now
    clock.now += 10
    report.count("email", "created", 49)
    report.fail("email", "m.json record 3", "0x80044331", "too long")
    progress(report)
    assert progress.line() == "emails 50/200 (25%), 5/s, about 30 s left; contacts 10/10 (100%), done"
    snap = progress.snapshot()
    assert snap["emails"] == {"done": 50, "total": 200, "rate": 5.0, "left_s": 30}
    progress.close()


def test_extra_fields_hook_shows_in_the_line_and_the_snapshot():
    progress = RunProgress(live=False, interval=3600, clock=Clock())
    progress.add_field("server time", lambda: "12 s of 1,200 s")
    progress.add_field("broken", lambda: 1 / 0)
    progress.start({"contacts": 0, "emails": 0})
    assert progress.line().endswith("; server time 12 s of 1,200 s; broken ?")
    assert progress.snapshot()["server time"] == "12 s of 1,200 s"
    progress.close()


def test_non_terminal_logs_a_line_at_a_steady_interval(caplog):
    caplog.set_level(logging.INFO, logger="mail2dataverse.progress")
    progress = RunProgress(live=False, interval=0.05)
    progress.start({"contacts": 3, "emails": 5})
    report = Report()
    report.count("contact", "created", 3)
    progress(report)
    import time

    deadline = time.monotonic() + 5
    while sum("progress:" in r.getMessage() for r in caplog.records) < 2 and time.monotonic() < deadline:
        time.sleep(0.02)
    progress.close()
    lines = [r for r in caplog.records if r.getMessage().startswith("progress: ")]
    assert len(lines) >= 2
    assert "contacts 3/3 (100%), done" in lines[-1].getMessage()
    assert lines[-1].fields["progress"]["contacts"]["done"] == 3


def test_quiet_means_no_progress_and_a_pipe_means_log_lines():
    assert make_progress(quiet=True) is None
    progress = make_progress(stream=io.StringIO())
    assert progress is not None and progress.live is False
