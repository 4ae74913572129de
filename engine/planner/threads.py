"""Conversation threads: a reply is created linked to the email it answers.

What server-side synchronization stores for an In-Reply-To correlation, set on create (the
columns are create-only): ``parentactivityid`` and the correlated activity
(``CorrelatedActivityId_Email``) point at the parent, and the reply takes the parent's regarding
link unless a rule of this run links it to something itself. Every created email also carries
``conversationtrackingid``, a GUID derived from its mailbox and provider thread id, so a later
run finds the conversation in the org even without headers.

How the parent is found, in this order: the Message-IDs of ``In-Reply-To`` then ``References``
(newest ancestor first) — an email of this run, or one in the org by ``messageid``; then the
provider ``thread_id`` — the first email of that conversation written by this run or found in
the org by ``conversationtrackingid``.

Order within an export must not matter, and a Nylas export is newest first, so replies usually
come before what they answer. Since the links cannot be added later (create-only), a reply whose
parent is not known yet is *deferred*: spooled to a temporary file (:mod:`.deferred`) and
written after the rest of the run, oldest first, in one pass (a reply dated before the email it
answers waits for a second). What is still unresolved after that is written unlinked.

An email of this run counts as known the moment its create is handed to the writer, not when it
has landed: its id is deterministic, so a reply can be planned against it at once, and the
change set carries the parent's row in :attr:`~mail2dataverse.operations.ChangeSet.after`, which
makes the writer send the reply only once the parent has its result. So the rounds stream
through the writer like the rest of the run instead of waiting for each other. A reply whose
parent then fails is written again without the link at the end (:meth:`ThreadLinks.orphaned`):
it lands, unlinked, rather than failing for its parent's sake.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterator
from typing import Any

from ..model import MappedEmail, deterministic_id, guid_text
from .context import TABLES, RunContext
from .deferred import EmailSpool
from .digests import DigestTable

#: how a link was found, as the report and the preview say it
_WHY = {"by_message_id": "In-Reply-To/References", "by_thread_id": "the same thread_id"}
#: the lookup columns a thread parent is read with (its regarding link, to inherit)
PARENT_COLUMNS = ("_regardingobjectid_value", "regardingobjecttypecode")
#: The first byte of an entry of the thread maps (see _Entries). A deferred email is PENDING
#: until the deferred pass takes it (its replies wait for it), then SCHEDULED until it is
#: planned (they no longer wait); KNOWN entries carry a GUID, ODD ones an id that is not one.
PENDING, SCHEDULED, KNOWN, ODD = 1, 2, 3, 4
MAX_DETAILS = 1000


class ThreadLinks:
    """Finds each reply's parent (in this run, in the org), links it, defers what must wait."""

    def __init__(self, ctx: RunContext, *, spool_memory: int = 0, table_front: int = 0):
        self.ctx = ctx
        self.enabled = ctx.config.threads
        self._entries = _Entries()
        # Message-ID → (activityid, regarding bind or None): emails of this run and parents found
        # in the org, and deferred emails not planned yet (PENDING, SCHEDULED). One entry per
        # email of the run for the whole run, so a DigestTable of _key() digests: about 45
        # bytes an email where a dict took 150 (200,000 messages; issue 13), past its first
        # `table_front` keys, which a sync keeps in a dict for speed (.digests).
        self._by_message_id = DigestTable(ENTRY, front=table_front)
        # conversationtrackingid → the conversation's first email known: (activityid, regarding)
        self._by_thread = DigestTable(ENTRY, front=table_front)
        self._spool = EmailSpool(spool_memory)  # bytes of deferred emails kept in memory (.deferred)
        self.failed: set[str] = set()  # activity ids of this run's emails that did not land
        self._orphans: list[MappedEmail] = []  # replies that failed because their parent did
        self.stats = {"linked": 0, "by_message_id": 0, "by_thread_id": 0,
                      "inherited_regarding": 0, "deferred": 0, "unlinked_replies": 0}
        self.details: list[dict[str, str]] = []
        self._regarding_keys = _regarding_keys(getattr(ctx, "mappings", None))

    # -- lookups ----------------------------------------------------------------------------

    def wanted(self, emails: list[MappedEmail]) -> tuple[list[str], list[str]]:
        """Parent Message-IDs and conversation ids to look up in the org for ``emails``."""
        if not self.enabled:
            return [], []
        ids = [r for e in emails for r in e.replies_to if _key(r) not in self._by_message_id]
        threads = [_conversation(e) for e in emails if e.thread]
        return ids, [t[0] for t in threads if t and t[1] not in self._by_thread]

    def settle(self, by_message_id: dict[str, dict[str, Any]], by_thread: dict[str, dict[str, Any]]) -> None:
        """Record the parents the org lookups found (rows keyed by lower-cased value)."""
        known, pack = self._by_message_id, self._entries.pack
        for key, row in by_message_id.items():
            known.replace(_key(key), pack(row["activityid"], _regarding_bind(row)), _waiting)
        for key, row in by_thread.items():
            self._by_thread.setdefault(_key(key), pack(row["activityid"], _regarding_bind(row)))

    # -- linking ----------------------------------------------------------------------------

    def parent(self, e: MappedEmail) -> tuple[str, tuple[str, str] | None, str] | None:
        """``(activityid, regarding bind, how)`` of the email ``e`` answers, or None."""
        if not self.enabled:
            return None
        failed, unpack = self.failed, self._entries.unpack
        for ref in e.replies_to:
            hit = self._by_message_id.get(_key(ref))
            if hit is not None and hit[0] >= KNOWN:
                activity, regarding = unpack(hit)
                if activity not in failed:
                    return activity, regarding, "by_message_id"
        conversation = _conversation(e)
        hit = self._by_thread.get(conversation[1]) if conversation else None
        if hit is not None:
            activity, regarding = unpack(hit)
            if activity not in failed and activity != deterministic_id("email", e.identity):
                return activity, regarding, "by_thread_id"
        return None

    def waits(self, e: MappedEmail) -> bool:
        """Whether ``e`` answers something not known yet, so it should be written later."""
        return self.enabled and bool(e.replies_to or e.thread)

    def must_wait(self, e: MappedEmail, *, final: bool) -> bool:
        """Whether ``e`` is deferred: it answers something not known yet and this is not the
        ``final`` chance (the deferred passes write what they get, linked or not)."""
        return not final and self.waits(e) and self.parent(e) is None

    def link(self, e: MappedEmail, body: dict[str, Any]) -> None:
        """Put the thread columns on the create ``body`` of ``e`` (after its own regarding link)."""
        if not self.enabled:
            return
        found = self.parent(e)
        conversation = _conversation(e)
        if conversation:
            body["conversationtrackingid"] = conversation[0]
        if found is None:
            if e.replies_to:  # a reply by its headers (thread ids also mark a conversation's first email)
                self.stats["unlinked_replies"] += 1
            return
        parent_id, regarding, how = found
        body["parentactivityid@odata.bind"] = f"/emails({parent_id})"
        body["CorrelatedActivityId_Email@odata.bind"] = f"/emails({parent_id})"
        inherited = False
        if regarding and not any(k in body for k in self._regarding_keys):
            # Server-side sync gives a correlated email the regarding of the one it answers.
            body[regarding[0]] = regarding[1]
            inherited = True
            self.stats["inherited_regarding"] += 1
        self.stats["linked"] += 1
        self.stats[how] += 1
        # Built only where it goes: the report keeps the first MAX_DETAILS, the preview every one
        explain, listed = self.ctx.explain, len(self.details) < MAX_DETAILS
        if listed or explain is not None:
            link = {"parent": parent_id, "by": _WHY[how],
                    "regarding": "inherited from the parent" if inherited else "own or none"}
            if listed:
                self.details.append({"record": str(e.ref), **link})
            if explain is not None:  # the preview's record of this email explains the link
                explain.attach(e, "thread", link)

    def after(self, body: dict[str, Any]) -> frozenset:
        """The row a create ``body`` links to (its parent email), as the writer's
        :attr:`~mail2dataverse.operations.ChangeSet.after` key; empty when it links to none."""
        bind = body.get("parentactivityid@odata.bind")
        if not isinstance(bind, str) or not bind.startswith("/emails("):
            return frozenset()
        return frozenset({("emails", bind[len("/emails("):-1].lower())})

    def _parent_failed(self, body: dict[str, Any] | None) -> bool:
        """Whether the email a create ``body`` links to is one of this run's that did not land."""
        return any(key[1] in self.failed for key in self.after(body or {}))

    def did_not_land(self, e: MappedEmail, activity_id: str, body: dict[str, Any] | None) -> bool:
        """``e`` failed: later replies no longer link to it. True when it failed because its own
        parent had failed: it is then kept for :meth:`orphaned` (written again, unlinked)."""
        self._settled(_own_key(e))  # its replies stop waiting for it
        if not self.enabled:
            return False
        orphan = self._parent_failed(body)
        if orphan:
            self._orphans.append(e)
        self.failed.add(activity_id.lower())
        return orphan

    def orphaned(self) -> list[MappedEmail]:
        """The replies that failed only because their parent did (taken: each is returned once);
        :meth:`parent` no longer finds a failed parent, so they are written unlinked."""
        out, self._orphans = self._orphans, []
        return out

    def written(self, e: MappedEmail, activity_id: str, body: dict[str, Any] | None) -> None:
        """Remember an email of this run (created or found, or handed to the writer to create),
        so its replies can link to it."""
        if not self.enabled:
            return
        regarding = None
        if body:
            for k in self._regarding_keys:
                v = body.get(k)
                if isinstance(v, str) and v.startswith("/"):
                    regarding = (k, v)
                    break
        entry = self._entries.pack(activity_id, regarding)
        replace = self._by_message_id.replace
        replace(_own_key(e), entry, _waiting)  # the first one known keeps its place
        for ident in e.aliases:
            replace(_key(ident), entry, _waiting)
        conversation = _conversation(e)
        if conversation:
            self._by_thread.setdefault(conversation[1], entry)

    # -- deferral ---------------------------------------------------------------------------

    def defer(self, e: MappedEmail) -> None:
        """Spool ``e`` until the rest of the run is written; its replies wait for it."""
        self._spool.add(e, e.date.timestamp() if e.date else 0.0)
        self._by_message_id.setdefault(_own_key(e), _PENDING)
        self.stats["deferred"] += 1

    def rounds(self, size: int) -> Iterator[list[MappedEmail]]:
        """The deferred emails, oldest first, in chunks of at most ``size``.

        The caller plans each chunk in order (linking with ``final=True``, calling
        :meth:`written`) before the next one is read, so an email is known to everything after
        it the moment it is yielded: a reply can come in the same chunk as the email it answers,
        right after it, and the writer sends the two in that order (``ChangeSet.after``). Nylas
        lists a conversation newest first, so oldest first is one pass. Only a reply dated
        before the email it answers (a skewed clock) waits for a further pass. When a pass
        frees nothing (a loop of replies), the rest comes as it is and is written with whatever
        link is known.
        """
        spool = self._spool
        if not spool:
            return
        by_message_id = self._by_message_id
        try:
            todo = spool.oldest_first()
            while todo:
                later: list[int] = []  # numbers of the emails still waiting
                chunk: list[MappedEmail] = []
                for n, e in spool.loaded(todo):
                    if any(by_message_id.get(_key(r)) == _PENDING for r in e.replies_to):
                        later.append(n)
                        continue
                    # planned before anything that follows it
                    by_message_id.replace(_own_key(e), _SCHEDULED, _is_pending)
                    chunk.append(e)
                    if len(chunk) >= size:
                        yield chunk
                        chunk = []
                if chunk:
                    yield chunk
                if len(later) == len(todo):
                    for start in range(0, len(later), size):
                        yield [e for _, e in spool.loaded(later[start:start + size])]
                    break
                todo = later
        finally:
            spool.close()

    def held_back(self, e: MappedEmail, postponed: set[bytes]) -> bool:
        """Whether ``e`` answers an email of ``postponed`` (keys from :meth:`keys_of`), one a
        chunk put back for later: it then goes after that email, not before it unlinked."""
        if any(_key(r) in postponed for r in e.replies_to):
            return True
        conversation = _conversation(e)
        return conversation is not None and conversation[1] in postponed and conversation[1] not in self._by_thread

    def keys_of(self, e: MappedEmail) -> list[bytes]:
        """What replies find ``e`` by (its identities and its conversation), for :meth:`held_back`."""
        conversation = _conversation(e)
        return [_own_key(e), *(_key(i) for i in e.aliases)] + ([conversation[1]] if conversation else [])

    def _settled(self, key: bytes) -> None:
        """The deferred email under ``key`` failed: no longer waited for, nor known."""
        entry = self._by_message_id.get(key)
        if entry is not None and _waiting(entry):
            self._by_message_id.discard(key)

    def summary(self) -> dict[str, Any]:
        """The report's ``threads`` section: counts and the first links, each explained."""
        return {**self.stats, "links": self.details}


