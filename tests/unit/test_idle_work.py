"""Work done while the planner waits for the org (RunContext.run and its ``idle`` steps).

Phase 2's first pass runs while phase 1 waits. When the first pass needs the org itself (its
lookups of existing emails and thread parents), it hands them over and says so; phase 1 must
go on the moment *its* answer is in, not once the first pass's lookups are answered too.
"""

from __future__ import annotations

import threading

from mail2dataverse.config import RunConfig
from mail2dataverse.planner.context import RunContext
from mail2dataverse.report import Report


class _Job:
    def __init__(self, results=None):
        self.event = threading.Event()
        self.results = results or []

    def done(self) -> bool:
        return self.event.is_set()

    def result(self) -> list:
        self.event.wait(5)
        return self.results


class _Executor:
    dry_run = False

    def __init__(self, job: _Job):
        self.job = job

    def submit(self, items, *, phase):
        return self.job


def _context(job: _Job) -> RunContext:
    return RunContext(mappings=None, plugins=None, config=RunConfig(), executor=_Executor(job), state=None, report=Report())


def test_phase_one_goes_on_when_its_answer_comes_although_the_idle_work_still_waits_for_its_own():
    phase_one = _Job(results=["phase 1's answer"])
    idle_lookups = _Job()  # never answered during this wait
    ctx = _context(phase_one)
    steps: list[str] = []

    def idle():
        steps.append("step")
        if len(steps) == 1:
            threading.Timer(0.05, phase_one.event.set).start()  # phase 1's answer comes later
        return idle_lookups  # the idle work waits for the org too

    ctx.idle = idle
    assert ctx.run([], phase=1) == ["phase 1's answer"]
    assert steps == ["step"]  # not stepped again while its own lookups were out
    assert not idle_lookups.done()
    assert ctx.idle is idle  # handed back for the next wait


def test_idle_work_goes_on_when_its_own_answer_comes_first():
    phase_one = _Job(results=["done"])
    idle_lookups = _Job()
    ctx = _context(phase_one)
    steps: list[str] = []

    def idle():
        steps.append("step")
        if len(steps) == 1:
            threading.Timer(0.02, idle_lookups.event.set).start()
            return idle_lookups
        if len(steps) == 3:
            phase_one.event.set()
        return True

    ctx.idle = idle
    assert ctx.run([], phase=1) == ["done"]
    assert steps == ["step"] * 3  # it went on after its lookups were answered


def test_idle_work_that_has_nothing_to_do_ends_the_stepping():
    phase_one = _Job(results=["done"])
    ctx = _context(phase_one)
    calls = []

    def idle():
        calls.append(1)
        threading.Timer(0.02, phase_one.event.set).start()
        return False

    ctx.idle = idle
    assert ctx.run([], phase=1) == ["done"]
    assert calls == [1]
