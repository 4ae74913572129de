"""The deferred-reply spool (planner/threads.py) gives back exactly the email it was given."""

from __future__ import annotations

from datetime import datetime, timezone
from types import SimpleNamespace

from mail2dataverse.model import MappedEmail, Party, RecordRef, RegardingTarget
from mail2dataverse.planner.threads import ThreadLinks


def test_a_deferred_email_comes_back_equal_with_every_field():
    e = MappedEmail(
        ref=RecordRef("messages.json", 4, "m5"), identity="<r@x.example>", columns={"subject": "Re: hi", "n": [1, {"a": None}]},
        parties=[Party(1, "a@x.example", "A"), Party(2, "b@y.example")], outgoing=True,
        date=datetime(2024, 1, 2, 3, 4, 5, tzinfo=timezone.utc), regarding=RegardingTarget("opportunity", "id", "abc", plugin="po-plugin"),
        mailbox="g1", aliases=("<nylas.g1.m5@mail2dataverse.invalid>",), replies_to=("<p@x.example>",), thread="g1:t1",
        attachments=({"id": "a1", "filename": "f.txt"},), warnings=("dropped one",))
    links = ThreadLinks(SimpleNamespace(config=SimpleNamespace(threads=True), explain=None))
    links.defer(e)
    (back,) = [x for chunk in links.rounds(10) for x in chunk]
    assert back == e and back is not e
    assert back.regarding.plugin == "po-plugin"  # not part of equality, kept all the same