#: thread → (its conversationtrackingid, that id's _key digest), for the other emails of a
#: thread (each email keeps its own pair, through the spool too: MappedEmail.conversation_digest).
#: Bounded (cleared when full): an entry keeps its texts alive, about 250 bytes.
_CONVERSATIONS: dict[str, tuple[str, bytes]] = {}
_CONVERSATIONS_MAX = 4096


def _conversation(e: MappedEmail) -> tuple[str, bytes] | None:
    """``(conversationtrackingid, its _key digest)`` of ``e``'s conversation (the GUID is derived
    from mailbox + thread id), or None for an email without a thread id."""
    thread = e.thread
    if not thread:
        return None
    found = e.conversation_digest
    if found is None:
        found = _CONVERSATIONS.get(thread)
        if found is None:
            tracking = deterministic_id("thread", thread)
            if len(_CONVERSATIONS) >= _CONVERSATIONS_MAX:
                _CONVERSATIONS.clear()
            found = _CONVERSATIONS[thread] = (tracking, _key(tracking))
        e.conversation_digest = found
    return found


def regarding_of_row(row: dict[str, Any]) -> dict[str, str]:
    """An org row's regarding as a create-body fragment (``{bind: url}``, or empty), for
    :meth:`ThreadLinks.written`."""
    bind = _regarding_bind(row)
    return {bind[0]: bind[1]} if bind else {}


