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
    return _case_target(match.group(0).upper())  # the form Dynamics gives ticket numbers


# The answers below are immutable and recur (one case, one domain, many emails): each distinct
# one is built once, which also lets the engine check and sign it once (pluginmanager).
@functools.lru_cache(maxsize=4096)
def _case_target(number: str) -> RegardingTarget:
    return RegardingTarget(table="incident", by="column", column="ticketnumber", value=number,
                           reason=f"case number {number} in the subject")


@functools.lru_cache(maxsize=4096)
def _mapped_target(key: str, value: str) -> RegardingTarget:
    guid = _as_guid(value)
    if guid is not None:
        return RegardingTarget(table="opportunity", by="id", value=guid,
                               reason=f"opportunity_domains maps {key} to this id")
    return RegardingTarget(table="opportunity", by="column", column="name", value=value.strip(),
                           reason=f"opportunity_domains maps {key} to this name")


@functools.lru_cache(maxsize=4096)
def _newest_open_target(domain: str) -> RegardingTarget:
    base = registrable_domain(domain)
    return RegardingTarget(table="opportunity", by="account_newest_open", value=base,
                           reason=f"newest open opportunity of the account for {base}, the first external party")


def _opportunity(context: dict[str, Any], config: RunConfig) -> RegardingTarget | bool:
    mapped = config.opportunity_domains
    first = None
    for d in context.get("external_domains") or ():
        if not isinstance(d, str) or not d:
            continue
        if first is None:
            first = d
            if not mapped:
                break
        # external_domains are registrable already; look the domain up as given and as its
        # registrable domain so a plugin passing hosts (mail.acme.com) still matches.
        key = d.lower() if d.lower() in mapped else registrable_domain(d)
        value = mapped.get(key)
        if isinstance(value, str) and value.strip():
            return _mapped_target(key, value)
    return False if first is None else _newest_open_target(first)


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
