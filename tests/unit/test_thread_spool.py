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


class _Text(str):
    """A str subclass: marshal refuses it, so the email goes to the spool as a pickle."""


def test_emails_marshal_cannot_take_come_back_equal_and_of_the_same_types():
    from datetime import timedelta

    from mail2dataverse.planner import deferred

    plain = _email(1, 3)
    zoned = MappedEmail(ref=RecordRef("m.json", 2), identity="<z@x.example>", columns={"subject": "z", "flag": True, "n": 1},
                        parties=[Party(1, "a@x.example")], outgoing=False,
                        date=datetime(2024, 1, 2, tzinfo=timezone(timedelta(hours=2))))  # not UTC: pickled
    subclassed = MappedEmail(ref=RecordRef("m.json", 3), identity="<s@x.example>", columns={"subject": _Text("s")},
                             parties=[], outgoing=True, date=None)
    spool = deferred.EmailSpool()
    for e in (plain, zoned, subclassed):
        spool.add(e, e.date.timestamp() if e.date else 0.0)
    back = [spool.load(n) for n in range(3)]
    assert back == [plain, zoned, subclassed]
    assert back[1].date.utcoffset() == timedelta(hours=2)
    assert type(back[2].columns["subject"]) is _Text
    assert type(back[1].columns["flag"]) is bool and type(back[1].columns["n"]) is int
    assert isinstance(back[0].parties, list) and isinstance(back[0].aliases, tuple)
    spool.close()


def _email(n: int, day: int, *, replies_to: tuple[str, ...] = (), thread: str | None = None) -> MappedEmail:
    return MappedEmail(ref=RecordRef("messages.json", n), identity=f"<m{n}@x.example>", columns={"subject": f"s{n}"},
                       parties=[Party(1, "a@x.example")], outgoing=False,
                       date=datetime(2024, 1, day, tzinfo=timezone.utc), replies_to=replies_to, thread=thread)


def test_the_spool_gives_back_every_email_across_block_boundaries(monkeypatch):
    from mail2dataverse.planner import deferred

    monkeypatch.setattr(deferred, "BLOCK", 300)  # a flush every email or two
    spool = deferred.EmailSpool()
    emails = [_email(n, 28 - n) for n in range(25)]
    for e in emails:
        spool.add(e, e.date.timestamp())
    assert len(spool) == 25
    assert [spool.load(n) for n in spool.oldest_first()] == emails[::-1]
    spool.close()
    assert len(spool) == 0


def test_spans_give_back_every_email_in_the_order_asked_whatever_the_layout(monkeypatch):
    from mail2dataverse.planner import deferred

    monkeypatch.setattr(deferred, "BLOCK", 500)
    monkeypatch.setattr(deferred, "SPAN", 700)  # a few emails a read
    reads = []
    real_pread = deferred.os.pread
    monkeypatch.setattr(deferred.os, "pread", lambda fd, n, at: reads.append(n) or real_pread(fd, n, at))
    spool = deferred.EmailSpool()
    emails = [_email(n, 28 - n) for n in range(25)]
    for e in emails:
        spool.add(e, e.date.timestamp())
    for order in (list(range(25)), list(range(24, -1, -1)), [3, 4, 5, 20, 2, 1, 9, 9, 0, 24]):
        reads.clear()
        assert [(n, e) for n, e in spool.loaded(order)] == [(n, emails[n]) for n in order]
        assert all(n <= 700 for n in reads)
        if order == list(range(24, -1, -1)):
            assert len(reads) < 25 / 2  # neighbours, newest first as a Nylas export gives them, share reads
    assert list(spool.loaded([])) == []
    spool.close()


def test_undated_emails_come_first_and_ties_keep_the_order_they_were_added():
    from mail2dataverse.planner.deferred import EmailSpool

    spool = EmailSpool()
    for n, date in enumerate([5.0, 0.0, 5.0, 1.0, 0.0]):
        spool.add(_email(n, 1), date)
    assert spool.oldest_first() == [1, 4, 3, 0, 2]


def test_a_newest_first_conversation_comes_back_in_one_pass_oldest_first():
    # As Nylas lists it: the newest reply first. Before, each level of the conversation
    # waited for a pass of its own over everything still deferred.
    links = ThreadLinks(SimpleNamespace(config=SimpleNamespace(threads=True), explain=None))
    newest = _email(0, 3, replies_to=("<m1@x.example>",), thread="g:t")
    middle = _email(1, 2, replies_to=("<m2@x.example>",), thread="g:t")
    first = _email(2, 1, thread="g:t")
    for e in (newest, middle, first):
        links.defer(e)
    assert list(links.rounds(10)) == [[first, middle, newest]]


def test_a_reply_dated_before_its_parent_waits_for_a_second_pass():
    links = ThreadLinks(SimpleNamespace(config=SimpleNamespace(threads=True), explain=None))
    reply = _email(0, 1, replies_to=("<m1@x.example>",))  # a skewed clock: older than its parent
    parent = _email(1, 2)
    other = _email(2, 3)
    for e in (reply, parent, other):
        links.defer(e)
    assert list(links.rounds(10)) == [[parent, other], [reply]]


def test_a_reply_after_a_parent_put_back_is_put_back_behind_it():
    links = ThreadLinks(SimpleNamespace(config=SimpleNamespace(threads=True), explain=None))
    parent = _email(0, 1, thread="g:t")
    reply = _email(1, 2, replies_to=("<m0@x.example>",), thread="g:t")
    same_thread = _email(2, 3, thread="g:t")
    stranger = _email(3, 4, thread="g:other")
    held = set(links.keys_of(parent))
    assert links.held_back(reply, held)
    assert links.held_back(same_thread, held)  # its conversation's first email is the one put back
    assert not links.held_back(stranger, held)


