"""MappedEmail pickles as a flat tuple (the planner spools deferred replies) and comes back equal."""

from __future__ import annotations

import pickle
from datetime import UTC, datetime, timedelta, timezone

from mail2dataverse.model import MappedEmail, Party, RecordRef, RegardingTarget


def _email(**changes) -> MappedEmail:
    fields = dict(
        ref=RecordRef("messages.json", 7, "m7"),
        identity="<a@b>",
        columns={"subject": "Hi", "directioncode": True, "sortdate": "2025-03-04T14:05:09Z"},
        parties=[Party(1, "owner@acme.example", "Owner"), Party(2, "ana@x.example", None)],
        outgoing=True,
        date=datetime(2025, 3, 4, 14, 5, 9, 123456, tzinfo=UTC),
        regarding=RegardingTarget("opportunity", "account_newest_open", "x.example", reason="r", plugin="regarding"),
        mailbox="grant-1",
        aliases=("<nylas.g.m7@mail2dataverse.invalid>",),
        replies_to=("<p@b>",),
        thread="grant-1/t1",
        attachments=({"id": "a1", "filename": "x.pdf"},),
        warnings=("$.cc: participant dropped: ...",),
    )
    fields.update(changes)
    return MappedEmail(**fields)


def _round_trip(obj):
    return pickle.loads(pickle.dumps(obj, pickle.HIGHEST_PROTOCOL))


def test_every_field_comes_back_with_its_type():
    e = _email()
    back = _round_trip(e)
    assert repr(back) == repr(e)
    assert back.date.tzinfo is UTC and back.date == e.date
    assert back.regarding.plugin == "regarding"  # not part of equality, kept all the same


def test_dates_other_than_utc_and_no_date_and_no_target():
    tz = timezone(timedelta(hours=-5))
    for date in (None, datetime(2025, 1, 1, 8, tzinfo=tz), datetime(1753, 1, 1, tzinfo=UTC)):
        e = _email(date=date, regarding=None)
        back = _round_trip(e)
        assert repr(back) == repr(e) and (back.date is None or back.date.tzinfo == date.tzinfo)


def test_unpickled_emails_share_their_parties_and_targets_but_not_their_lists():
    e = _email()
    a, b = _round_trip(e), _round_trip(e)
    assert a.parties[0] is b.parties[0] and a.regarding is b.regarding
    assert a.parties is not b.parties and a.columns is not b.columns
    a.parties.append(Party(3, "c@x.example"))
    assert len(b.parties) == 2


def test_a_mask_that_only_equals_an_int_mask_is_not_shared_with_it():
    _round_trip(_email(parties=[Party(1, "a@x.example", None)]))
    back = _round_trip(_email(parties=[Party(True, "a@x.example", None)]))
    assert back.parties[0].mask is True


def test_targets_answered_by_different_plugins_keep_their_plugin():
    one = _round_trip(_email(regarding=RegardingTarget("incident", "column", "CAS-1", "ticketnumber", plugin="a")))
    two = _round_trip(_email(regarding=RegardingTarget("incident", "column", "CAS-1", "ticketnumber", plugin="b")))
    assert (one.regarding.plugin, two.regarding.plugin) == ("a", "b")


class Ticket(str):
    """A plugin's own string type (module level: pickle finds classes by name)."""


def test_a_target_of_str_subclasses_comes_back_as_it_went():
    plain = _round_trip(_email(regarding=RegardingTarget("incident", "column", "CAS-1", "ticketnumber")))
    odd = _round_trip(_email(regarding=RegardingTarget("incident", "column", Ticket("CAS-1"), "ticketnumber")))
    assert plain.regarding.value.__class__ is str and odd.regarding.value.__class__ is Ticket
