"""Which source records a preview plans: ``--limit N``, ``--sample N --seed S``, ``--where EXPR``.

The selection applies to the input behind the table being looked at: the messages (``--only
emails``, and the default), or the contacts (``--only contacts`` / ``--only accounts``). The
other input is read whole, so the selected records are planned exactly as in a full sync: an
email's parties still bind to every contact of the run.

It streams: ``--limit`` stops reading after N records, ``--where`` tests each record as it
passes, and ``--sample`` keeps a reservoir of N (Algorithm R, seeded, so the same seed picks
the same records) and yields them in input order once the input is read. Nothing else is held.
A record that is not a JSON object stops the preview with a :class:`SourceError`, as the
sync's validating pre-pass would (the preview reads its input once and validates as it goes).
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from itertools import islice
from typing import Any

from ..errors import ConfigError, SourceError
from ..model import RecordRef


@dataclass
class Selection:
    """What to plan and show: ``only`` a table, and a limit, sample or filter of its input."""

    only: str | None = None  # "contacts" | "accounts" | "emails"
    limit: int | None = None
    sample: int | None = None
    seed: int = 0
    where: str | None = None
    #: with --from-nylas the export itself is limited (the newest N); not again here
    limit_applied_by_source: bool = False

    @property
    def kind(self) -> str:
        """The input the selection applies to: ``messages`` or ``contacts``."""
        return "contacts" if self.only in ("contacts", "accounts") else "messages"

    @property
    def shown(self) -> set[str]:
        """The sections written out in full."""
        if self.only is None:
            return {"account", "contact", "email"}
        return {self.only.rstrip("s")}

    def describe(self) -> dict[str, Any]:
        """The selection as the summary states it (only what was asked)."""
        out: dict[str, Any] = {}
        for name in ("only", "limit", "sample", "where"):
            if getattr(self, name) is not None:
                out[name] = getattr(self, name)
        if self.sample is not None:
            out["seed"] = self.seed
        if out:
            out["applies_to"] = self.kind
        return out


def where_filter(expression: str, plugins: Any) -> Any:
    """Compile ``--where`` with the engine's JMESPath functions (``lower``, ``header``...)."""
    import jmespath
    from jmespath.exceptions import JMESPathError

    from ..mapper.functions import build_function_table, engine_functions

    options = jmespath.Options(custom_functions=build_function_table(engine_functions(plugins)))
    try:
        compiled = jmespath.compile(expression)
    except JMESPathError as exc:
        raise ConfigError(f"--where {expression!r}: {exc}") from None

    def test(record: Any) -> bool:
        try:
            value = compiled.search(record, options=options)
        except JMESPathError as exc:
            raise ConfigError(f"--where {expression!r}: {exc}") from None
        return value not in (None, False, "", [], {})

    return test


class Counted:
    """An input stream that checks each record is an object and counts what passes.

    ``whole`` tells whether the input was read to its end (and so checked to its end): a
    ``--limit`` stops reading after N records, leaving the rest unread, damaged or not.
    """

    def __init__(self, records: Iterable[tuple[RecordRef, Any]], name: str):
        self._records = records
        self.name = name
        self.read = 0
        self.whole = False

    def __iter__(self) -> Iterator[tuple[RecordRef, Any]]:
        for ref, record in self._records:
            self.read += 1
            if not isinstance(record, dict):
                raise SourceError(f"{ref.source}: record {ref.index + 1} is not an object "
                                  "(a Nylas export is an array of message or contact objects)")
            yield ref, record
        self.whole = True


def apply(selection: Selection, records: Iterable[tuple[RecordRef, Any]], plugins: Any) -> Iterator[tuple[RecordRef, Any]]:
    """The records of ``records`` that ``selection`` picks, in input order."""
    stream: Iterable[tuple[RecordRef, Any]] = records
    if selection.where:
        test = where_filter(selection.where, plugins)
        stream = (pair for pair in stream if test(pair[1]))
    if selection.limit is not None and not selection.limit_applied_by_source:
        stream = islice(stream, max(0, selection.limit))
    if selection.sample is not None:
        return _sample(stream, selection.sample, selection.seed)
    return iter(stream)


def _sample(stream: Iterable[tuple[RecordRef, Any]], n: int, seed: int) -> Iterator[tuple[RecordRef, Any]]:
    rng = random.Random(seed)
    kept: list[tuple[int, tuple[RecordRef, Any]]] = []
    for i, pair in enumerate(stream):
        if len(kept) < n:
            kept.append((i, pair))
        else:
            j = rng.randrange(i + 1)
            if j < n:
                kept[j] = (i, pair)
    kept.sort(key=lambda item: item[0])
    for _, pair in kept:
        yield pair
