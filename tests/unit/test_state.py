"""SQLite state store: remembered records, content hashes, incremental watermarks."""

from datetime import datetime, timezone

from mail2dataverse.state import StateStore, content_hash


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


def test_watermark_per_mailbox(tmp_path):
    with StateStore(tmp_path / "s.sqlite3") as store:
        assert store.watermark("grant-a") is None
        when = datetime(2025, 3, 4, 14, 5, 9, tzinfo=timezone.utc)
        store.set_watermark("grant-a", when)
        assert store.watermark("grant-a") == when
        assert store.watermark("grant-b") is None


def test_in_memory_store_without_path():
    with StateStore(None) as store:
        store.put("account", "acme.co.uk", "id", {"name": "Acme"})
        assert store.get_many("account", ["acme.co.uk"])["acme.co.uk"].dataverse_id == "id"
