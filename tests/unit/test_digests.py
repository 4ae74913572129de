"""DigestTable: the planner's compact {digest: value} map must answer exactly as a dict would,
with its keys in the front dict, in the flat buffers behind it, or across both."""

from __future__ import annotations

import hashlib
import random
import sys

import pytest

from mail2dataverse.planner.digests import FIRST_SLOTS, FRONT, DigestTable


def digest(n: int) -> bytes:
    return hashlib.blake2b(str(n).encode(), digest_size=16).digest()


#: all in the buffers, across both (the front fills in the first steps), all in the front
FRONTS = [0, 1_000, FRONT]


@pytest.mark.parametrize("front", FRONTS)
def test_answers_like_a_dict_through_growth_discards_and_revivals(front):
    rng = random.Random(20261202)  # fixed: the suite draws the same case every run
    table, model = DigestTable(5, front=front), {}
    for step in range(40_000):
        key = digest(rng.randrange(6_000))
        value = rng.randbytes(5)
        action = rng.random()
        if action < 0.45:
            table.put(key, value)
            model[key] = value
        elif action < 0.75:
            assert table.setdefault(key, value) == model.setdefault(key, value)
        elif action < 0.85:
            table.discard(key)
            model.pop(key, None)
        elif action < 0.9:
            # the threads' two tests: absent or below a mark (_waiting), and equal to one value
            test = (lambda old: old is None or old[0] < 128) if action < 0.875 else (lambda old: old == value)
            stored = table.replace(key, value, test)
            assert stored == test(model.get(key))
            if stored:
                model[key] = value
        else:
            assert table.get(key) == model.get(key)
            assert (key in table) == (key in model)
        if step % 5_000 == 0:
            assert len(table) == len(model)
    assert len(table) == len(model)
    assert dict(table.items()) == model
    assert all(table.get(k) == v for k, v in model.items())


def three_keys_the_middle_discarded(front: int) -> DigestTable:
    """Keys 0, 1, 2 valued 0, 1, 2, then key 1 discarded: its place kept for a revival."""
    table = DigestTable(1, front=front)
    for n in range(3):
        table.put(digest(n), bytes([n]))
    table.discard(digest(1))
    return table


@pytest.mark.parametrize("front", [0, 1, 2, 3])
def test_replace_stores_only_what_its_test_lets_through_and_keeps_the_order(front):
    table = three_keys_the_middle_discarded(front)
    seen = []
    assert table.replace(digest(1), b"\x09", lambda old: seen.append(old) or old is None)  # revived in place
    assert not table.replace(digest(2), b"\x07", lambda old: seen.append(old) or old is None)
    assert not table.replace(digest(3), b"\x05", lambda old: seen.append(old) or old is not None)  # absent
    assert table.replace(digest(4), b"\x04", lambda old: seen.append(old) or True)  # new, at the end
    assert seen == [None, b"\x02", None, None]
    assert list(table.items()) == [(digest(0), b"\x00"), (digest(1), b"\x09"), (digest(2), b"\x02"), (digest(4), b"\x04")]
    for test in (lambda old: True, lambda old: False):  # refused whatever the test would say
        with pytest.raises(ValueError):
            table.replace(digest(5), b"too wide", test)
    assert len(table) == 4


@pytest.mark.parametrize("front", [0, 1, 2, 3])
def test_items_come_in_first_stored_order_and_a_revived_key_keeps_its_place(front):
    table = three_keys_the_middle_discarded(front)
    assert [k for k, _ in table.items()] == [digest(0), digest(2)]
    table.put(digest(1), b"\x09")
    assert list(table.items()) == [(digest(0), b"\x00"), (digest(1), b"\x09"), (digest(2), b"\x02")]


@pytest.mark.parametrize("front", [0, FIRST_SLOTS])
def test_grows_past_the_first_index_and_still_finds_everything(front):
    table = DigestTable(2, front=front)
    n = 5 * FIRST_SLOTS
    for i in range(n):
        table.put(digest(i), i.to_bytes(2, "little"))
    assert len(table) == n
    assert all(table.get(digest(i)) == i.to_bytes(2, "little") for i in range(n))
    assert table.get(digest(n)) is None and digest(n) not in table


@pytest.mark.parametrize("front", [0, 1, FRONT])
def test_discarding_what_is_not_there_changes_nothing(front):
    table = DigestTable(1, front=front)
    table.discard(digest(1))
    table.put(digest(2), b"x")
    table.discard(digest(3))
    table.discard(digest(2))
    table.discard(digest(2))
    assert len(table) == 0 and table.get(digest(2)) is None


@pytest.mark.parametrize("front", [0, FRONT])
@pytest.mark.parametrize("key, value", [(b"short", b"v"), (digest(1) + b"!", b"v"), (digest(1), b"vv"), (digest(1), b"")])
def test_a_key_or_value_of_the_wrong_width_is_refused(key, value, front):
    table = DigestTable(1, front=front)
    with pytest.raises(ValueError, match="bytes"):
        table.put(key, value)
    with pytest.raises(ValueError, match="bytes"):
        table.setdefault(key, value)
    assert len(table) == 0


@pytest.mark.parametrize("front", [0, FRONT])
def test_a_key_of_the_wrong_width_is_never_found(front):
    table = DigestTable(1, front=front)
    table.put(digest(1), b"x")
    assert table.get(digest(1)[:3]) is None and digest(1) + b"!" not in table


def test_costs_a_fraction_of_a_dict_of_the_same_entries_past_its_front():
    table, model = DigestTable(8, front=FRONT), {}
    for i in range(FRONT):
        key, value = digest(i), i.to_bytes(8, "little")
        table.put(key, value)
        model[key] = value
    front_cost = table.nbytes()
    as_dict = sys.getsizeof(model) + sum(sys.getsizeof(k) + sys.getsizeof(v) for k, v in model.items())
    assert front_cost <= 1.1 * as_dict  # the front is a dict, and says what it costs
    assert front_cost < 3_000_000  # bounded, whatever the run's length
    for i in range(FRONT, FRONT + 50_000):
        table.put(digest(i), i.to_bytes(8, "little"))
    assert table.nbytes() - front_cost < 50_000 * 50  # every later entry at the buffers' cost
    assert len(table) == FRONT + 50_000 and table.get(digest(FRONT + 49_999)) == (FRONT + 49_999).to_bytes(8, "little")


def test_without_a_front_every_entry_costs_a_fraction_of_a_dict():
    table, model = DigestTable(8), {}
    for i in range(50_000):
        key, value = digest(i), i.to_bytes(8, "little")
        table.put(key, value)
        model[key] = value
    as_dict = sys.getsizeof(model) + sum(sys.getsizeof(k) + sys.getsizeof(v) for k, v in model.items())
    assert table.nbytes() * 3 < as_dict
    assert table.nbytes() < 50_000 * 50


def test_a_discarded_front_key_is_revived_in_the_front_even_when_it_is_full():
    table = DigestTable(1, front=2)
    table.put(digest(0), b"a")
    table.put(digest(1), b"b")
    table.put(digest(2), b"c")  # past the front: in the buffers
    table.discard(digest(0))
    assert len(table) == 2 and digest(0) not in table and table.get(digest(0)) is None
    assert table.setdefault(digest(0), b"z") == b"z"
    assert list(table.items()) == [(digest(0), b"z"), (digest(1), b"b"), (digest(2), b"c")]
    table.discard(digest(2))
    table.put(digest(2), b"y")
    assert len(table) == 3 and table.get(digest(2)) == b"y"
