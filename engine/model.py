"""The plain data that flows between the stages: source → mapper → planner → writer.

Everything here is a small slotted dataclass with no behaviour beyond formatting, so each stage
can be tested on its own and a plugin author can build these objects by hand.
"""

from __future__ import annotations

import functools
import hashlib
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from .errors import one_line

#: Namespace of the deterministic ids the planner gives to records it creates. A record created
#: twice (a re-run after a crash, two syncs at once) gets the same primary key both times, so the
#: service rejects the second create as a duplicate instead of storing two rows.
ID_NAMESPACE = uuid.UUID("6c0b7a3e-1f7e-4b0e-9a55-6d2d5e0b6a11")


_NAMESPACED = hashlib.sha1(ID_NAMESPACE.bytes)  # copied per id: the namespace is hashed once


@functools.lru_cache(maxsize=16384)
def deterministic_id(kind: str, natural_key: str) -> str:
    """Return the stable GUID for a record of ``kind`` ("contact", "account", "email").

    The same value as ``str(uuid.uuid5(ID_NAMESPACE, f"{kind}:{natural_key}"))``, computed
    without building UUID objects. Cached: the planner asks for the same email's and thread's
    ids several times (its create, its thread key, its replies' links), 85,000 times at W10k.
    Not more than 16,384: an entry keeps its key's text alive (about 300 bytes), and 65,536 of
    them were 20 MB of a 200,000-message preview's peak.
    """
    h = _NAMESPACED.copy()
    h.update(f"{kind}:{natural_key}".encode())
    digest = bytearray(h.digest()[:16])
    digest[6] = (digest[6] & 0x0F) | 0x50  # version 5
    digest[8] = (digest[8] & 0x3F) | 0x80  # RFC 4122 variant
    return guid_text(digest.hex())


def guid_text(hex32: str) -> str:
    """32 hex digits in the GUID's canonical 8-4-4-4-12 form (``str(uuid.UUID(hex32))`` without
    the object: ids are formatted per email and per change set)."""
    return f"{hex32[:8]}-{hex32[8:12]}-{hex32[12:16]}-{hex32[16:20]}-{hex32[20:]}"


@dataclass(frozen=True, slots=True)
class RecordRef:
    """Which input record something came from, for errors and the report."""

    source: str  # file name, "-" for stdin, "nylas:<grant>" for the CLI
    index: int  # 0-based position in that source
    id: str | None = None  # the Nylas id when the record has one

    def __str__(self) -> str:
        ident = f" (id {self.id})" if self.id else ""
        return f"{self.source} record {self.index + 1}{ident}"

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        # Pickled by its fields: the dataclass default for a frozen slotted class walks
        # dataclasses.fields() for every object (see MappedEmail.__reduce__).
        return RecordRef, (self.source, self.index, self.id)


@dataclass(frozen=True, slots=True)
class DerivedAccount:
    """What ``derive_account`` answers for a company domain; the account mapping maps it.

    ``domain`` is the registrable domain (``acme.co.uk`` for ``mail.acme.co.uk``) and is the
    account's identity inside a run. ``data`` is the input record the account mapping's JMESPath
    expressions read (at least ``domain``, ``name`` and ``website``).
    """

    domain: str
    data: dict[str, Any]


@dataclass(slots=True)
class MappedAccount:
    """An account payload ready for the planner."""

    domain: str
    columns: dict[str, Any]
    refs: list[RecordRef] = field(default_factory=list)  # contacts that produced it


@dataclass(slots=True)
class MappedContact:
    """A contact payload ready for the planner.

    ``emails`` are the contact's addresses in canonical form (:func:`mail2dataverse.addresses.
    canonical_address`), first one is its identity. ``warnings`` say what the mapper left out
    (a refused address, addresses beyond the columns that hold them); the planner reports them.
    ``columns`` holds plain Dataverse columns only. The link to the derived account is
    ``account`` (from the plugins' ``derive_account``) plus ``account_nav``, the navigation
    property the mapping file bound it to (``parentcustomerid_account``); the planner writes
    ``<account_nav>@odata.bind`` once the account's id is known, new or existing.
    """

    ref: RecordRef
    emails: tuple[str, ...]
    columns: dict[str, Any]
    account: DerivedAccount | None = None
    account_nav: str | None = None
    #: the address whose domain gave ``account`` (what the preview shows as "derived from")
    account_address: str | None = None
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Party:
    """One activity party of an email: participation mask (1 From, 2 To, 3 CC, 4 BCC)."""

    mask: int
    address: str  # canonical form (addresses.canonical_address)
    name: str | None = None

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        return Party, (self.mask, self.address, self.name)


