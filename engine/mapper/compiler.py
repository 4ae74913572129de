"""Compile validated (and merged) mapping documents into :mod:`.model` objects.

Everything that can be wrong with a mapping is found here, before any record is read:
JMESPath syntax (located at the offending character), unknown JMESPath functions and wrong
argument counts (found by walking the parsed tree, because JMESPath itself only notices when
an expression is evaluated), unknown transforms and bad transform arguments, ``use`` of a
``let`` name that does not exist (yet), and the entity rules (contact needs ``let.emails``,
``bind`` only on contacts, ``parties`` only on emails...). Problems are collected, never
raised one by one, so a user fixes a file in one round.
"""

from __future__ import annotations

import dataclasses
import difflib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import jmespath
from jmespath import exceptions as jp_exceptions
from yaml.nodes import ScalarNode

from ..errors import Problem, SourceLocation
from ..yamlio import find_node, json_path, locate
from .closures import compile_expression
from .functions import StrictInterpreter, arity_problem, function_calls
from .model import (
    ENGINE_LETS,
    ENTITY_ONLY_KEYS,
    PARTY_MASKS,
    CompiledMapping,
    CompiledParty,
    CompiledSkipRule,
    CompiledValue,
    Evaluator,
    fuse,
)
from .transforms import TransformArgumentError, TransformSpec

BIND_SUFFIX = "@odata.bind"

#: Limits on one JMESPath expression (docs/reliability.md, "Limits"). jmespath's parser and the
#: closure compiler recurse once per level, so 500 nested parentheses or 3,000 ``[*]`` exhausted
#: Python's recursion limit with a traceback. Real expressions are a few dozen characters and a
#: few levels deep.
MAX_EXPRESSION_CHARS = 1_000
MAX_EXPRESSION_DEPTH = 50


@dataclass(frozen=True)
class MappingDocument:
    """One parsed mapping file: its data, node tree (for line numbers) and text."""

    filename: str
    data: Any
    node: Any
    text: str
    bad_paths: frozenset[str] = frozenset()  # JSON paths with schema problems: not compiled

    def is_bad(self, path: Sequence[Any]) -> bool:
        """True when a schema problem lies at, inside or above ``path`` (skip compiling it)."""
        here = json_path(path)
        return any(bad.startswith((here + ".", here + "[")) for bad in self.bad_paths) or self.is_bad_above(path)

    def is_bad_above(self, path: Sequence[Any]) -> bool:
        """True when a schema problem lies at ``path`` itself or at one of its parents."""
        here = json_path(path)
        return any(bad == here or here.startswith((bad + ".", bad + "[")) for bad in self.bad_paths)

    @property
    def extends(self) -> bool:
        """True when the file merges over the previous mapping (``extends: default``)."""
        return isinstance(self.data, dict) and self.data.get("extends") == "default"


@dataclass(frozen=True)
class Item:
    """A piece of a mapping with its origin: the document and the JSON path inside it."""

    value: Any
    doc: MappingDocument
    path: tuple[Any, ...]

    def location(self, *sub: Any, key: Any = None) -> SourceLocation:
        """Source location of ``path + sub`` (or of mapping key ``key`` there)."""
        full = (*self.path, *sub)
        line, col = locate(self.doc.node, full, key)
        shown = (*full, key) if key is not None else full
        return SourceLocation(self.doc.filename, line, col, json_path(shown))


@dataclass
class MergedMapping:
    """The effective mapping of one entity after applying every layer (defaults, user files)."""

    entity: str
    root: Item
    lets: dict[str, Item] = field(default_factory=dict)
    columns: dict[str, Item] = field(default_factory=dict)
    skip_rules: Item | None = None
    parties: Item | None = None
    regarding: Item | None = None
    docs: list[MappingDocument] = field(default_factory=list)


