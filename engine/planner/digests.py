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

The flat buffers cost CPU, though: an operation is a few Python-level steps (1.5-2 µs) where a
dict's is one C call (a tenth of that), and a run makes about ten per email: 100,000 in a W10k
sync, about 4 % of its client CPU (issue 12). So a table may keep its first keys (``front``; a sync's take
:data:`FRONT`) in a plain dict, and only the keys after them go to the buffers. A sync of up to
that many emails (a day's or a week's mail, and the W10k benchmark) never touches the buffers; a
longer one pays for the front once, about 2.7 MB a table, and keeps every later entry at the
buffers' 40-60 bytes. A key lives in exactly one of the two places for its whole life, so the
front is never copied out and the order of first storing holds across both. The preview, whose
peak memory is bounded (150 MB at 200,000 messages, issue 13, about 8 MB of it these fronts
would take), keeps none.
"""

from __future__ import annotations

import sys
from array import array
from collections.abc import Callable, Iterator

KEY = 16
#: what the front holds for a key it does not have (None marks a discarded one)
_ABSENT = object()
#: The index starts this large and doubles whenever it is half full.
FIRST_SLOTS = 1 << 10
#: Keys a sync's tables keep in their front dict before any goes to the flat buffers (see the
#: module docstring): at about 165 bytes a key, 2.7 MB a table at most.
FRONT = 1 << 14


class DigestTable:
    """``{16-byte digest: value of `width` bytes}``, with get, put, setdefault, replace and discard.

    On the planner's path for every email, several times: a key's hash is kept beside it, so
    doubling the index does not hash every key again.
    """

    def __init__(self, width: int, *, front: int = 0) -> None:
        if width < 1:
            raise ValueError("a DigestTable value is at least one byte wide")
        self.width = width
        # The first `front` keys: {key: value}, or {key: None} once discarded (the key keeps its
        # place there, so a put revives it in place, as the buffers do).
        self._front: dict[bytes, bytes | None] = {}
        self._front_size = front
        self._front_dead = 0
        self._keys = bytearray()
        self._values = bytearray()
        # The low 32 bits of each key's hash: all an index of up to 2**32 slots uses.
        self._hashes = array("I")
        self._dead: set[int] = set()  # entries discarded (their key stays, to be revived by put)
        self._index = array("i", [-1]) * FIRST_SLOTS  # entry numbers; -1 is an empty slot
        self._mask = FIRST_SLOTS - 1

    def __len__(self) -> int:
        return len(self._front) - self._front_dead + len(self._hashes) - len(self._dead)

    def __contains__(self, key: bytes) -> bool:
        if self._front.get(key) is not None:
            return True
        return bool(self._hashes) and self._find(key) >= 0

    def get(self, key: bytes) -> bytes | None:
        """The value under ``key``, or None."""
        value = self._front.get(key)
        if value is not None or not self._hashes:
            return value
        n = self._find(key)
        if n < 0:
            return None
        w = self.width
        return bytes(self._values[n * w:n * w + w])

    def put(self, key: bytes, value: bytes) -> None:
        """Set the value under ``key`` (added, replaced, or revived after :meth:`discard`)."""
        front = self._front
        if key in front or len(front) < self._front_size:
            self._check(key, value)
            if front.get(key, value) is None:
                self._front_dead -= 1
            front[key] = value
        else:
            self._store(key, value, replace=True)

    def setdefault(self, key: bytes, value: bytes) -> bytes:
        """The value under ``key``; ``value`` is stored first when there is none."""
        front = self._front
        found = front.get(key, _ABSENT)
        if found is not _ABSENT and found is not None:
            return found  # type: ignore[return-value]
        if found is None or len(front) < self._front_size:
            self._check(key, value)
            if found is None:
                self._front_dead -= 1
            front[key] = value
            return value
        return self._store(key, value, replace=False)

    def replace(self, key: bytes, value: bytes, test: Callable[[bytes | None], bool]) -> bool:
        """Store ``value`` under ``key`` when ``test`` passes the value there now (None when there
        is none, or it was discarded); True when it stored. What ``get`` then ``put`` would do,
        in one search of the table instead of two: the thread map's updates (.threads) are two of
        a run's ten operations an email."""
        self._check(key, value)
        front = self._front
        if key in front or len(front) < self._front_size:  # (buffers are used once the front is full)
            if not test(front.get(key)):
                return False
            self.put(key, value)
            return True
        w = self.width
        index, mask, keys = self._index, self._mask, self._keys
        h = hash(key)
        slot = h & mask
        n = index[slot]
        while n >= 0:
            if keys.startswith(key, n * KEY):
                dead = bool(self._dead) and n in self._dead
                if not test(None if dead else bytes(self._values[n * w:n * w + w])):
                    return False
                if dead:
                    self._dead.discard(n)
                self._values[n * w:n * w + w] = value
                return True
            slot = (slot + 1) & mask
            n = index[slot]
        if not test(None):
            return False
        self._append(slot, h, key, value)
        return True

    def discard(self, key: bytes) -> None:
        """Forget ``key`` (nothing happens when it is not there)."""
        if self._front.get(key) is not None:
            self._front[key] = None
            self._front_dead += 1
            return
        n = self._find(key) if self._hashes else -1
        if n >= 0:
            self._dead.add(n)

    def items(self) -> Iterator[tuple[bytes, bytes]]:
        """Every ``(key, value)``, in the order the keys were first stored."""
        for key, value in self._front.items():
            if value is not None:
                yield key, value
        w = self.width
        for n in range(len(self._hashes)):
            if n not in self._dead:
                yield bytes(self._keys[n * KEY:(n + 1) * KEY]), bytes(self._values[n * w:(n + 1) * w])

    def nbytes(self) -> int:
        """Bytes the table holds (what it costs, for the benchmarks and tests): the buffers, and
        the front dict with its key and value objects."""
        front = self._front
        per_key = sys.getsizeof(bytes(KEY)) + sys.getsizeof(bytes(self.width))
        return (len(self._keys) + len(self._values) + self._hashes.itemsize * len(self._hashes)
                + self._index.itemsize * len(self._index) + sys.getsizeof(front) + per_key * len(front))

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

    def _check(self, key: bytes, value: bytes) -> None:
        if len(value) != self.width or len(key) != KEY:
            raise ValueError(f"a DigestTable key is {KEY} bytes and its values {self.width} bytes, "
                             f"not {len(key)} and {len(value)}")

    def _store(self, key: bytes, value: bytes, *, replace: bool) -> bytes:
        """Store in the buffers: ``key`` is not in the front, which is full."""
        w = self.width
        self._check(key, value)
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
        self._append(slot, h, key, value)
        return value

    def _append(self, slot: int, h: int, key: bytes, value: bytes) -> None:
        """A new entry at the empty index ``slot`` its search ended on (``h``: its key's hash)."""
        self._index[slot] = len(self._hashes)
        self._keys += key
        self._values += value
        self._hashes.append(h & 0xFFFFFFFF)
        if 2 * len(self._hashes) > len(self._index):
            self._grow()

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