@dataclass(frozen=True, slots=True)
class RegardingTarget:
    """What an email is about, as a plugin answered it; resolved against the org by the sync.

    ``table`` is the logical name (``opportunity``, ``incident``, ...). ``by`` says how to find it:

    - ``"id"``: ``value`` is the record's GUID;
    - ``"column"``: the record whose ``column`` equals ``value`` (e.g. ``ticketnumber``);
    - ``"contains"``, ``"startswith"``, ``"endswith"``: the record whose string ``column``
      contains, starts or ends with ``value``, taken literally (``LIKE`` wildcards escaped);
    - ``"account_newest_open"``: the newest open record of that table whose customer is the
      account of domain ``value``.

    ``reason`` explains the choice in previews and reports. Build one directly or through the
    hook's ``context["lookup"]`` (:class:`mail2dataverse.lookup.OrgLookup`); a ``by`` outside
    these forms is a :class:`~mail2dataverse.errors.PluginError` naming the plugin.
    ``plugin`` is the name of the plugin that answered (filled in by the engine when the plugin
    leaves it empty).
    """

    table: str
    by: str
    value: str
    column: str | None = None
    reason: str = ""
    plugin: str = field(default="", compare=False)  # who answered, not what: not part of equality

    def describe(self) -> str:
        """One-line human description, used in previews and in the report."""
        if self.by == "id":
            return f"{self.table} {self.value}"
        if self.by == "column":
            return f"{self.table} where {self.column} = {self.value!r}"
        if self.by in ("contains", "startswith", "endswith"):
            verb = {"contains": "contains", "startswith": "starts with", "endswith": "ends with"}[self.by]
            return f"{self.table} whose {self.column} {verb} {self.value!r}"
        return f"newest open {self.table} of the account for {self.value}"

    def signed(self, plugin: str) -> RegardingTarget:
        """This target naming ``plugin`` as the one that answered (a new object: it is frozen).

        Built directly: ``dataclasses.replace`` introspects the class's fields on every call, and
        the engine signs one answer per email.
        """
        return RegardingTarget(self.table, self.by, self.value, self.column, self.reason, plugin)

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        return RegardingTarget, (self.table, self.by, self.value, self.column, self.reason, self.plugin)


@dataclass(slots=True)
class MappedEmail:
    """An email activity payload ready for the planner.

    ``identity`` is the RFC 5322 Message-ID when known, else a deterministic id from the Nylas
    message id and grant; it is written to ``messageid`` and looked up before any create.
    ``columns`` are plain columns (subject, description, actualstart, directioncode, messageid...).
    ``outgoing`` decides the final status: Sent (3) when True, Received (4) when False.
    """

    ref: RecordRef
    identity: str
    columns: dict[str, Any]
    parties: list[Party]
    outgoing: bool
    date: datetime | None = None
    regarding: RegardingTarget | None = None
    mailbox: str | None = None  # grant id or source name, for incremental sync
    #: other identities the same message may have been written under before (the Nylas-derived
    #: id, when ``identity`` is a real Message-ID), looked up so it is never written twice
    aliases: tuple[str, ...] = ()
    #: Message-IDs this email answers, nearest first (In-Reply-To, then References newest first)
    replies_to: tuple[str, ...] = ()
    #: the provider's conversation key (mailbox + Nylas ``thread_id``), when there is one
    thread: str | None = None
    #: attachment metadata in the Nylas shape, each with the source's content locator if any
    attachments: tuple[dict[str, Any], ...] = ()
    #: what the mapper left out (a participant address refused), for the report
    warnings: tuple[str, ...] = ()
    #: the planner's digest of ``identity`` (:mod:`.planner.threads`), kept once computed: it is
    #: asked for when the email is deferred, taken by the deferred pass, and written
    identity_digest: bytes | None = field(default=None, init=False, repr=False, compare=False)
    #: its conversation's ``(conversationtrackingid, digest)`` (:mod:`.planner.threads`), kept
    #: once computed, for the same reason: the deferred pass comes back to it after 100,000
    #: other emails, long after any bounded cache has let it go
    conversation_digest: tuple[str, bytes] | None = field(default=None, init=False, repr=False, compare=False)

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        """Pickle as one flat tuple (the planner spools deferred replies, :mod:`.planner.threads`).

        The defaults cost 80 µs an email: ``dataclasses.fields()`` for each frozen member, and a
        UTC ``datetime`` pickled with its ``timezone`` object. Here the reference, the parties
        and the regarding target are plain tuples and a UTC date is its microseconds since the
        epoch (exact); any other date is pickled as it is.
        """
        date = self.date
        micros = None
        if date is not None and date.tzinfo is timezone.utc:
            micros, date = (date - _EPOCH) // _MICROSECOND, None
        ref = self.ref
        target = self.regarding
        if target is not None and target.__class__ is RegardingTarget:
            table, by, value, column, reason, plugin = fields = (
                target.table, target.by, target.value, target.column, target.reason, target.plugin)
            # As a tuple only when made of plain strings: equal tuples then mean equal targets,
            # and unpickling shares one target among them (_unpickle_email)
            if (table.__class__ is str and by.__class__ is str and value.__class__ is str and reason.__class__ is str
                    and plugin.__class__ is str and (column is None or column.__class__ is str)):
                target = fields
        return _unpickle_email, (
            ref.source, ref.index, ref.id, self.identity, self.columns,
            [(p.mask, p.address, p.name) for p in self.parties], self.outgoing, micros, date,
            target, self.mailbox, self.aliases, self.replies_to, self.thread, self.attachments,
            self.warnings, self.identity_digest, self.conversation_digest,
        )


