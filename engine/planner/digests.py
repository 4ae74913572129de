"""A map from 16-byte digests to fixed-width byte values, in flat buffers: the planner's
per-email memory (duplicate detection, the thread map) at 40-60 bytes an entry.

A dict of ``bytes`` keys costs about 150 bytes an entry once the key object, the value object
and the dict's own slots are counted, and a run keeps one or two entries per email for its whole
length: 48 MB of a 200,000-message preview's peak (issue 13). Here an entry is its key and
value in two ``bytearray`` buffers and its hash in an array, found through an open-addressing
index of 4-byte entry numbers (the layout of CPython's compact dict, without the per-entry
objects). No small objects are made per entry, so nothing fragments the heap either.

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
    """``{16-byte digest: value of `width` bytes}``, with get, put, setdefault and discard.

    On the planner's path for every email, several times: a key's hash is kept beside it, so
    doubling the index does not hash every key again.
    """

    def __init__(self, width: int) -> None:
        if width < 1:
            raise ValueError("a DigestTable value is at least one byte wide")
        self.width = width
        self._keys = bytearray()
        self._values = bytearray()
        # The low 32 bits of each key's hash: all an index of up to 2**32 slots uses.
        self._hashes = array("I")
        self._dead: set[int] = set()  # entries discarded (their key stays, to be revived by put)
        self._index = array("i", [-1]) * FIRST_SLOTS  # entry numbers; -1 is an empty slot
        self._mask = FIRST_SLOTS - 1

    def __len__(self) -> int:
        return len(self._hashes) - len(self._dead)

    def __contains__(self, key: bytes) -> bool:
        return self._find(key) >= 0

    def get(self, key: bytes) -> bytes | None:
        """The value under ``key``, or None."""
        n = self._find(key)
        if n < 0:
            return None
        w = self.width
        return bytes(self._values[n * w:n * w + w])

    def put(self, key: bytes, value: bytes) -> None:
        """Set the value under ``key`` (added, replaced, or revived after :meth:`discard`)."""
        self._store(key, value, replace=True)

    def setdefault(self, key: bytes, value: bytes) -> bytes:
        """The value under ``key``; ``value`` is stored first when there is none."""
        return self._store(key, value, replace=False)

    def discard(self, key: bytes) -> None:
        """Forget ``key`` (nothing happens when it is not there)."""
        n = self._find(key)
        if n >= 0:
            self._dead.add(n)

    def items(self) -> Iterator[tuple[bytes, bytes]]:
        """Every ``(key, value)``, in the order the keys were first stored."""
        w = self.width
        for n in range(len(self._hashes)):
            if n not in self._dead:
                yield bytes(self._keys[n * KEY:(n + 1) * KEY]), bytes(self._values[n * w:(n + 1) * w])

    def nbytes(self) -> int:
        """Bytes the table's buffers hold (what it costs, for the benchmarks and tests)."""
        return (len(self._keys) + len(self._values) + self._hashes.itemsize * len(self._hashes)
                + self._index.itemsize * len(self._index))

    # -- inside ------------------------------------------------------------------------------

    def _find(self, key: bytes) -> int:
        """The entry number of ``key`` when it is there (not discarded), or -1."""
        if len(key) != KEY:  # (startswith below would take a shorter key for a prefix)
            return -1
        index, mask, keys = self._index, self._mask, self._keys
        slot = hash(key) & mask
        n = index[slot]
        while n >= 0:
            if keys.startswith(key, n * KEY):  # compares in place: no slice made
                return -1 if n in self._dead else n
            slot = (slot + 1) & mask  # linear probing: at most half full, so runs stay short
            n = index[slot]
        return -1

    def _store(self, key: bytes, value: bytes, *, replace: bool) -> bytes:
        w = self.width
        if len(value) != w or len(key) != KEY:
            raise ValueError(f"a DigestTable key is {KEY} bytes and its values {w} bytes, "
                             f"not {len(key)} and {len(value)}")
        index, mask, keys = self._index, self._mask, self._keys
        h = hash(key)
        slot = h & mask
        n = index[slot]
        while n >= 0:
            if keys.startswith(key, n * KEY):  # compares in place: no slice made
                if self._dead and n in self._dead:
                    self._dead.discard(n)
                elif not replace:
                    return bytes(self._values[n * w:n * w + w])
                self._values[n * w:n * w + w] = value
                return value
            slot = (slot + 1) & mask
            n = index[slot]
        index[slot] = len(self._hashes)
        self._keys += key
        self._values += value
        self._hashes.append(h & 0xFFFFFFFF)
        if 2 * len(self._hashes) > len(index):
            self._grow()
        return value

    def _grow(self) -> None:
        """Double the index and place every entry again (entries themselves do not move)."""
        slots = 2 * len(self._index)
        index = array("i", [-1]) * slots
        mask = slots - 1
        for n, h in enumerate(self._hashes):
            slot = h & mask
            while index[slot] >= 0:
                slot = (slot + 1) & mask
            index[slot] = n
        self._index, self._mask = index, mask