def _regarding_bind(row: dict[str, Any]) -> tuple[str, str] | None:
    """The regarding bind a row read with :data:`PARENT_COLUMNS` gives to its replies."""
    rid, table = row.get("_regardingobjectid_value"), row.get("regardingobjecttypecode")
    if rid and table in TABLES:
        return f"regardingobjectid_{table}_email@odata.bind", f"/{TABLES[table][0]}({rid})"
    return None


def _key(text: str) -> bytes:
    """The 16-byte digest a Message-ID or GUID is kept under (case-insensitive, as before)."""
    return hashlib.blake2b(text.lower().encode("utf-8", "surrogatepass"), digest_size=16).digest()


def _regarding_keys(mappings: Any) -> tuple[str, ...]:
    """Where a create body can hold its regarding bind: the planner's (one per table it links
    to), then any column of the email mapping named like one. Looked up, not scanned for: a body
    has twenty keys, and scanning them for every email cost 2 % of a preview."""
    columns = getattr(getattr(mappings, "email", None), "columns", ())
    return tuple(dict.fromkeys([*(f"regardingobjectid_{t}_email@odata.bind" for t in TABLES),
                                *(c.name for c in columns if c.name.startswith("regardingobjectid_"))]))


def _own_key(e: MappedEmail) -> bytes:
    """``_key(e.identity)``, computed once an email (and carried through the spool)."""
    digest = e.identity_digest
    if digest is None:
        digest = e.identity_digest = _key(e.identity)
    return digest


