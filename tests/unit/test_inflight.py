"""Chunks of emails in flight (planner/inflight.py): settled in order, none held once answered."""

from __future__ import annotations

from mail2dataverse.planner.inflight import ChunksInFlight


class _Job:
    def __init__(self, done: bool):
        self.finished = done

    def done(self) -> bool:
        return self.finished

    def result(self) -> list:
        return []


class _Executor:
    dry_run = False

    def __init__(self, answered: bool):
        self.answered = answered
        self.jobs: list[_Job] = []

    def submit(self, items, *, phase):
        self.jobs.append(_Job(self.answered))
        return self.jobs[-1]


def test_chunks_already_answered_are_settled_at_once():
    # A preview's executor answers at once: holding four chunks of emails and change sets
    # for nothing added about 30 MB to a 200,000-message preview's peak.
    settled: list[str] = []
    flight = ChunksInFlight(_Executor(answered=True), lambda items, job, ctx: settled.append(items[0]), depth=4)
    for name in "abc":
        flight.add([name], None)
        assert settled[-1] == name and len(flight) == 0


def test_unanswered_chunks_stay_in_flight_up_to_the_depth_and_settle_oldest_first():
    settled: list[str] = []
    executor = _Executor(answered=False)
    flight = ChunksInFlight(executor, lambda items, job, ctx: settled.append(items[0]), depth=2)
    flight.add(["a"], None)
    flight.add(["b"], None)
    assert settled == [] and len(flight) == 2
    flight.add(["c"], None)
    assert settled == ["a"]  # beyond the depth: the oldest is waited for
    executor.jobs[2].finished = True  # the newest is answered, the older one not yet
    flight.add([], None)
    assert settled == ["a"]  # in order: "c" waits behind "b" although answered
    executor.jobs[1].finished = True
    flight.add(["d"], None)
    assert settled == ["a", "b", "c"]
    flight.settle()
    assert settled == ["a", "b", "c", "d"]