def merge_layers(entity: str, docs: Sequence[MappingDocument]) -> MergedMapping:
    """Apply mapping documents in order: a file without ``extends`` starts over, one with
    ``extends: default`` merges ``let``/``columns`` by name (null removes) and replaces the
    other sections it gives.
    """
    merged = MergedMapping(entity, Item(docs[-1].data, docs[-1], ()))
    for doc in docs:
        data = doc.data
        if not doc.extends:
            merged = MergedMapping(entity, Item(data, doc, ()))
        merged.root = Item(data, doc, ())
        merged.docs.append(doc)
        for section, target in (("let", merged.lets), ("columns", merged.columns)):
            entries = data.get(section)
            for name, spec in (entries.items() if isinstance(entries, dict) else ()):
                if spec is None:
                    target.pop(name, None)
                else:
                    target[name] = Item(spec, doc, (section, name))
        if "skip_record_when" in data:
            merged.skip_rules = Item(data["skip_record_when"], doc, ("skip_record_when",))
        if "parties" in data:
            merged.parties = Item(data["parties"], doc, ("parties",))
        if "regarding" in data:
            merged.regarding = Item(data["regarding"], doc, ("regarding",))
    return merged


class Compiler:
    """Compiles merged mappings against one transform registry and one JMESPath function table."""

    def __init__(
        self,
        transforms: Mapping[str, TransformSpec],
        signatures: Mapping[str, tuple[dict, ...]],
        interpreter: StrictInterpreter,
    ):
        """
        :param transforms: every transform name a mapping may use.
        :param signatures: every JMESPath function name (built-in, engine, plugin) → signature.
        :param interpreter: the strict interpreter bound to the run's function table.
        """
        self.transforms = transforms
        self.signatures = signatures
        self.interpreter = interpreter
        self.problems: list[Problem] = []

    # -- helpers --------------------------------------------------------------------------------

    def _problem(self, item: Item, sub: Sequence[Any], message: str, key: Any = None) -> None:
        self.problems.append(Problem(item.location(*sub, key=key), message))

    def _problem_at(self, location: SourceLocation, message: str) -> None:
        self.problems.append(Problem(location, message))

    def expression(self, item: Item, sub: Sequence[Any]) -> Evaluator | None:
        """Compile the JMESPath string at ``item.path + sub``; record problems, None on error."""
        full = (*item.path, *sub)
        text = _get(item.doc.data, full)
        too_big = _over_limits(text)
        if too_big is not None:
            self._problem_at(_expression_location(item.doc, full, too_big[0]), too_big[1])
            return None
        try:
            parsed = jmespath.compile(text).parsed
        except jp_exceptions.JMESPathError as exc:
            offset, message = _parse_error(exc, text)
            self._problem_at(_expression_location(item.doc, full, offset), message)
            return None
        except RecursionError:  # a shape the pre-checks did not foresee: still one located line
            self._problem_at(_expression_location(item.doc, full, 0), _TOO_DEEP)
            return None
        if _ast_depth(parsed) > MAX_EXPRESSION_DEPTH:
            self._problem_at(_expression_location(item.doc, full, 0), _TOO_DEEP)
            return None
        ok = True
        for name, count in sorted(set(function_calls(parsed))):
            signature = self.signatures.get(name)
            offset = max(text.find(f"{name}("), 0)
            if signature is None:
                close = difflib.get_close_matches(name, list(self.signatures), n=1)
                hint = f" (did you mean {close[0]}()?)" if close else ""
                self._problem_at(
                    _expression_location(item.doc, full, offset), f"unknown JMESPath function {name}(){hint}"
                )
                ok = False
                continue
            wrong = arity_problem(name, signature, count)
            if wrong:
                self._problem_at(_expression_location(item.doc, full, offset), wrong)
                ok = False
        return compile_expression(parsed, self.interpreter) if ok else None

    def transform_chain(self, item: Item) -> tuple[Any, ...] | None:
        """Resolve the entry's ``transforms`` list to callables; record problems, None on error."""
        chain: list[Any] = []
        ok = True
        for i, entry in enumerate(item.value.get("transforms") or []):
            here = ("transforms", i)
            if item.doc.is_bad((*item.path, *here)):
                ok = False
                continue
            if isinstance(entry, str):
                name, args, key = entry, (), None
            else:
                name, raw = next(iter(entry.items()))
                args = tuple(raw) if isinstance(raw, list) else (raw,)
                key = name
            spec = self.transforms.get(name)
            if spec is None:
                close = difflib.get_close_matches(str(name), list(self.transforms), n=1)
                hint = f" (did you mean {close[0]}?)" if close else ""
                self._problem(item, here, f"unknown transform {name!r}{hint}", key=key)
                ok = False
                continue
            try:
                chain.append(spec.instantiate(args))
            except TransformArgumentError as exc:
                self._problem(item, (*here, name) if key is not None else here, str(exc))
                ok = False
        return tuple(chain) if ok else None

    # -- values ---------------------------------------------------------------------------------

    def value(self, name: str, item: Item, lets: Mapping[str, int], *, what: str) -> CompiledValue | None:
        """Compile a ``let`` entry or a column (``what`` names it in messages)."""
        spec = item.value
        if isinstance(spec, str):  # shorthand: the string is the `from` expression
            expr = self.expression(item, ())
            if expr is None:
                return None
            return fused(name, item.location(), expr=expr, text=spec)
        sources = [k for k in ("from", "use", "value") if k in spec]
        if len(sources) != 1 and item.doc.is_bad(item.path):
            return None  # a misspelt key ("form:") is already reported; "no source" would repeat it
        if len(sources) != 1:
            if sources:
                self._problem(item, (), f"{what} {name!r} has {' and '.join(sources)}; give exactly one source")
            else:
                self._problem(
                    item, (), f"{what} {name!r} needs a source: 'from' (JMESPath), 'use' (a let value) or 'value' (a constant)"
                )
            return None
        expr = when = None
        let_index = -1
        ok = not item.doc.is_bad(item.path)  # compile what is well-formed, but never use it
        if "from" in spec:
            expr = None if item.doc.is_bad((*item.path, "from")) else self.expression(item, ("from",))
            ok = ok and expr is not None
        elif "use" in spec and item.doc.is_bad((*item.path, "use")):
            ok = False
        elif "use" in spec:
            let_index = lets.get(spec["use"], -1)
            if let_index < 0:
                known = ", ".join(lets) or "none"
                scope = "let values defined before this one" if what == "let value" else "let values"
                self._problem(item, ("use",), f"unknown let value {spec['use']!r} ({scope}: {known})")
                ok = False
        if "when" in spec and not item.doc.is_bad((*item.path, "when")):
            when = self.expression(item, ("when",))
            ok = ok and when is not None
        chain = None if item.doc.is_bad_above((*item.path, "transforms")) else self.transform_chain(item)
        if chain is None or not ok:
            return None
        return fused(
            name,
            item.location(),
            expr=expr,
            let_index=let_index,
            constant=spec.get("value"),
            has_constant="value" in spec,
            transforms=chain,
            when=when,
            skip_reason=spec.get("skip_record_if_empty"),
            bind=spec.get("bind"),
            text=spec.get("from", f"use {spec['use']}" if "use" in spec else repr(spec.get("value"))),
        )

    # -- a whole mapping ------------------------------------------------------------------------

    def mapping(self, merged: MergedMapping) -> CompiledMapping | None:
        """Compile one merged mapping; returns None when any problem was recorded for it.

        Entries that have schema problems (see :meth:`MappingDocument.is_bad`) are left out
        and count as problems already reported.
        """
        before = len(self.problems)
        schema_broken = any(d.bad_paths for d in merged.docs)
        entity = merged.entity
        root = merged.root

        for key, only in ENTITY_ONLY_KEYS.items():
            found = getattr(merged, key)
            if found is not None and entity != only:
                self._problem(found, (), f"{key!r} is only allowed in {only} mappings, this is {_a(entity)} {entity} mapping")

        lets: list[CompiledValue] = []
        index: dict[str, int] = {}
        for name, item in merged.lets.items():
            if item.doc.is_bad_above(item.path):
                compiled = None
            else:
                compiled = self.value(name, item, index, what="let value")
            if compiled is not None and compiled.bind is not None:
                self._problem(item, ("bind",), "'bind' is only allowed on columns")
            if compiled is not None:
                index[name] = len(lets)
                lets.append(compiled)
            else:
                index[name] = len(lets)  # keep later `use:` from cascading into more problems
                lets.append(CompiledValue(name, item.location()))

        for name, (required, meaning) in ENGINE_LETS[entity].items():
            if required and name not in merged.lets and not root.doc.is_bad(("let",)):
                has_let = "let" in root.value
                line, col = locate(root.doc.node, (), key="let") if has_let else (1, 1)
                where = SourceLocation(root.doc.filename, line, col, "$.let" if has_let else "$")
                self._problem_at(where, f"{_a(entity)} {entity} mapping needs let value {name!r}: {meaning}")

        skip_rules: list[CompiledSkipRule] = []
        if merged.skip_rules is not None and isinstance(merged.skip_rules.value, list):
            for i, rule in enumerate(merged.skip_rules.value):
                if merged.skip_rules.doc.is_bad((*merged.skip_rules.path, i)):
                    continue
                when = self.expression(merged.skip_rules, (i, "when"))
                if when is not None:
                    skip_rules.append(CompiledSkipRule(when, rule["reason"], merged.skip_rules.location(i)))

        columns: list[CompiledValue] = []
        bind: CompiledValue | None = None
        for name, item in merged.columns.items():
            if item.doc.is_bad_above(item.path):
                continue
            compiled = self.value(name, item, index, what="column")
            if compiled is None:
                continue
            if compiled.bind is not None:
                if entity != "contact":
                    self._problem(item, ("bind",), f"'bind' is only allowed in contact mappings, this is {_a(entity)} {entity} mapping")
                elif not name.endswith(BIND_SUFFIX):
                    # The name is what is wrong: point at the key, not at its value.
                    parent = Item(None, item.doc, item.path[:-1])
                    self._problem(
                        parent, (), f"a column with 'bind' must be named <navigation property>{BIND_SUFFIX}, e.g. "
                        f"parentcustomerid_account{BIND_SUFFIX}", key=item.path[-1],
                    )
                elif bind is not None:
                    self._problem(item, ("bind",), f"only one column can bind the account (already {bind.name!r})")
                else:
                    bind = compiled
                continue
            columns.append(compiled)

        parties: list[CompiledParty] = []
        if merged.parties is not None and entity == "email" and isinstance(merged.parties.value, list):
            for i, rule in enumerate(merged.parties.value):
                if merged.parties.doc.is_bad((*merged.parties.path, i)):
                    continue
                expr = self.expression(merged.parties, (i, "from"))
                if expr is not None:
                    parties.append(CompiledParty(expr, PARTY_MASKS[rule["role"]], merged.parties.location(i)))

        if len(self.problems) > before or schema_broken:
            return None
        return CompiledMapping(
            entity=entity,
            source=SourceLocation(root.doc.filename, 1, 1, "$"),
            files=tuple(d.filename for d in merged.docs),
            lets=tuple(lets),
            skip_rules=tuple(skip_rules),
            columns=tuple(columns),
            bind=bind,
            parties=tuple(parties),
            regarding=merged.regarding is not None and entity == "email" and merged.regarding.value is True,
            special={name: index[name] for name in ENGINE_LETS[entity] if name in index},
        )