def identity_key(identity: str) -> bytes:
    """The 16-byte digest of an email's identity, exactly as given (duplicates in a run)."""
    return hashlib.blake2b(identity.encode("utf-8", "surrogatepass"), digest_size=16).digest()


#: Bytes of an entry of the thread maps: its kind, 16 bytes of GUID, a regarding number.
ENTRY = 21
_PENDING = bytes([PENDING]) + bytes(ENTRY - 1)
_SCHEDULED = bytes([SCHEDULED]) + bytes(ENTRY - 1)


_KNOWN_HEAD = bytes([KNOWN])


def _guid_bytes(text: object) -> bytes | None:
    """``uuid.UUID(text).bytes``, or None when ``text`` is not a GUID. The canonical form (every
    id of a run: ours and the org's) is read without the UUID object, a third of its cost."""
    if type(text) is str and len(text) == 36 and text[8] == text[13] == text[18] == text[23] == "-":
        try:
            raw = bytes.fromhex(text[:8] + text[9:13] + text[14:18] + text[19:23] + text[24:])
        except ValueError:
            raw = b""
        if len(raw) == 16:  # (fromhex skips whitespace: such a text is left to UUID below)
            return raw
    try:
        return uuid.UUID(text).bytes  # type: ignore[arg-type]
    except (ValueError, TypeError, AttributeError):
        return None


