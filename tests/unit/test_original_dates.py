"""overriddencreatedon's text (planner/dates.py): the message date in UTC, to the second."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from types import SimpleNamespace

import pytest

from mail2dataverse.planner.dates import OriginalDates


@pytest.mark.parametrize(("date", "text"), [
    (datetime(2025, 6, 30, 17, 46, 0, 999_999, tzinfo=timezone.utc), "2025-06-30T17:46:00Z"),  # truncated, not rounded
    (datetime(2024, 2, 29, 23, 59, 59, 1, tzinfo=timezone(timedelta(hours=5, minutes=30))), "2024-02-29T18:29:59Z"),
    (datetime(2025, 1, 1, 0, 30, tzinfo=timezone(timedelta(hours=-3))), "2025-01-01T03:30:00Z"),  # the next day in UTC
    (datetime(999, 3, 4, 5, 6, 7, tzinfo=timezone.utc), "0999-03-04T05:06:07Z"),  # four-digit year
])
def test_the_date_is_sent_in_utc_to_the_second(date, text):
    dates = OriginalDates(SimpleNamespace(config=SimpleNamespace(original_dates=True)))
    body: dict = {}
    dates.apply(SimpleNamespace(date=date), body)
    assert body == {"overriddencreatedon": text}


def test_a_date_after_now_is_not_sent():
    dates = OriginalDates(SimpleNamespace(config=SimpleNamespace(original_dates=True)))
    body: dict = {}
    dates.apply(SimpleNamespace(date=datetime.now(timezone.utc) + timedelta(days=2)), body)
    assert body == {}
