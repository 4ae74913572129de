"""The read-only lookup into the org that plugins get, and the forms a regarding answer may take.

A plugin's ``regarding_target`` runs once per message, while the mapper streams; asking the org
a question per message would cost one round trip each. So the lookup a hook receives
(``context["lookup"]``, an :class:`OrgLookup`) does not answer at once: it *describes* a
question as a :class:`~mail2dataverse.model.RegardingTarget` ("the opportunity whose ``name``
contains ``12345``"), the hook returns that description, and the planner collects the questions
of a chunk of messages and asks them together, as GETs inside one ``$batch``. Every answer is
cached for the run, so a number seen in a thousand subjects is asked once, and a hook can read
an answer an earlier chunk already found (:meth:`OrgLookup.found`). Nothing it does can write.

``contains``, ``startswith`` and ``endswith`` are SQL ``LIKE`` underneath: Dataverse treats
``%``, ``_`` and ``[`` in the value as wildcards. A value is always meant literally here, so
those characters are escaped (``[%]``, ``[_]``, ``[[]``) by :func:`like_filter`; a subject with
``50%_off`` then matches only names holding ``50%_off``.
"""

from __future__ import annotations

from typing import Any

from . import odata
from .model import RegardingTarget

__all__ = ["LIKE_FORMS", "REGARDING_FORMS", "OrgLookup", "escape_like", "like_filter", "target_problem"]

#: the ``by`` values a regarding answer may carry (:class:`~mail2dataverse.model.RegardingTarget`)
REGARDING_FORMS = ("id", "column", "contains", "startswith", "endswith", "account_newest_open")
#: the forms answered by a ``LIKE`` query on a string column (one GET per distinct target)
LIKE_FORMS = frozenset({"contains", "startswith", "endswith"})
#: the forms that need ``column``
_COLUMN_FORMS = LIKE_FORMS | {"column"}

_MISSING = object()


def escape_like(value: str) -> str:
    """``value`` with the ``LIKE`` wildcards ``[``, ``%`` and ``_`` made literal.

    ``[`` goes first: escaping it after the others would re-escape their brackets.
    """
    return value.replace("[", "[[]").replace("%", "[%]").replace("_", "[_]")


def like_filter(form: str, column: str, value: str) -> str:
    """``contains(name,'50[%]')``: the ``$filter`` for a ``LIKE`` form, wildcards escaped and
    single quotes doubled (:func:`mail2dataverse.odata.literal`)."""
    if form not in LIKE_FORMS:
        raise ValueError(f"{form!r} is not one of {sorted(LIKE_FORMS)}")
    return f"{form}({column},{odata.literal(escape_like(value))})"


def target_problem(answer: RegardingTarget) -> tuple[str, str] | None:
    """``(field, what is wrong)`` when a plugin's regarding answer cannot be resolved, else None.

    Checked by :meth:`mail2dataverse.pluginmanager.Plugins.regarding_target` so that a typo in
    ``by`` fails the run naming the plugin, instead of leaving every email unlinked.
    """
    if not isinstance(answer.table, str) or not answer.table:
        return "table", f"table {answer.table!r}: expected a table's logical name such as 'opportunity'"
    if answer.by not in REGARDING_FORMS:
        return "by", f"by {answer.by!r}: expected one of {', '.join(REGARDING_FORMS)}"
    if not isinstance(answer.value, str) or not answer.value.strip():
        return "value", f"value {answer.value!r}: expected a non-empty string"
    if answer.by in _COLUMN_FORMS and (not isinstance(answer.column, str) or not answer.column):
        return "column", f"column {answer.column!r}: by={answer.by!r} needs the column to compare"
    if answer.by not in _COLUMN_FORMS and answer.column is not None:
        return "column", f"column {answer.column!r}: by={answer.by!r} takes no column"
    return None


class OrgLookup:
    """The read-only, batched and cached lookup handed to hooks as ``context["lookup"]``.

    Each method returns a :class:`~mail2dataverse.model.RegardingTarget` describing a record;
    return it from ``regarding_target`` and the planner finds the record, in bulk, with the
    other messages of the chunk. The answers stay here for the run (the planner's cache is this
    object), so :meth:`found` tells a hook what an earlier chunk found.
    """

    def __init__(self) -> None:
        self._answers: dict[RegardingTarget, str | None] = {}

    def by_id(self, table: str, record_id: str, *, reason: str = "") -> RegardingTarget:
        """The ``table`` row whose primary key is ``record_id``."""
        return RegardingTarget(table=table, by="id", value=record_id, reason=reason)

    def equals(self, table: str, column: str, value: str, *, reason: str = "") -> RegardingTarget:
        """The ``table`` row whose ``column`` equals ``value`` (compared case-insensitively)."""
        return RegardingTarget(table=table, by="column", column=column, value=value, reason=reason)

    def contains(self, table: str, column: str, value: str, *, reason: str = "") -> RegardingTarget:
        """The ``table`` row whose string ``column`` contains ``value`` (wildcards escaped).

        When several rows match, the oldest (by ``createdon``) is taken and the report warns.
        """
        return RegardingTarget(table=table, by="contains", column=column, value=value, reason=reason)

    def startswith(self, table: str, column: str, value: str, *, reason: str = "") -> RegardingTarget:
        """The ``table`` row whose string ``column`` starts with ``value`` (see :meth:`contains`)."""
        return RegardingTarget(table=table, by="startswith", column=column, value=value, reason=reason)

    def endswith(self, table: str, column: str, value: str, *, reason: str = "") -> RegardingTarget:
        """The ``table`` row whose string ``column`` ends with ``value`` (see :meth:`contains`)."""
        return RegardingTarget(table=table, by="endswith", column=column, value=value, reason=reason)

    def newest_open(self, table: str, domain: str, *, reason: str = "") -> RegardingTarget:
        """The newest open ``table`` row of the account of ``domain`` (a registrable domain)."""
        return RegardingTarget(table=table, by="account_newest_open", value=domain, reason=reason)

    def settled(self, target: RegardingTarget) -> bool:
        """Whether the org was already asked about ``target`` in this run."""
        return target in self._answers

    def found(self, target: RegardingTarget) -> str | None:
        """The id an earlier lookup found for ``target``; None when not found or not asked yet
        (a preview never asks: it has no org)."""
        return self._answers.get(target)

    # -- the planner's side ------------------------------------------------------------------

    def remember(self, target: RegardingTarget, record_id: str | None) -> None:
        """Record the org's answer for ``target`` (called by the planner only)."""
        self._answers[target] = record_id

    def answer(self, target: RegardingTarget, default: Any = _MISSING) -> Any:
        """The cached answer for ``target``; ``default`` (or KeyError) when not asked yet."""
        value = self._answers.get(target, _MISSING)
        if value is _MISSING:
            if default is _MISSING:
                raise KeyError(target)
            return default
        return value
