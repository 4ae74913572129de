"""The whole plugin contract of mail2dataverse.

A plugin is any module or object with functions decorated ``@mail2dataverse.hookimpl`` whose
names match the hooks below, installed through the entry-point group ``mail2dataverse``::

    [project.entry-points.mail2dataverse]
    my_policy = "my_package.policy"

Policy hooks are ``firstresult``: the first implementation that answers something other than
``None`` wins, and ``None`` means "no opinion, ask the next plugin". Built-in implementations are
all ``trylast``, so any installed plugin is asked before them. Registration hooks
(``register_*``) are called on every plugin; each calls ``register`` once per thing it adds.

Nothing here is imported at run time except pluggy: types are for readers and type checkers.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable

import pluggy

if TYPE_CHECKING:
    from .model import DerivedAccount, RegardingTarget

PROJECT_NAME = "mail2dataverse"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)


# ---------------------------------------------------------------------------------------------
# Configuration
# ---------------------------------------------------------------------------------------------


@hookspec(historic=True)
def configure(config: Any) -> None:
    """Receive the run configuration once, before any other hook is called.

    :param config: the validated :class:`mail2dataverse.config.RunConfig` (profile, mailbox
        owner addresses, extra freemail domains, plugin settings under ``config.plugins``).
    :returns: nothing. Plugins keep what they need from it.

    Called once per run (and for plugins registered later, on registration: the hook is
    historic). Never receives secrets: credentials are not part of the configuration object.
    """


# ---------------------------------------------------------------------------------------------
# Registration: things plugins add to the engine
# ---------------------------------------------------------------------------------------------


@hookspec
def register_transforms(register: Callable[..., None]) -> None:
    """Add named transforms that mapping files can use in ``transforms:`` lists.

    :param register: call ``register(name, function)`` once per transform. ``function(value,
        *args)`` receives the column's current value and the arguments written in the YAML
        (``{truncate: 50}`` passes ``50``) and returns the new value. It must be pure and must
        not raise for ``None`` input (return ``None``). Raise ``ValueError`` to skip the record
        with the error message as the reason.
    :returns: nothing.

    Called once when mappings are compiled; names are checked at load time, so a mapping that
    names an unknown transform fails before any record is read. A name registered twice is a
    :class:`~mail2dataverse.errors.PluginError`.
    """


@hookspec
def register_jmespath_functions(register: Callable[..., None]) -> None:
    """Add custom JMESPath functions that mapping expressions can call.

    :param register: call ``register(name, function, signature)`` once per function, where
        ``signature`` is a list of JMESPath type lists, e.g. ``[["string", "null"]]``.
    :returns: nothing.

    Called once when mappings are compiled. Expressions calling a function that no plugin
    registered fail at load time with the file, line and column of the expression.
    """


@hookspec
def register_sources(register: Callable[..., None]) -> None:
    """Add input formats beyond Nylas CLI JSON / NDJSON (for example mbox archives).

    :param register: call ``register(name, opener, detect)``. ``opener(path, kind, options)``
        returns an iterator of records in Nylas JSON shape (``kind`` is ``"messages"`` or
        ``"contacts"``); ``detect(path)`` returns True when this source should read ``path``
        (used when the user gives a file without ``--format``).
    :returns: nothing.

    Called once per run when inputs are opened.
    """


# ---------------------------------------------------------------------------------------------
# Policy: questions the engine asks per domain / per message
# ---------------------------------------------------------------------------------------------


@hookspec(firstresult=True)
def is_freemail(domain: str) -> bool | None:
    """Decide whether ``domain`` is a consumer or disposable mailbox provider.

    :param domain: the lower-cased domain part of an address, e.g. ``"gmail.com"`` or
        ``"mail.acme.co.uk"``.
    :returns: ``True`` freemail (no account is derived from it), ``False`` definitely a company
        domain (stop asking), ``None`` no opinion (ask the next plugin; if nobody answers, the
        domain is treated as a company domain).

    Stops at the first non-None result. Called once per distinct domain per run.
    """


@hookspec(firstresult=True)
def derive_account(domain: str, contact: dict[str, Any] | None) -> DerivedAccount | bool | None:
    """Say which account a company domain makes.

    :param domain: a lower-cased domain that is not freemail, as it appears in the address
        (``"mail.acme.co.uk"``).
    :param contact: the Nylas contact record the domain came from (``company_name`` is a good
        account name), or ``None`` when the domain came from a message participant.
    :returns: a :class:`~mail2dataverse.model.DerivedAccount` whose ``domain`` is the account's
        identity (two domains answering the same identity share one account) and whose ``data``
        feeds the account mapping; ``False`` for "no account for this domain" (stop asking);
        ``None`` for no opinion.

    Stops at the first non-None result. Called once per distinct domain per run.
    """


@hookspec(firstresult=True)
def regarding_target(message: dict[str, Any], context: dict[str, Any]) -> RegardingTarget | bool | None:
    """Say which opportunity, case or other record an email is "regarding".

    :param message: the Nylas message record.
    :param context: read-only facts about the run: ``profile`` (``"sales"``, ``"service"`` or
        ``"none"``), ``owner_addresses`` (the mailbox owners), ``external_domains`` (the
        registrable domains of the message's non-owner, non-freemail participants, in order of
        appearance), ``config`` (the run configuration) and ``lookup``, the run's read-only
        :class:`~mail2dataverse.lookup.OrgLookup`: ``lookup.contains("opportunity", "name",
        "12345")`` describes "the opportunity whose name contains 12345" (``%``, ``_`` and ``[``
        in the value are taken literally); return that description and the planner finds the
        record with the other messages of the chunk, in one ``$batch`` of GETs, cached for the
        run (``lookup.found(target)`` reads what an earlier chunk found).
    :returns: a :class:`~mail2dataverse.model.RegardingTarget` whose ``by`` is one of ``"id"``,
        ``"column"``, ``"contains"``, ``"startswith"``, ``"endswith"`` or
        ``"account_newest_open"``; ``False`` for "leave this email unlinked" (stop asking);
        ``None`` for no opinion.
    :raises: nothing on purpose; an answer of an unknown form (another ``by``, a missing
        ``column``, an empty ``value``) is a :class:`~mail2dataverse.errors.PluginError` naming
        the plugin and the field, raised by the engine.

    Stops at the first non-None result. Called once per message. The preview shows the answer
    as written; the sync resolves it against the org in bulk and reports targets it cannot find
    (``unlinked`` in the report: a normal outcome, not a failure).
    """
