"""SQLite state store: remembered records, content hashes, incremental coverage."""

from datetime import datetime, timezone

from mail2dataverse.state import StateStore, content_hash, covered, merge_ranges


def test_content_hash_ignores_key_order_and_sees_value_changes():
    assert content_hash({"a": 1, "b": "x"}) == content_hash({"b": "x", "a": 1})
    assert content_hash({"a": 1}) != content_hash({"a": 2})


def test_put_get_many_survives_reopen(tmp_path):
    path = tmp_path / "state.sqlite3"
    with StateStore(path) as store:
        store.put("contact", "o'brien@x.com", "id-1", {"lastname": "O'Brien"}, "contacts.json record 1")
        store.commit()
    with StateStore(path) as store:
        got = store.get_many("contact", ["o'brien@x.com", "missing@x.com"])
        assert list(got) == ["o'brien@x.com"]
        assert got["o'brien@x.com"].dataverse_id == "id-1"
        assert got["o'brien@x.com"].columns == {"lastname": "O'Brien"}
        assert got["o'brien@x.com"].content_hash == content_hash({"lastname": "O'Brien"})
        assert store.count("contact") == 1


def test_get_many_handles_more_keys_than_sqlite_variables(tmp_path):
    with StateStore(tmp_path / "s.sqlite3") as store:
        for i in range(1200):
            store.put("email", f"<m{i}@x>", f"id{i}", {"messageid": f"<m{i}@x>"})
        assert len(store.get_many("email", [f"<m{i}@x>" for i in range(1500)])) == 1200


def test_coverage_per_mailbox_merges_overlapping_ranges(tmp_path):
    def d(day, hour=0):
        return datetime(2025, 3, day, hour, tzinfo=timezone.utc)

    with StateStore(tmp_path / "s.sqlite3") as store:
        assert store.coverage("grant-a") == []
        store.add_coverage("grant-a", [(d(4), d(6))])
        store.add_coverage("grant-a", [(d(1), d(2)), (d(5), d(9))])  # the second overlaps
        store.commit()
    with StateStore(tmp_path / "s.sqlite3") as store:
        assert store.coverage("grant-a") == [(d(1), d(2)), (d(4), d(9))]
        assert store.coverage("grant-b") == []


def test_merge_ranges_and_covered():
    def d(day):
        return datetime(2025, 3, day, tzinfo=timezone.utc)

    assert merge_ranges([(d(5), d(6)), (d(1), d(3)), (d(3), d(4)), (d(9), d(8))]) == [(d(1), d(4)), (d(5), d(6))]
    assert covered([(d(1), d(4))], d(4)) and covered([(d(1), d(4))], d(1))
    assert not covered([(d(1), d(4))], d(5))


def test_in_memory_store_without_path():
    with StateStore(None) as store:
        store.put("account", "acme.co.uk", "id", {"name": "Acme"})
        assert store.get_many("account", ["acme.co.uk"])["acme.co.uk"].dataverse_id == "id"


def test_rows_put_are_read_back_before_any_commit_and_kept_by_close(tmp_path):
    # put() collects rows for one executemany: every read, commit and close writes them first.
    path = tmp_path / "state.sqlite3"
    with StateStore(path) as store:
        store.put("email", "<a@x>", "id-a", {"messageid": "<a@x>"})
        assert list(store.get_many("email", ["<a@x>"])) == ["<a@x>"]
        store.put("email", "<a@x>", "id-a2", {"messageid": "<a@x>"})  # the later put wins
        store.put("email", "<b@x>", "id-b", {"messageid": "<b@x>"})
        assert store.count("email") == 2
        store.put("email", "<c@x>", "id-c", {"messageid": "<c@x>"})
    with StateStore(path) as store:
        got = store.get_many("email", ["<a@x>", "<b@x>", "<c@x>"])
        assert {k: v.dataverse_id for k, v in got.items()} == {"<a@x>": "id-a2", "<b@x>": "id-b", "<c@x>": "id-c"}


def test_a_flush_of_many_rows_keeps_each_and_the_last_put_of_a_key_wins(tmp_path):
    # Rows go in several multi-row INSERTs (state._ROWS_PER_INSERT each): none is lost at a
    # statement's edge, and a key put twice before a flush ends as its second put.
    from mail2dataverse import state as state_module

    store = StateStore(tmp_path / "s.sqlite3")
    n = 3 * state_module._ROWS_PER_INSERT + 7
    for i in range(n):
        store.put("email", f"<m{i}@x>", f"id-{i}", {"messageid": f"<m{i}@x>"}, f"messages.json record {i}")
    store.put("email", "<m5@x>", "id-again", {"messageid": "<m5@x>", "n": 2})
    store.commit()
    assert store.count("email") == n
    found = store.get_many("email", [f"<m{i}@x>" for i in range(n)])
    assert len(found) == n and found["<m0@x>"].dataverse_id == "id-0" and found[f"<m{n - 1}@x>"].dataverse_id == f"id-{n - 1}"
    assert found["<m5@x>"].dataverse_id == "id-again" and found["<m5@x>"].columns == {"messageid": "<m5@x>", "n": 2}
    store.close()
