"""DigestTable: the planner's compact {digest: value} map must answer exactly as a dict would."""

from __future__ import annotations

import hashlib
import random
import sys

import pytest

from mail2dataverse.planner.digests import FIRST_SLOTS, DigestTable


def digest(n: int) -> bytes:
    return hashlib.blake2b(str(n).encode(), digest_size=16).digest()


def test_answers_like_a_dict_through_growth_discards_and_revivals():
    rng = random.Random(20261202)  # fixed: the suite draws the same case every run
    table, model = DigestTable(5), {}
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
        else:
            assert table.get(key) == model.get(key)
            assert (key in table) == (key in model)
        if step % 5_000 == 0:
            assert len(table) == len(model)
    assert len(table) == len(model)
    assert dict(table.items()) == model
    assert all(table.get(k) == v for k, v in model.items())


def test_items_come_in_first_stored_order_and_a_revived_key_keeps_its_place():
    table = DigestTable(1)
    for n in range(3):
        table.put(digest(n), bytes([n]))
    table.discard(digest(1))
    assert [k for k, _ in table.items()] == [digest(0), digest(2)]
    table.put(digest(1), b"\x09")
    assert list(table.items()) == [(digest(0), b"\x00"), (digest(1), b"\x09"), (digest(2), b"\x02")]


def test_grows_past_the_first_index_and_still_finds_everything():
    table = DigestTable(2)
    n = 5 * FIRST_SLOTS
    for i in range(n):
        table.put(digest(i), i.to_bytes(2, "little"))
    assert len(table) == n
    assert all(table.get(digest(i)) == i.to_bytes(2, "little") for i in range(n))
    assert table.get(digest(n)) is None and digest(n) not in table


def test_discarding_what_is_not_there_changes_nothing():
    table = DigestTable(1)
    table.discard(digest(1))
    table.put(digest(2), b"x")
    table.discard(digest(3))
    table.discard(digest(2))
    table.discard(digest(2))
    assert len(table) == 0 and table.get(digest(2)) is None


@pytest.mark.parametrize("key, value", [(b"short", b"v"), (digest(1) + b"!", b"v"), (digest(1), b"vv"), (digest(1), b"")])
def test_a_key_or_value_of_the_wrong_width_is_refused(key, value):
    table = DigestTable(1)
    with pytest.raises(ValueError, match="bytes"):
        table.put(key, value)


def test_a_key_of_the_wrong_width_is_never_found():
    table = DigestTable(1)
    table.put(digest(1), b"x")
    assert table.get(digest(1)[:3]) is None and digest(1) + b"!" not in table


def test_costs_a_fraction_of_a_dict_of_the_same_entries():
    table, model = DigestTable(8), {}
    for i in range(50_000):
        key, value = digest(i), i.to_bytes(8, "little")
        table.put(key, value)
        model[key] = value
    as_dict = sys.getsizeof(model) + sum(sys.getsizeof(k) + sys.getsizeof(v) for k, v in model.items())
    assert table.nbytes() * 3 < as_dict
    assert table.nbytes() < 50_000 * 50
