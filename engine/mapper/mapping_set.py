"""Map records with compiled mappings: the per-record hot path.

Nothing here parses YAML, validates a schema or compiles an expression: every expression is a
ready closure and every transform a ready function (see :mod:`.compiler`). The loops below are
written out by hand (no helper call per column) because they run ~15 times per message.
"""

from __future__ import annotations

import re
import sys
from datetime import datetime
from typing import Any

from ..addresses import canonical_address, parse_addresses
from ..errors import RecordError
from ..model import (DerivedAccount, MappedAccount, MappedContact, MappedEmail, Party, RecordRef, Skip,
                     UnreadableRecord)
from .compiler import BIND_SUFFIX
from .evaluate import Failed as _Failed
from .evaluate import SkipRecord as _SkipRecord
from .evaluate import build_evaluator
from .evaluate import error_text as _error_text
from .functions import describe, jmespath_type, synthetic_message_id
from .model import CompiledMapping, CompiledParty, CompiledValue
from .transforms import parse_instant

#: one RFC 5322 msg-id in a header value (kept with its angle brackets, like ``messageid``)
MESSAGE_ID = re.compile(r"<[^<>\s]{1,318}>")

_MISSING = object()
_PARTY_CACHE_MAX = 50_000


def _intern(text: str) -> str:
    """``text`` as the one shared copy of its value (str subclasses cannot be interned)."""
    return sys.intern(text) if text.__class__ is str else text


def _make_parties(mask: int, field: str, name: str | None) -> Party | tuple[tuple[Party, ...], str | None]:
    """The parties one participant entry stands for, and why part of it was refused (or None).

    The address goes through :func:`parse_addresses`: ``"Ana Silva <ana@x>"`` is one party
    ``ana@x`` (named Ana Silva when the entry has no name), ``"a@x, b@y"`` two, and a field with
    a control character none, with the reason. The usual answer, one party and nothing refused,
    is the :class:`Party` itself (what the party cache keeps: a bare object, no tuples around it).
    """
    parsed = parse_addresses(field)
    name = (name.strip() or None) if name else None
    if len(parsed.addresses) > 1:
        name = None  # a list's one name belongs to none of its addresses in particular
    # Interned: the cache's key and the party share one string when the raw address is already
    # canonical, and every entry of one person (From in one message, To in the next) one name.
    parties = tuple(Party(mask, _intern(a), _intern(name or n) if name or n else None)
                    for a, n in zip(parsed.addresses, parsed.names))
    if len(parties) == 1 and parsed.problem is None:
        return parties[0]
    return parties, parsed.problem


def _unwritten(emails: tuple[str, ...], columns: dict[str, Any]) -> list[str]:
    """The addresses no column holds (a contact has three address columns; Nylas may give 50).
    Empty when the mapping writes no address at all: then nothing was meant to be written."""
    written = {v for v in columns.values() if v.__class__ is str and v in emails}
    return [e for e in emails if e not in written] if written else []


def _party_rules(mapping: CompiledMapping) -> tuple[tuple[str | None, CompiledParty], ...]:
    """Each party rule with the top-level field it reads (``from``, ``to``...), or None when its
    expression is anything else: a record is a dict, so a field is one ``record.get``."""
    return tuple((getattr(rule.expr, "jp_field", None), rule) for rule in mapping.parties)


def _parties(rules: tuple[tuple[str | None, CompiledParty], ...], record: dict, cache: dict,
             notes: list[str]) -> list[Party]:
    """The activity parties of a message, each participant address read by :func:`_make_parties`
    (cached in ``cache`` by mask, raw address and name); a refused one is noted in ``notes``.

    A cached key was checked when it was stored (a string address, a string or null name, and
    only equal strings compare equal to it), so a hit skips the type checks.
    """
    parties: list[Party] = []
    append = parties.append
    for field, rule in rules:
        if field is not None:
            people = record.get(field)
        else:
            try:
                people = rule.expr(record)
            except Exception as exc:  # noqa: BLE001
                raise _Failed(rule.source, _error_text(exc)) from None
        if people is None:
            continue  # the CLI omits to/cc/bcc when empty, and `from` may be null
        if people.__class__ is not list and not isinstance(people, list):
            raise _Failed(rule.source, f"expected an array of participants, got {describe(people)}")
        mask = rule.mask
        for person in people:
            if person.__class__ is dict:
                try:
                    hit = cache.get((mask, person.get("email"), person.get("name")))
                except TypeError:  # an unhashable email or name (a list...): the checks below say so
                    hit = None
                if hit.__class__ is Party:
                    append(hit)
                    continue
            elif not isinstance(person, dict):
                raise _Failed(rule.source, f"expected a participant object {{name, email}}, got {describe(person)}")
            else:
                hit = None
            if hit is None:
                address = person.get("email")
                if address is None:
                    continue
                if not isinstance(address, str):
                    raise _Failed(rule.source, f"participant email must be a string, got {describe(address)}")
                name = person.get("name")
                if name is not None and not isinstance(name, str):
                    raise _Failed(rule.source, f"participant name must be a string, got {describe(name)}")
                if len(cache) >= _PARTY_CACHE_MAX:
                    cache.clear()
                hit = cache[(mask, _intern(address), _intern(name) if name else name)] = _make_parties(mask, address, name)
                if hit.__class__ is Party:
                    append(hit)
                    continue
            parties.extend(hit[0])
            if hit[1] is not None:
                notes.append(f"{rule.source.json_path}: participant dropped: {hit[1]}")
    return parties


