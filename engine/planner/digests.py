"""A map from 16-byte digests to fixed-width byte values, in flat buffers: the planner's
per-email memory (duplicate detection, the thread map) at about 30 bytes an entry.

A dict of ``bytes`` keys costs about 150 bytes an entry once the key object, the value object
and the dict's own slots are counted, and a run keeps one or two entries per email for its whole
length: 48 MB of a 200,000-message preview's peak (issue 13). Here an entry is its key and value
side by side in two ``bytearray``\\ s, found through an open-addressing index of 4-byte entry
numbers (the layout of CPython's own compact dict, without the per-entry objects). No small
objects are made per entry, so nothing fragments the heap either.

Keys are digests (blake2b), hashed with Python's own ``hash`` of the 16 bytes: the layout then
varies per process (hash randomization) but what the table answers does not.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterator

KEY = 16
#: The index starts this large and doubles whenever it is half full.
FIRST_SLOTS = 1 << 10


class DigestTable:
    """``{16-byte digest: value of `width` bytes}``, with get, put, setdefault and discard."""

    def __init__(self, width: int) -> None:
        if width < 1:
            raise ValueError("a DigestTable value is at least one byte wide")
        self.width = width
        self._keys = bytearray()
        self._values = bytearray()
        self._dead = bytearray()  # 1 for an entry discarded (its key stays, to be revived by put)
        self._live = 0
        self._index = array("i", bytes(4 * FIRST_SLOTS))
        self._mask = FIRST_SLOTS - 1

    def __len__(self) -> int:
        return self._live

    def __contains__(self, key: bytes) -> bool:
        n = self._find(key)
        return n >= 0 and not self._dead[n]

    def get(self, key: bytes) -> bytes | None:
        """The value under ``key``, or None."""
        n = self._find(key)
        if n < 0 or self._dead[n]:
            return None
        w = self.width
        return bytes(self._values[n * w:(n + 1) * w])

    def put(self, key: bytes, value: bytes) -> None:
        """Set the value under ``key`` (added, replaced, or revived after :meth:`discard`)."""
        self._store(key, value, replace=True)

    def setdefault(self, key: bytes, value: bytes) -> bytes:
        """The value under ``key``; ``value`` is stored first when there is none."""
        return self._store(key, value, replace=False)

    def discard(self, key: bytes) -> None:
        """Forget ``key`` (nothing happens when it is not there)."""
        n = self._find(key)
        if n >= 0 and not self._dead[n]:
            self._dead[n] = 1
            self._live -= 1

    def items(self) -> Iterator[tuple[bytes, bytes]]:
        """Every ``(key, value)``, in the order the keys were first stored."""
        w = self.width
        for n in range(len(self._dead)):
            if not self._dead[n]:
                yield bytes(self._keys[n * KEY:(n + 1) * KEY]), bytes(self._values[n * w:(n + 1) * w])

    def nbytes(self) -> int:
        """Bytes the table's buffers hold (what it costs, for the benchmarks and tests)."""
        return len(self._keys) + len(self._values) + len(self._dead) + self._index.itemsize * len(self._index)

    # -- inside ------------------------------------------------------------------------------

    def _find(self, key: bytes) -> int:
        """The entry number of ``key`` (dead or alive), or -1."""
        if len(key) != KEY:
            raise ValueError(f"a DigestTable key is {KEY} bytes, not {len(key)}")
        index, mask, keys = self._index, self._mask, self._keys
        slot = hash(key) & mask
        while True:
            n = index[slot]
            if not n:
                return -1
            start = (n - 1) * KEY
            if keys[start:start + KEY] == key:
                return n - 1
            slot = (slot + 1) & mask  # linear probing: at most half full, so runs stay short

    def _store(self, key: bytes, value: bytes, *, replace: bool) -> bytes:
        w = self.width
        if len(value) != w:
            raise ValueError(f"a value of this DigestTable is {w} bytes, not {len(value)}")
        if len(key) != KEY:
            raise ValueError(f"a DigestTable key is {KEY} bytes, not {len(key)}")
        index, mask, keys = self._index, self._mask, self._keys
        slot = hash(key) & mask
        while True:
            n = index[slot]
            if not n:
                break
            start = (n - 1) * KEY
            if keys[start:start + KEY] == key:
                n -= 1
                if self._dead[n]:
                    self._dead[n] = 0
                    self._live += 1
                elif not replace:
                    return bytes(self._values[n * w:(n + 1) * w])
                self._values[n * w:(n + 1) * w] = value
                return value
            slot = (slot + 1) & mask
        self._keys += key
        self._values += value
        self._dead.append(0)
        self._live += 1
        index[slot] = len(self._dead)
        if 2 * len(self._dead) > len(index):
            self._grow()
        return value

    def _grow(self) -> None:
        """Double the index and place every entry again (entries themselves do not move)."""
        slots = 2 * len(self._index)
        index = array("i", bytes(4 * slots))
        mask = slots - 1
        keys = self._keys
        for n in range(len(self._dead)):
            slot = hash(bytes(keys[n * KEY:(n + 1) * KEY])) & mask
            while index[slot]:
                slot = (slot + 1) & mask
            index[slot] = n + 1
        self._index, self._mask = index, mask