def _a(word: str) -> str:
    """The indefinite article for ``word`` ("an email", "a contact")."""
    return "an" if word[:1] in ("a", "e", "i", "o", "u") else "a"


def fused(*args: Any, **kwargs: Any) -> CompiledValue:
    """Build a :class:`CompiledValue` with its fused ``compute`` closure."""
    entry = CompiledValue(*args, **kwargs)
    return dataclasses.replace(entry, compute=fuse(entry))


def _get(data: Any, path: Sequence[Any]) -> Any:
    for part in path:
        data = data[part]
    return data


_TOKEN_NAMES = {
    "quoted_identifier": "a name",
    "unquoted_identifier": "a name",
    "lbracket": "'['",
    "rbracket": "']'",
    "lbrace": "'{'",
    "rbrace": "'}'",
    "lparen": "'('",
    "rparen": "')'",
    "eof": "the end of the expression",
    "comma": "','",
    "colon": "':'",
    "dot": "'.'",
    "star": "'*'",
    "number": "a number",
    "literal": "a literal",
    "current": "'@'",
    "expref": "'&'",
    "pipe": "'|'",
    "filter": "'[?'",
    "flatten": "'[]'",
}


_TOO_DEEP = f"JMESPath expression nests more than {MAX_EXPRESSION_DEPTH} levels deep (limit {MAX_EXPRESSION_DEPTH})"