def _contact_emails(mapping: CompiledMapping, lets: list[Any], at: int) -> tuple[str, ...]:
    """The contact's ``emails`` let (index ``at``) as a tuple of strings; a wrong type fails, located."""
    value = lets[at]
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,) if value else ()
    entry = mapping.lets[at]
    if not isinstance(value, list):
        raise _Failed(entry.source, f"let emails must be an array of strings, got {describe(value)}")
    for item in value:
        if not isinstance(item, str):
            raise _Failed(entry.source, f"let emails must be an array of strings, got {describe(item)} in it")
    return tuple(v for v in value if v)


def _compute(entry: CompiledValue, record: Any, lets: list[Any]) -> Any:
    """Evaluate one entry off the hot path (the bind column), failures located."""
    try:
        return entry.compute(record, lets)
    except Exception as exc:  # noqa: BLE001 - every failure becomes a located skip reason
        raise _Failed(entry.source, _error_text(exc)) from None


def _not_an_object(mapping: CompiledMapping, ref: RecordRef, record: Any) -> Skip:
    # No record prefix in the reason: the Skip names the record (see _Failed.reason).
    if isinstance(record, UnreadableRecord):  # the source parsed it but cannot hand it on
        return Skip(ref, record.reason)
    return Skip(ref, f"not a JSON object but {jmespath_type(record)}, cannot map it (mapping {mapping.source.file})")