def _waiting(entry: bytes | None) -> bool:
    """Whether a thread-map entry is absent or a deferred email's (a known email may replace it)."""
    return entry is None or entry[0] < KNOWN


def _is_pending(entry: bytes | None) -> bool:
    """Whether a thread-map entry is a deferred email's not taken by the deferred pass yet."""
    return entry == _PENDING


class _Entries:
    """Packs ``(activityid, regarding bind)`` into the :data:`ENTRY` bytes of a thread map.

    The GUID goes in as its 16 bytes; a regarding bind, one of the few targets of a run, as its
    number in a list kept here; an id that is not a GUID (never from the org) as its number in
    another."""

    def __init__(self) -> None:
        self._regardings: list[tuple[str, str]] = []
        self._regarding_numbers: dict[tuple[str, str], int] = {}
        self._odd: list[str] = []

    def pack(self, activity_id: str, regarding: tuple[str, str] | None) -> bytes:
        """The entry of an email known by ``activity_id`` whose replies inherit ``regarding``."""
        number = 0
        if regarding is not None:
            number = self._regarding_numbers.get(regarding, 0)
            if not number:
                self._regardings.append(regarding)
                number = self._regarding_numbers[regarding] = len(self._regardings)
        raw = _guid_bytes(activity_id)
        if raw is not None:
            head = _KNOWN_HEAD + raw
        else:  # not a GUID: kept as it is, by number
            self._odd.append(activity_id)
            head = bytes([ODD]) + len(self._odd).to_bytes(16, "little")
        return head + number.to_bytes(4, "little")

    def unpack(self, entry: bytes) -> tuple[str, tuple[str, str] | None]:
        """``(activityid, regarding)`` of an entry made by :meth:`pack`."""
        number = int.from_bytes(entry[17:21], "little")
        regarding = self._regardings[number - 1] if number else None
        if entry[0] == ODD:
            return self._odd[int.from_bytes(entry[1:17], "little") - 1], regarding
        return guid_text(entry[1:17].hex()), regarding