def test_oldest_first_is_the_sorted_order_whether_or_not_the_emails_came_newest_first():
    from mail2dataverse.planner.deferred import EmailSpool

    for dates in ([9.0, 7.0, 5.0, 1.0], [9.0, 7.0, 8.0, 1.0], [3.0, 3.0, 1.0], [1.0], []):
        spool = EmailSpool()
        for n, date in enumerate(dates):
            spool.add(_email(n, 1), date)
        assert list(spool.oldest_first()) == sorted(range(len(dates)), key=dates.__getitem__), dates


def test_a_budget_keeps_the_first_emails_in_memory_and_spools_the_rest(monkeypatch):
    from mail2dataverse.planner import deferred

    monkeypatch.setattr(deferred, "SPAN", 700)
    one = deferred._estimate(_email(0, 1))
    spool = deferred.EmailSpool(memory_budget=5 * one)  # about five in memory
    emails = [_email(n, 28 - n) for n in range(25)]
    for e in emails:
        spool.add(e, e.date.timestamp())
    assert 4 <= len(spool._kept) <= 6 and set(spool._kept) == set(range(len(spool._kept)))
    for order in (list(range(25)), list(spool.oldest_first()), [24, 0, 23, 1, 7, 2, 8]):
        assert [(n, e) for n, e in spool.loaded(order)] == [(n, emails[n]) for n in order]
    assert spool.load(0) is emails[0] and spool.load(24) == emails[24] and spool.load(24) is not emails[24]
    spool.close()
    assert len(spool) == 0 and not spool._kept


def test_a_sync_keeps_deferred_emails_in_memory_and_a_dry_run_or_preview_spools_them_all():
    from mail2dataverse.config import RunConfig
    from mail2dataverse.planner.context import RunContext
    from mail2dataverse.planner.deferred import MEMORY_BUDGET
    from mail2dataverse.planner.emails import EmailPhase
    from mail2dataverse.report import Report

    def budget(dry_run: bool, explain: object = None) -> int:
        ctx = RunContext(mappings=None, plugins=None, config=RunConfig(), executor=SimpleNamespace(dry_run=dry_run),
                         state=None, report=Report(), explain=explain)
        return EmailPhase(ctx, lookups=None).threads._spool._budget

    assert budget(False) == MEMORY_BUDGET
    assert budget(True) == 0 and budget(True, explain=object()) == 0


def test_a_deferred_email_keeps_its_identity_digest_and_the_digest_is_the_identity_s():
    from mail2dataverse.planner import threads

    e = _email(1, 3)
    links = ThreadLinks(SimpleNamespace(config=SimpleNamespace(threads=True), explain=None))
    links.defer(e)
    assert e.identity_digest == threads._key(e.identity)
    (back,) = [x for chunk in links.rounds(10) for x in chunk]
    assert back.identity_digest == e.identity_digest  # carried through the spool, not computed again
    later = MappedEmail(ref=e.ref, identity="<M1@X.example>", columns={}, parties=[], outgoing=False)
    assert threads._own_key(later) == e.identity_digest  # case-insensitive, as before


def test_a_mapped_regarding_column_is_inherited_by_replies_as_the_planner_s_own_bind_is():
    from mail2dataverse.planner import threads

    mappings = SimpleNamespace(email=SimpleNamespace(columns=(SimpleNamespace(name="subject"),
                                                              SimpleNamespace(name="regardingobjectid_new_project_email@odata.bind"))))
    keys = threads._regarding_keys(mappings)
    assert keys[-1] == "regardingobjectid_new_project_email@odata.bind"
    assert "regardingobjectid_opportunity_email@odata.bind" in keys and len(set(keys)) == len(keys)
    assert threads._regarding_keys(None) == threads._regarding_keys(SimpleNamespace())

    ctx = SimpleNamespace(config=SimpleNamespace(threads=True), explain=None, mappings=mappings)
    links = ThreadLinks(ctx)
    parent = _email(1, 3, thread="g:t")
    links.written(parent, "11111111-2222-3333-4444-555555555555",
                  {"subject": "s1", "regardingobjectid_new_project_email@odata.bind": "/new_projects(abc)"})
    reply = _email(2, 4, thread="g:t")
    activity, regarding, how = links.parent(reply)
    assert (activity, how) == ("11111111-2222-3333-4444-555555555555", "by_thread_id")
    assert regarding == ("regardingobjectid_new_project_email@odata.bind", "/new_projects(abc)")


def test_a_deferred_email_keeps_its_conversation_pair_whatever_the_shared_cache_forgot():
    from mail2dataverse.model import deterministic_id
    from mail2dataverse.planner import threads

    e = _email(1, 3, thread="g1:t1")
    links = ThreadLinks(SimpleNamespace(config=SimpleNamespace(threads=True), explain=None))
    pair = threads._conversation(e)  # (the first pass asks for it before it defers the email)
    links.defer(e)
    assert pair == (deterministic_id("thread", "g1:t1"), threads._key(deterministic_id("thread", "g1:t1")))
    threads._CONVERSATIONS.clear()  # what 4,096 other threads in between do to it
    (back,) = [x for chunk in links.rounds(10) for x in chunk]
    assert back.conversation_digest == pair and type(back.conversation_digest) is tuple
    assert threads._conversation(back) == pair and not threads._CONVERSATIONS  # not computed again
    assert threads._conversation(_email(2, 4)) is None  # no thread, no pair