class MappingSet:
    """The compiled contact, account and email mappings of a run, plus the plugins they ask.

    Built by :func:`mail2dataverse.mapper.load_mappings`. Thread-compatible: mapping a record
    only reads the compiled objects (the per-domain cache is a plain dict filled idempotently).

    :ivar contact: compiled contact mapping.
    :ivar account: compiled account mapping.
    :ivar email: compiled email mapping.
    :ivar options: the run's ``jmespath.Options`` (custom functions), for callers that want to
        evaluate their own expressions with the same functions.
    """

    def __init__(
        self,
        contact: CompiledMapping,
        account: CompiledMapping,
        email: CompiledMapping,
        *,
        plugins: Any,
        options: Any,
    ):
        """Assemble a mapping set; use :func:`~mail2dataverse.mapper.load_mappings` instead."""
        self.contact = contact
        self.account = account
        self.email = email
        self.plugins = plugins
        self.options = options
        config = plugins.config
        self._config = config
        self._owners = frozenset(canonical_address(a) for a in config.owner_addresses)
        self._profile = config.profile
        self._owner_addresses = config.owner_addresses
        # the run's read-only org lookup (mail2dataverse.lookup), handed to regarding_target
        self._lookup = getattr(plugins, "lookup", None)
        self._external: dict[str, str | None] = {}  # address → registrable domain, None: not external
        # Colleagues share the owners' domain: their company is not a customer to link to.
        self._internal = frozenset(
            plugins.registrable_domain(a.rpartition("@")[2]) for a in self._owners if "@" in a
        )
        # Party is frozen, and the same people (the owner above all) appear in most messages:
        # sharing instances saves the dataclass construction on the hot path.
        self._party_cache: dict[tuple[int, str, str | None], Party | tuple[tuple[Party, ...], str | None]] = {}
        self._party_rules = _party_rules(email)
        self._emails_at = contact.let_index("emails")
        # lets, skip rules and columns, each mapping's written out as one function (.evaluate)
        self._evaluate_contact = build_evaluator(contact, self._emails_at)
        self._evaluate_account = build_evaluator(account)
        self._evaluate_email = build_evaluator(email)
        self._identity_at = email.let_index("identity")
        self._outgoing_at = email.let_index("outgoing")
        self._date_at = email.let_index("date")
        self._mailbox_at = email.let_index("mailbox")
        self._thread_at = tuple(email.let_index(n) for n in ("in_reply_to", "references", "thread", "attachments"))

    # -- contacts -------------------------------------------------------------------------------

    def map_contact(self, record: Any, ref: RecordRef) -> MappedContact | Skip:
        """Map one Nylas contact.

        :returns: a :class:`MappedContact` (its ``emails`` are the ``let.emails`` addresses, the
            account from ``plugins.account_for_address`` when a column has ``bind: account``), or
            a :class:`Skip` with a one-line reason: a skip rule matched, the contact has no email
            address, or a value has the wrong type (the reason is then
            ``$.json.path: message (mapping file:line:col)`` of the entry that failed; the
            record is the Skip's ``ref``).
        """
        mapping = self.contact
        if not isinstance(record, dict):
            return _not_an_object(mapping, ref, record)
        notes: list[str] = []
        try:
            lets, columns = self._evaluate_contact(record, notes)
            emails = _contact_emails(mapping, lets, self._emails_at)
            if not emails:
                return Skip(ref, f"no email address: {notes[0]}" if notes else "no email address")
            unwritten = _unwritten(emails, columns)
            if unwritten:
                notes.append(f"{len(emails):,} addresses, {len(emails) - len(unwritten):,} written "
                             f"(the mapping's address columns), {len(unwritten):,} not written: "
                             f"{', '.join(unwritten[:3])}{', ...' if len(unwritten) > 3 else ''}")
            account = nav = address = None
            bind = mapping.bind
            if bind is not None:
                address = _compute(bind, record, lets)
                if address is not None and not isinstance(address, str):
                    raise _Failed(bind.source, f"the address to bind must be a string, got {describe(address)}")
                nav = bind.name[: -len(BIND_SUFFIX)]
                if address:
                    account = self.plugins.account_for_address(address, record)
        except _SkipRecord as skip:
            return Skip(ref, skip.reason)
        except _Failed as failed:
            return Skip(ref, failed.reason())
        return MappedContact(ref, emails, columns, account, nav, address if account is not None else None, tuple(notes))

    # -- accounts -------------------------------------------------------------------------------

    def map_account(self, derived: DerivedAccount) -> MappedAccount:
        """Map the account a plugin derived from a domain (its ``data`` is the input record).

        :raises RecordError: a skip rule matched or a value is of the wrong type; the message
            names the domain and the mapping location. The caller leaves the contacts of that
            domain without an account.
        """
        data = derived.data
        if not isinstance(data, dict):
            raise RecordError(
                f"derived account data is {jmespath_type(data)}, not an object", record_ref=f"account {derived.domain}"
            )
        try:
            _, columns = self._evaluate_account(data, None)
        except _SkipRecord as skip:
            raise RecordError(skip.reason, record_ref=f"account {derived.domain}") from None
        except _Failed as failed:
            raise RecordError(
                f"{failed.location.json_path}: {failed.message}",
                record_ref=f"account {derived.domain}",
                location=failed.location,
            ) from None
        return MappedAccount(domain=derived.domain, columns=columns)

    # -- messages -------------------------------------------------------------------------------

    def map_message(self, record: Any, ref: RecordRef) -> MappedEmail | Skip:
        """Map one Nylas message to an email activity with its parties.

        :returns: a :class:`MappedEmail` (identity from ``let.identity``, direction from
            ``let.outgoing``, ``date`` as an aware UTC datetime, parties in rule order, the
            plugins' regarding answer when ``regarding: true``, ``mailbox`` from
            ``let.mailbox``), or a :class:`Skip` with a one-line reason (see
            :meth:`map_contact`).
        """
        mapping = self.email
        if record.__class__ is not dict and not isinstance(record, dict):
            return _not_an_object(mapping, ref, record)
        try:
            lets, columns = self._evaluate_email(record, None)
            identity = lets[self._identity_at]
            if not identity:
                return Skip(ref, "no message identity (no Message-ID header and no Nylas message id)")
            if identity.__class__ is not str and not isinstance(identity, str):
                entry = mapping.lets[self._identity_at]
                raise _Failed(entry.source, f"let identity must be a string, got {describe(identity)}")
            outgoing = False
            if self._outgoing_at >= 0:
                value = lets[self._outgoing_at]
                # JMESPath truthiness (evaluate.is_false), written out: this runs per message
                outgoing = not (value is None or value is False or value == "" or value == [] or value == {})
            date = None
            if self._date_at >= 0:
                date = lets[self._date_at]
                if date is not None and date.__class__ is not datetime and not isinstance(date, datetime):
                    try:
                        date = parse_instant(date)
                    except ValueError as exc:
                        raise _Failed(mapping.lets[self._date_at].source, str(exc)) from None
            mailbox = None
            if self._mailbox_at >= 0:
                mailbox = lets[self._mailbox_at]
                if mailbox is not None and mailbox.__class__ is not str and not isinstance(mailbox, str):
                    raise _Failed(
                        mapping.lets[self._mailbox_at].source, f"let mailbox must be a string, got {describe(mailbox)}"
                    )
            notes: list[str] = []
            parties = _parties(self._party_rules, record, self._party_cache, notes)
        except _SkipRecord as skip:
            return Skip(ref, skip.reason)
        except _Failed as failed:
            return Skip(ref, failed.reason())
        regarding = None
        if mapping.regarding:
            context = {
                "profile": self._profile,
                "owner_addresses": self._owner_addresses,
                "external_domains": self._external_domains(parties),
                "config": self._config,
                "lookup": self._lookup,
            }
            regarding = self.plugins.regarding_target(record, context)
        # Synced once without headers, a message was written under its Nylas-derived id.
        aliases = ()
        if record.get("headers"):
            nylas_id = record.get("id")
            if isinstance(nylas_id, str):
                alias = synthetic_message_id(record.get("grant_id"), nylas_id)
                if alias and alias != identity:
                    aliases = (alias,)
        replies_to, thread, attachments = self._thread_values(lets, mailbox or "", identity)
        return MappedEmail(ref, identity, columns, parties, outgoing, date, regarding, mailbox or None, aliases,
                           replies_to, thread, attachments, tuple(notes))

    def _thread_values(self, lets: list[Any], mailbox: str,
                       identity: str) -> tuple[tuple[str, ...], str | None, tuple[dict, ...]]:
        """``(replies_to, thread, attachments)`` from the lets that carry them (absent: empty).

        ``replies_to`` holds the Message-IDs this email answers, nearest first: In-Reply-To,
        then References from its end (the newest ancestor), without repeats, never ``identity``
        itself. A provider thread id is only unique within its mailbox, so the thread key
        carries the mailbox.
        """
        reply_at, refs_at, thread_at, att_at = self._thread_at
        reply = lets[reply_at] if reply_at >= 0 else None
        refs = lets[refs_at] if refs_at >= 0 else None
        replies_to: tuple[str, ...] = ()
        if reply is not None or refs is not None:  # an export without headers has neither
            ids: list[str] = []
            if isinstance(reply, str):
                ids.extend(MESSAGE_ID.findall(reply))
            if isinstance(refs, str):
                ids.extend(reversed(MESSAGE_ID.findall(refs)))
            replies_to = tuple(r for r in dict.fromkeys(ids) if r != identity)
        thread = lets[thread_at] if thread_at >= 0 else None
        thread = f"{mailbox}/{thread}" if isinstance(thread, str) and thread else None
        atts = lets[att_at] if att_at >= 0 else None
        attachments = tuple(a for a in atts if isinstance(a, dict)) if isinstance(atts, list) else ()
        return replies_to, thread, attachments

    def _external_domains(self, parties: list[Party]) -> list[str]:
        """Registrable domains of the external participants, in order, once each.

        Not external: the mailbox owners and their colleagues (the owners' registrable
        domains), freemail domains, and addresses without a domain. Each address's answer is
        kept (by address: a party's address is the shared string of the party cache), so a
        party seen before costs one lookup.
        """
        out: list[str] = []
        cache = self._external
        for party in parties:
            registrable = cache.get(party.address, _MISSING)
            if registrable is _MISSING:
                registrable = self._external_domain(party.address)
            if registrable is not None and registrable not in out:
                out.append(registrable)
        return out

    def _external_domain(self, address: str) -> str | None:
        """The registrable domain ``address`` makes external (None: not external), remembered."""
        registrable = None
        if address not in self._owners and "@" in address:
            domain = address.rpartition("@")[2]
            if domain and not self.plugins.is_freemail(domain):
                registrable = self.plugins.registrable_domain(domain) or None
                if registrable in self._internal:
                    registrable = None
        if len(self._external) >= _PARTY_CACHE_MAX:
            self._external.clear()
        self._external[address] = registrable
        return registrable
