"""The application user's privileges, from the org's own answer, against what a sync does.

The org is asked with the documented bound function
``GET systemusers(<UserId>)/Microsoft.Dynamics.CRM.RetrieveUserPrivileges()``: every privilege the
user holds through its security roles and its teams' roles, as ``RolePrivilege`` rows
(``PrivilegeName``, ``Depth`` Basic/Local/Deep/Global, ``PrivilegeId``, ``BusinessUnitId``).

Names follow Dataverse's ``prv<Access><Entity>`` scheme. Activities share one privilege set:
an email and its activity parties are created, read and written under ``prvCreateActivity``,
``prvReadActivity``, ... (Microsoft's "ActivityPointer (activity) entity privileges"); there are
no separate email or activityparty privileges. System users are ``prvReadUser``.

Depth matters for reads: a sync looks existing contacts, accounts, users and emails up before
creating, and with a Basic or Local read privilege it cannot see rows owned elsewhere, so it
would create duplicates of them. Reads, writes and append-to are therefore wanted at
Organization (Global) depth; create and append work at any depth.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

DEPTHS = ("Basic", "Local", "Deep", "Global")
#: prvOverrideCreatedOnCreatedBy: needed to set overriddencreatedon (an email's original date)
OVERRIDE_CREATED_ON = "prvOverrideCreatedOnCreatedBy"


@dataclass(frozen=True)
class Need:
    """One privilege a sync needs: on which table(s), for what, and how deep."""

    check: str
    tables: str
    privilege: str
    why: str
    global_depth: bool


def _table(check: str, tables: str, entity: str, why: str, accesses: tuple[str, ...]) -> list[Need]:
    deep = {"Read", "Write", "AppendTo"}
    return [Need(check, tables, f"prv{a}{entity}", why, a in deep) for a in accesses]


def required(profile: str, party_tables: tuple[str, ...] = ("systemuser", "contact", "account", "lead")) -> list[Need]:
    """The privileges a sync with ``profile`` (sales, service, none) needs, grouped by check id."""
    full = ("Create", "Read", "Write", "Append", "AppendTo")
    needs = (_table("privileges.contact", "contact", "Contact", "contacts are looked up, created and updated", full)
             + _table("privileges.account", "account", "Account", "accounts are looked up, created and linked to", full)
             + _table("privileges.email", "email, activityparty", "Activity",
                      "emails and their activity parties are looked up, created and completed", full)
             + _table("privileges.systemuser", "systemuser", "User", "party addresses are matched to users", ("Read",)))
    if "lead" in party_tables:
        needs += _table("privileges.lead", "lead", "Lead", "party addresses are matched to leads", ("Read", "AppendTo"))
    if profile == "sales":
        needs += _table("privileges.opportunity", "opportunity", "Opportunity",
                        "emails are linked to opportunities (regarding)", ("Read", "AppendTo"))
    if profile == "service":
        needs += _table("privileges.incident", "incident", "Incident", "emails are linked to cases (regarding)",
                        ("Read", "AppendTo"))
    return needs


def _depth(value: Any) -> int:
    """``Depth`` as the Web API writes it (the enum's name, or its number) → 0..3; -1 unknown."""
    if isinstance(value, int) and 0 <= value < len(DEPTHS):
        return value
    if isinstance(value, str) and value in DEPTHS:
        return DEPTHS.index(value)
    return -1


def parse(body: Any) -> dict[str, int]:
    """``RetrieveUserPrivilegesResponse`` → privilege name → deepest depth held (0..3)."""
    held: dict[str, int] = {}
    for row in (body or {}).get("RolePrivileges", []) or []:
        name = row.get("PrivilegeName")
        if name:
            held[name] = max(held.get(name, -1), _depth(row.get("Depth")))
    return held


def read(send: Any, user_id: str) -> tuple[dict[str, int] | None, str]:
    """The user's privileges, or None and why not. ``send`` is ``path → Result``.

    Also the place another check (e.g. the sync's ``overriddencreatedon`` decision) asks.
    """
    res = send(f"systemusers({user_id})/Microsoft.Dynamics.CRM.RetrieveUserPrivileges()")
    if not res.ok:
        return None, f"RetrieveUserPrivileges answered HTTP {res.status} {res.error_code or ''} {res.error_message or ''}".strip()
    return parse(res.body), ""


def evaluate(needs: list[Need], held: dict[str, int]) -> tuple[list[str], list[str]]:
    """``(missing, shallow)``: privileges not held at all, and held below Global where it matters."""
    missing = [n.privilege for n in needs if n.privilege not in held]
    shallow = [f"{n.privilege} ({DEPTHS[held[n.privilege]] if held[n.privilege] >= 0 else '?'})"
               for n in needs if n.privilege in held and n.global_depth and held[n.privilege] < DEPTHS.index("Global")]
    return missing, shallow
