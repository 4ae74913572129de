"""Built-in plugin ``regarding``: which opportunity or case is an email about?

The rule depends on the run's profile (``context["profile"]``):

``service``
    The case whose ticket number appears in the subject: the first match of
    ``case_number_pattern`` (default ``CAS-\\d{5}-[A-Z0-9]{6}``, e.g. ``CAS-01234-A1B2C3``) →
    ``incident`` where ``ticketnumber`` equals it. No match → False (leave unlinked).
``sales``
    The first external domain (``context["external_domains"]``, in order of appearance) that
    ``opportunity_domains`` maps: a GUID value → that ``opportunity`` by id, any other value →
    the ``opportunity`` with that ``name``. When none is mapped: the newest open opportunity
    of the first external party's account (by its registrable domain). No external party
    (internal mail, freemail only) → False.
``none`` (or anything else)
    False: emails are not linked.

The answer is an intention; the preview shows it and the sync resolves it against the org.
The implementation is ``trylast``, so a plugin answering first replaces the rule; one that
returns None for some messages lets this rule decide those.
"""

from __future__ import annotations

import functools
import re
import uuid
from typing import Any

from ..addresses import registrable_domain
from ..config import RunConfig
from ..hookspecs import hookimpl
from ..model import RegardingTarget

__all__ = ["regarding_target"]

_GUID = re.compile(r"^\{?[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\}?$")


@functools.lru_cache(maxsize=32)
def _pattern(text: str) -> re.Pattern[str]:
    # Compiled once per distinct pattern, not once per message. Case-insensitive: people type
    # "re: cas-01234-a1b2c3" too, and Dataverse compares ticket numbers case-insensitively.
    return re.compile(text, re.IGNORECASE)


def _as_guid(value: str) -> str | None:
    if not _GUID.match(value.strip()):
        return None
    return str(uuid.UUID(value.strip().strip("{}")))


def _case(message: dict[str, Any], config: RunConfig) -> RegardingTarget | bool:
    subject = message.get("subject")
    if not isinstance(subject, str):
        return False
    match = _pattern(config.case_number_pattern).search(subject)
    if match is None:
        return False
    number = match.group(0).upper()  # the form Dynamics gives ticket numbers
    return RegardingTarget(
        table="incident",
        by="column",
        column="ticketnumber",
        value=number,
        reason=f"case number {number} in the subject",
    )


def _opportunity(context: dict[str, Any], config: RunConfig) -> RegardingTarget | bool:
    domains = [d for d in context.get("external_domains") or () if isinstance(d, str) and d]
    if not domains:
        return False
    mapped = config.opportunity_domains
    for d in domains:
        # external_domains are registrable already; look the domain up as given and as its
        # registrable domain so a plugin passing hosts (mail.acme.com) still matches.
        key = d.lower() if d.lower() in mapped else registrable_domain(d)
        value = mapped.get(key)
        if not isinstance(value, str) or not value.strip():
            continue
        guid = _as_guid(value)
        if guid is not None:
            return RegardingTarget(
                table="opportunity", by="id", value=guid, reason=f"opportunity_domains maps {key} to this id"
            )
        return RegardingTarget(
            table="opportunity",
            by="column",
            column="name",
            value=value.strip(),
            reason=f"opportunity_domains maps {key} to this name",
        )
    base = registrable_domain(domains[0])
    return RegardingTarget(
        table="opportunity",
        by="account_newest_open",
        value=base,
        reason=f"newest open opportunity of the account for {base}, the first external party",
    )


@hookimpl(trylast=True)
def regarding_target(message: dict[str, Any], context: dict[str, Any]) -> RegardingTarget | bool:
    """Apply the default rule of the module docstring: case number in the subject (service),
    mapped domain or newest open opportunity (sales), nothing (none)."""
    config = context.get("config")
    if not isinstance(config, RunConfig):
        config = RunConfig()
    profile = context.get("profile") or config.profile
    if profile == "service":
        return _case(message, config)
    if profile == "sales":
        return _opportunity(context, config)
    return False
