"""The org's metadata for every mapped table is read at once before a sync (preflight.read_concurrently)."""

from __future__ import annotations

import threading
from types import SimpleNamespace

from mail2dataverse.preflight import read_concurrently


def test_every_mapped_table_is_read_once_and_at_the_same_time():
    tables = ("contact", "account", "email")
    arrived = threading.Barrier(len(tables), timeout=10)  # read one after another, this breaks
    calls: list[str] = []

    def attributes(table):
        calls.append(table)
        arrived.wait()
        return {f"{table}id": table}

    mappings = SimpleNamespace(contact=object(), account=object(), email=object())
    read = read_concurrently(mappings, attributes)
    assert sorted(calls) == sorted(tables)
    assert [read(t) for t in tables] == [{f"{t}id": t} for t in tables] and len(calls) == 3  # kept, not read again


def test_one_mapped_table_is_read_when_asked_and_an_unreadable_one_stays_none():
    mappings = SimpleNamespace(contact=object(), account=None, email=None)
    calls: list[str] = []
    read = read_concurrently(mappings, lambda table: calls.append(table) or None)
    assert calls == [] and read("contact") is None and calls == ["contact"]
