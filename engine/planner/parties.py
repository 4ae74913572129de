"""An email's activity parties: each address resolved to the record it binds to, once per run.

Addresses are looked up in bulk against the tables of the configured ``party_precedence``
(system users, contacts, accounts, leads), this run's contacts included, and kept in an address
book for the rest of the run; each address's bind (``partyid_<table>@odata.bind``) is built once.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..model import MappedEmail
from ..resolution import NAME_COLUMN
from .context import PARTY_ADDRESS_COLUMN, TABLES, RunContext
from .lookups import Spec

ADDRESS_MAX = 320  # activityparty.addressused


class Parties:
    """The address book of a run and the activity parties of each email built from it."""

    def __init__(self, ctx: RunContext):
        self.ctx = ctx
        # party address (lower) → (table, id) | None, settled by the lookups in the
        # configured precedence
        self.address_book: dict[str, tuple[str, str] | None] = {}
        # address → (bind key, bind value), or () for an unresolved address; filled lazily from
        # address_book, which only ever gains entries for addresses not seen before.
        self._binds: dict[str, tuple[str, str] | tuple[()]] = {}
        # addresses asked about and not settled yet: a chunk asked ahead (.resolving) leaves
        # them to the answer of the chunk before, which is settled first
        self._asking: set[str] = set()

    def specs(self, emails: list[MappedEmail]) -> tuple[list[Spec], Callable[[list[dict[str, dict[str, Any]]]], None]]:
        """The lookups that resolve ``emails``' addresses not known yet, and the function that
        records their answers (one answer per spec, in order)."""
        ctx = self.ctx
        book, asking = self.address_book, self._asking
        addresses = sorted({p.address for e in emails for p in e.parties if p.address not in book and p.address not in asking})
        asking.update(addresses)
        tables = [t for t in ctx.config.party_precedence if t in PARTY_ADDRESS_COLUMN]
        # This run's contacts are bound without a lookup unless a table ranked before
        # "contact" holds the same address (a system user, in the default precedence).
        before_contact = set(tables[: tables.index("contact")]) if "contact" in tables else set(tables)
        specs: list[Spec] = [(t, PARTY_ADDRESS_COLUMN[t], [a for a in addresses if t in before_contact or a not in ctx.run_contacts],
                              (NAME_COLUMN[t],) if t in NAME_COLUMN else ())
                             for t in tables]

        def settle(found: list[dict[str, dict[str, Any]]]) -> None:
            resolve = ctx.resolution.resolve
            for address in addresses:
                hit = None
                name, via = None, "org"
                for t, rows in zip(tables, found):
                    if t == "contact" and address in ctx.run_contacts:
                        hit, via = ("contact", ctx.run_contacts[address]), "this run"
                        break
                    row = rows.get(address)
                    if row is not None:
                        hit = (t, row[TABLES[t][1]])
                        name = row.get(NAME_COLUMN.get(t, ""))
                        break
                self.address_book[address] = hit
                resolve(address, hit, name=name, via=via)
            asking.difference_update(addresses)

        return specs, settle

    def of(self, e: MappedEmail) -> list[dict[str, Any]]:
        """``e``'s ``email_activity_parties``: one per distinct (role, address), the first sender
        only, bound to the record its address resolved to (else ``addressused`` alone)."""
        # Runs once per email: the per-address bind strings are built once per address.
        parties = []
        seen: set[tuple[int, str]] = set()
        binds = self._binds
        has_sender = False
        for party in e.parties:
            address = party.address
            key = (party.mask, address)
            if key in seen:
                continue
            if len(address) > ADDRESS_MAX:
                # Longer than any real address (RFC 5321: 254) and than addressused can hold:
                # the email lands without this party rather than failing whole.
                self.ctx.report.warnings.append(f"{e.ref}: party dropped, address longer than {ADDRESS_MAX} characters")
                continue
            if party.mask == 1:
                # RFC 5322 allows several From mailboxes; an email row has exactly one sender,
                # so the first one is it (the service refuses a second sender party).
                if has_sender:
                    continue
                has_sender = True
            seen.add(key)
            bind = binds.get(address)
            if bind is None:
                hit = self.address_book.get(address)
                bind = binds[address] = (f"partyid_{hit[0]}@odata.bind", f"/{TABLES[hit[0]][0]}({hit[1]})") if hit else ()
            if bind:
                parties.append({"participationtypemask": party.mask, bind[0]: bind[1], "addressused": address})
            else:
                parties.append({"participationtypemask": party.mask, "addressused": address})
        return parties

    def counts(self) -> dict[str, int]:
        """The report's ``addresses``: party addresses per table they resolved to, or unresolved."""
        counts: dict[str, int] = {}
        for hit in self.address_book.values():
            key = hit[0] if hit else "unresolved"
            counts[key] = counts.get(key, 0) + 1
        return dict(sorted(counts.items()))