_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_MICROSECOND = timedelta(microseconds=1)

# Unpickled emails share their parties and regarding targets (both frozen): most emails of a
# mailbox name the owner, and a few targets cover thousands of emails. Building a frozen
# dataclass costs ten times a dict lookup. Bounded: cleared when full.
_SHARED_MAX = 4096
_shared_parties: dict[tuple[int, str, str | None], Party] = {}
_shared_targets: dict[tuple[Any, ...], RegardingTarget] = {}


def _unpickle_email(source: str, index: int, ident: str | None, identity: str, columns: dict[str, Any],
                    parties: list[tuple[int, str, str | None]], outgoing: bool, micros: int | None,
                    date: datetime | None, target: Any, *rest: Any) -> MappedEmail:
    """The inverse of :meth:`MappedEmail.__reduce__`."""
    if micros is not None:
        date = _EPOCH + timedelta(microseconds=micros)
    shared = _shared_parties
    for i, fields in enumerate(parties):
        mask, address, name = fields
        # Shared only when plainly typed: a mask of True or 1.0 equals 1, a str subclass its str
        if mask.__class__ is int and address.__class__ is str and (name is None or name.__class__ is str):
            party = shared.get(fields)
            if party is None:
                if len(shared) >= _SHARED_MAX:
                    shared.clear()
                party = shared[fields] = Party(mask, address, name)
        else:
            party = Party(mask, address, name)
        parties[i] = party
    if target.__class__ is tuple:
        found = _shared_targets.get(target)
        if found is None:
            found = RegardingTarget(*target)
            if len(_shared_targets) >= _SHARED_MAX:
                _shared_targets.clear()
            _shared_targets[target] = found
        target = found
    *rest, digest, conversation = rest
    email = MappedEmail(RecordRef(source, index, ident), identity, columns, parties, outgoing, date, target, *rest)
    email.identity_digest = digest
    email.conversation_digest = conversation  # (marshal and pickle both give a tuple back)
    return email


def email_from_fields(fields: tuple[Any, ...]) -> MappedEmail:
    """The email whose :meth:`MappedEmail.__reduce__` arguments are ``fields`` (as they read back
    from another serializer than pickle, lists and all)."""
    return _unpickle_email(*fields)


@dataclass(frozen=True, slots=True)
class UnreadableRecord:
    """What a source yields in place of a record it parsed but cannot hand on (its text holds a
    lone surrogate, :mod:`mail2dataverse.sources.checks`): the mapper skips it with ``reason``."""

    reason: str
    id: str | None = None


@dataclass(frozen=True, slots=True)
class Skip:
    """A record the mapper chose not to map (a condition matched, or the record is unusable)."""

    ref: RecordRef
    reason: str

    def __post_init__(self) -> None:
        # one line, bounded: whatever a mapping or plugin put in the reason (errors.one_line)
        object.__setattr__(self, "reason", one_line(self.reason))
