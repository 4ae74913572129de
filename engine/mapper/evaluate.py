"""One generated Python function per compiled mapping: its lets, skip rules and columns, in order.

A mapping runs ~15 entries per message. Walking them in a loop cost, per entry, the loop's own
checks (does it skip when empty? is it the contacts' address list?), attribute reads and two
or three nested closure calls (entry → source → expression), a third of mapping a message.
:func:`build_evaluator` writes the loop out once per mapping as the source of one function
(the way :mod:`dataclasses` writes ``__init__``): each entry becomes a few straight lines that
call its own expression and transforms, a ``use`` becomes a local variable, a top-level field
(``subject``, ``date``, ``grant_id``) a ``record.get``, and the checks an entry does not need
are not written at all. The semantics are those of the loop it replaces, entry for entry:

* a ``let`` is computed (``when`` guard, then its source, then its transforms) and, when it
  has ``skip_record_if_empty``, a JMESPath-false value skips the record (with the first note
  when the contacts' addresses were all refused);
* a skip rule whose ``when`` is JMESPath-true skips the record with its reason;
* a column that is null or ``""`` is left out (or skips the record, ``skip_record_if_empty``);
  anything but a string, number or boolean fails, located;
* any other exception fails the record at the entry that raised it (:class:`Failed`).

Only names bound in the generated function's namespace appear in its source (no text of the
mapping file is ever pasted into code).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from jmespath import exceptions as jp_exceptions

from ..addresses import parse_addresses
from ..errors import RecordError, SourceLocation
from .functions import describe
from .inline import FALSE_TEST, write_expression, write_transforms
from .model import CompiledMapping, CompiledValue

_SCALAR_TYPES = (str, bool, int, float)
_SCALARS = frozenset(_SCALAR_TYPES)

#: ``evaluate(record, notes) -> (lets, columns)``; ``record`` must be a dict (every caller
#: checks), ``notes`` collects why addresses were refused (contacts) or is None.
Evaluator = Callable[[dict, "list[str] | None"], tuple[list[Any], dict[str, Any]]]


class SkipRecord(Exception):
    """A condition says to skip the record (``reason`` is the user's text)."""

    def __init__(self, reason: str):
        self.reason = reason


class Failed(Exception):
    """Evaluating one entry failed; carries where (mapping location) and why."""

    def __init__(self, location: SourceLocation, message: str):
        self.location = location
        self.message = message

    def reason(self) -> str:
        """``$.json.path: message (mapping file:line:col)``, the record left out.

        The :class:`Skip` carries the record separately, and the run report groups skip
        reasons by the text before the first colon: a reason starting with the record would
        make every malformed record its own group, and the summary line would say which
        record but not why.
        """
        return str(RecordError(f"{self.location.json_path}: {self.message}", location=self.location))


def is_false(value: Any) -> bool:
    """JMESPath truthiness: null, false, ``""``, ``[]`` and ``{}`` are false; 0 is true."""
    return value is None or value is False or value == "" or value == [] or value == {}


def error_text(exc: Exception) -> str:
    """One line saying why an expression, transform or function failed."""
    if isinstance(exc, jp_exceptions.JMESPathTypeError):
        # jmespath's own text embeds the raw value (a newline, a megabyte): quote it, cut
        expected = " or ".join(exc.expected_types) if isinstance(exc.expected_types, list) else exc.expected_types
        return f"{exc.function_name}() expects {expected}, got {describe(exc.current_value)}"
    if isinstance(exc, ValueError) or exc.__class__.__module__.startswith("jmespath"):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"  # a plugin transform or function broke: keep its type


def canonical_list(value: Any, notes: list[str]) -> Any:
    """A contact's ``emails`` let in canonical form: each string read by :func:`parse_addresses`
    (lists split, display names dropped, IDN and trailing dots in one form), in order, once each;
    why a string was refused goes to ``notes``. Values of other types are left for the type
    check (``mapping_set._contact_emails``) to report."""
    if value is None:
        return None
    out: list[Any] = []
    seen: set[str] = set()
    for item in value if isinstance(value, list) else [value]:
        if not isinstance(item, str):
            out.append(item)
            continue
        parsed = parse_addresses(item)
        if parsed.problem:
            notes.append(parsed.problem)
        for address in parsed.addresses:
            if address not in seen:
                seen.add(address)
                out.append(address)
    return out


class _Writer:
    """Collects the generated lines and the namespace their names refer to."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.names: dict[str, Any] = {
            "SkipRecord": SkipRecord, "Failed": Failed, "error_text": error_text, "describe": describe,
            "canonical_list": canonical_list, "SCALARS": _SCALARS, "SCALAR_TYPES": _SCALAR_TYPES,
        }
        self._count = 0

    def bind(self, name: str, value: Any) -> str:
        """Put ``value`` in the namespace under ``name``; returns the name."""
        self.names[name] = value
        return name

    def unique(self, prefix: str, value: Any) -> str:
        """Bind ``value`` under a fresh name starting with ``prefix``; returns the name."""
        self._count += 1
        return self.bind(f"{prefix}_{self._count}", value)

    def temp(self) -> str:
        """A fresh local variable of the generated function."""
        self._count += 1
        return f"x{self._count}"

    def line(self, indent: int, text: str) -> None:
        """Append one line at ``indent`` levels."""
        self.lines.append("    " * indent + text)

    def expression(self, indent: int, target: str, expr: Any, key: str) -> None:
        """Lines assigning a compiled expression of the record to ``target``: written out as
        source (:mod:`.inline`) when it carries its tree, else its closure called."""
        tree = getattr(expr, "jp_tree", None)
        if tree is not None:
            write_expression(self, indent, target, tree[0], tree[1])
        else:
            self.line(indent, f"{target} = {self.bind(f'E{key}', expr)}(record)")

    def value(self, indent: int, target: str, entry: CompiledValue, key: str) -> None:
        """Lines computing ``entry`` into ``target``: ``when`` guard, source, transforms."""
        if entry.when is not None:
            self.expression(indent, "w", entry.when, f"W{key}")
            self.line(indent, f"if {FALSE_TEST.format('w')}:")
            self.line(indent + 1, f"{target} = None")  # JMESPath-false guard: the entry is left out
            self.line(indent, "else:")
            indent += 1
        if entry.expr is not None:
            self.expression(indent, target, entry.expr, key)
        elif entry.let_index >= 0:
            self.line(indent, f"{target} = v{entry.let_index}")
        else:
            self.line(indent, f"{target} = {self.bind(f'C{key}', entry.constant)}")
        write_transforms(self, indent, target, entry.transforms, key)


def build_evaluator(mapping: CompiledMapping, addresses_at: int = -1) -> Evaluator:
    """The generated ``evaluate(record, notes)`` of ``mapping`` (see the module docstring).

    :param addresses_at: the index of the let holding a contact's addresses, put in canonical
        form (:func:`canonical_list`) before anything reads it; -1 for none.
    """
    w = _Writer()
    sources: list[SourceLocation] = []
    w.line(0, "def evaluate(record, notes):")
    w.line(1, "at = 0")
    w.line(1, "try:")
    for k, entry in enumerate(mapping.lets):
        at = len(sources)
        sources.append(entry.source)
        w.line(2, f"at = {at}")
        w.value(2, f"v{k}", entry, f"L{k}")
        if k == addresses_at:
            w.line(2, f"v{k} = canonical_list(v{k}, notes if notes is not None else [])")
        if entry.skip_reason is not None:
            reason = w.bind(f"R{k}", entry.skip_reason)
            w.line(2, f"if {FALSE_TEST.format(f'v{k}')}:")
            w.line(3, "if notes:  # every address was refused: say why")
            w.line(4, f"raise SkipRecord(f'{{{reason}}}: {{notes[0]}}')")
            w.line(3, f"raise SkipRecord({reason})")
    for k, rule in enumerate(mapping.skip_rules):
        at = len(sources)
        sources.append(rule.source)
        w.line(2, f"at = {at}")
        w.expression(2, "w", rule.when, f"S{k}")
        w.line(2, f"if not ({FALSE_TEST.format('w')}):")
        w.line(3, f"raise SkipRecord({w.bind(f'SR{k}', rule.reason)})")
    w.line(2, "columns = {}")
    for k, entry in enumerate(mapping.columns):
        at = len(sources)
        sources.append(entry.source)
        name = w.bind(f"N{k}", entry.name)
        w.line(2, f"at = {at}")
        w.value(2, "value", entry, f"K{k}")
        w.line(2, "if value.__class__ is str and value:  # the usual column: the checks below would pass it")
        w.line(3, f"columns[{name}] = value")
        w.line(2, "elif value is None or value == '':")
        if entry.skip_reason is not None:
            w.line(3, f"raise SkipRecord({w.bind(f'CR{k}', entry.skip_reason)})")
        else:
            w.line(3, "pass  # omitted: an update must never blank a Dataverse column")
        w.line(2, "elif value.__class__ not in SCALARS and not isinstance(value, SCALAR_TYPES):")
        w.line(3, f"raise Failed(SOURCES[at], f'column {{{name}}} needs a string, number or boolean, got "
                  "{describe(value)}')")
        w.line(2, "else:")
        w.line(3, f"columns[{name}] = value")
    w.line(1, "except (SkipRecord, Failed):")
    w.line(2, "raise")
    w.line(1, "except Exception as exc:  # located, one-line reason instead of a traceback")
    w.line(2, "raise Failed(SOURCES[at], error_text(exc)) from None")
    w.line(1, f"return [{', '.join(f'v{k}' for k in range(len(mapping.lets)))}], columns")
    w.bind("SOURCES", tuple(sources))
    namespace = dict(w.names)
    code = compile("\n".join(w.lines) + "\n", f"<mapping {mapping.entity}: {mapping.source.file}>", "exec")
    exec(code, namespace)  # noqa: S102 - our own generated source, names only (see the docstring)
    evaluate = namespace["evaluate"]
    evaluate.source_lines = tuple(w.lines)  # for tests and for reading a traceback
    return evaluate