def _over_limits(text: str) -> tuple[int, str] | None:
    """``(offset, message)`` when an expression is too long or brackets too deep to parse safely.

    The bracket count skips quoted literals (``'('``, ``"a)"``, backtick JSON), so only syntax
    counts; it runs before ``jmespath.compile`` because the parser itself is what recurses.
    """
    if len(text) > MAX_EXPRESSION_CHARS:
        return MAX_EXPRESSION_CHARS, (f"JMESPath expression is {len(text):,} characters long "
                                      f"(limit {MAX_EXPRESSION_CHARS:,})")
    depth, quote, escaped = 0, "", False
    for offset, ch in enumerate(text):
        if quote:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == quote:
                quote = ""
        elif ch in "'\"`":
            quote = ch
        elif ch in "([{":
            depth += 1
            if depth > MAX_EXPRESSION_DEPTH:
                return offset, _TOO_DEEP
        elif ch in ")]}":
            depth -= 1
    return None


def _ast_depth(parsed: dict) -> int:
    """The depth of a parsed JMESPath tree, measured without recursion (a chain of 1,000 ``||``
    is a tree 1,000 deep, which the closure compiler would recurse through)."""
    deepest, stack = 0, [(parsed, 1)]
    while stack:
        node, depth = stack.pop()
        deepest = max(deepest, depth)
        for child in node.get("children", ()):
            if isinstance(child, dict):
                stack.append((child, depth + 1))
    return deepest


def _parse_error(exc: jp_exceptions.JMESPathError, text: str) -> tuple[int, str]:
    """Return ``(character offset, one-line message)`` for a JMESPath compile error."""
    if isinstance(exc, jp_exceptions.EmptyExpressionError):
        return 0, "invalid JMESPath: empty expression"
    if isinstance(exc, jp_exceptions.LexerError):
        pos, detail = exc.lexer_position, exc.message[:1].lower() + exc.message[1:]
    elif isinstance(exc, jp_exceptions.IncompleteExpressionError):
        pos, detail = len(text), "incomplete expression"
    elif isinstance(exc, jp_exceptions.ParseError):
        pos = exc.lex_position
        expecting = re.match(r"Expecting: \[(.*)\], got: (\w+)", exc.msg or "")
        if expecting:
            wanted = list(dict.fromkeys(_TOKEN_NAMES.get(t.strip(" '"), t.strip(" '")) for t in expecting[1].split(",")))
            got = _TOKEN_NAMES.get(expecting[2], repr(exc.token_value))
            detail = f"expected {', '.join(wanted[:-1]) + ' or ' + wanted[-1] if len(wanted) > 1 else wanted[0]}, got {got}"
        elif exc.token_type == "EOF" or exc.token_value in (None, ""):
            detail = "incomplete expression"
        else:
            detail = f"unexpected {exc.token_value!r}"
    else:
        return 0, f"invalid JMESPath: {exc}"
    return pos, f"invalid JMESPath {text!r}: {detail} at character {pos + 1}"


def _expression_location(doc: MappingDocument, path: Sequence[Any], offset: int) -> SourceLocation:
    """Locate character ``offset`` of the expression scalar at ``path`` in the file.

    Exact for one-line plain and quoted scalars and for ``|`` blocks; for other multi-line
    scalars (folded, wrapped flow scalars) the scalar's start.
    """
    node = find_node(doc.node, path)
    where = json_path(path)
    if not isinstance(node, ScalarNode):
        line, col = locate(doc.node, path)
        return SourceLocation(doc.filename, line, col, where)
    start, end = node.start_mark, node.end_mark
    value = node.value
    style = node.style or None  # libyaml reports plain scalars as "", pure Python as None
    if style in (None, "'", '"') and start.line == end.line:
        before = value[:offset]
        raw = offset
        if style == "'":
            raw += before.count("'")  # '' in the file is one ' in the value
        elif style == '"':
            raw += before.count('"') + before.count("\\")
        return SourceLocation(doc.filename, start.line + 1, start.column + 1 + (1 if style else 0) + raw, where)
    if style == "|":
        lines_before = value[:offset].split("\n")
        k = len(lines_before) - 1
        file_lines = doc.text.splitlines()
        value_line = value.split("\n")[k]
        line_no = start.line + 1 + k  # 0-based index of the content line in the file
        if line_no < len(file_lines) and file_lines[line_no].rstrip().endswith(value_line.rstrip()):
            indent = len(file_lines[line_no].rstrip()) - len(value_line.rstrip())
            return SourceLocation(doc.filename, line_no + 1, indent + len(lines_before[-1]) + 1, where)
    return SourceLocation(doc.filename, start.line + 1, start.column + 1, where)
