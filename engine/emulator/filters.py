"""OData ``$filter``: a small recursive-descent parser over the subset Dataverse clients use.

It is strict where the service is: unknown properties, unterminated literals, type mismatches
and single-quoted ``In`` values with an embedded apostrophe all raise the service's 400
messages. String comparisons are case-insensitive, like the SQL collation behind Dataverse.

A filter compiles to a predicate ``pred(get) -> bool`` where ``get(name)`` returns a row's
value for a property; the caller decides what a property is (a table column, a lookup
``_x_value``, or a metadata field) through a ``resolve(name) -> type`` callback.

A predicate also says which rows it can match at most, when an index can tell: ``pred.index`` is
a list of ``(name, keys)`` alternatives — every matching row has, for one of them, the
casefolded value of property ``name`` in ``keys`` — or None when the filter gives no such bound
(``ne``, ``not``, ``contains``, an ``or`` with an unbounded side). ``eq`` and ``In(...)`` give
one; ``and`` keeps its narrower side's, ``or`` joins both sides'. The store answers them from
its column indexes instead of scanning the table; the predicate still decides.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, Callable

from . import errors
from .keys import IDENT, read_string
from .schema import EDM_TYPES
from .values import normalize_datetime

_GUID_PREFIX = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_DATE_PREFIX = re.compile(r"\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})?)?")
_NUM_PREFIX = re.compile(r"-?\d+(\.\d+)?([eE][+-]?\d+)?[mMdDlLfF]?")

Resolver = Callable[[str], str]


def like_pattern(function: str, value: str) -> re.Pattern[str]:
    """The regular expression of ``contains``/``startswith``/``endswith(col, value)``.

    The service runs these as SQL ``LIKE`` (``'%value%'``, ``'value%'``, ``'%value'``), so
    ``%`` (any run), ``_`` (one character) and ``[...]`` / ``[^...]`` (a character class) in
    ``value`` are wildcards, and ``[%]``, ``[_]``, ``[[]`` match those characters literally.
    Case-insensitive like the collation: the pattern is matched against casefolded values.
    """
    out, i, text = [], 0, value.casefold()
    while i < len(text):
        ch = text[i]
        if ch == "%":
            out.append(".*")
        elif ch == "_":
            out.append(".")
        elif ch == "[" and text.find("]", i + 2) != -1:
            end = text.find("]", i + 2)  # "[]]" holds a literal "]": the class is never empty
            body = text[i + 1 : end]
            negate = body.startswith("^") and len(body) > 1
            chars = body[1:] if negate else body
            out.append("[" + ("^" if negate else "") + "".join(re.escape(c) for c in chars) + "]")
            i = end
        else:
            out.append(re.escape(ch))
        i += 1
    core = "".join(out)
    lead = "" if function == "startswith" else ".*"
    trail = "" if function == "endswith" else ".*"
    return re.compile(f"{lead}{core}{trail}", re.DOTALL)

# ``In(PropertyName='x')`` names an *attribute* (a lookup by its logical name, not ``_x_value``);
# the resolver and the row getter receive such names with this prefix so they can tell them apart.
ATTR_PREFIX = "\x00attr:"


@dataclass
class Lit:
    """A literal operand and its Edm-ish kind (string, number, bool, null, guid, datetime)."""

    value: Any
    kind: str


@dataclass
class Prop:
    """A property operand: name as written and the column type from the resolver."""

    name: str
    type: str


_CMP = {"eq", "ne", "gt", "ge", "lt", "le"}
_STRING_TYPES = {"string", "memo", "entityname"}
_NUMBER_TYPES = {"int", "bigint", "picklist", "state", "status", "decimal", "money", "double"}


def _norm(value: Any) -> Any:
    """Case-insensitive comparison key (strings casefolded, others unchanged)."""
    return value.casefold() if isinstance(value, str) else value


def _hinted(pred: Callable, index) -> Callable:
    """``pred`` carrying its index bound (see the module docstring)."""
    pred.index = index
    return pred


def hint_of(pred: Callable):
    """The index bound of a compiled predicate (None: every row must be examined)."""
    return getattr(pred, "index", None)


def _and_hint(a, b):
    if a is None or b is None:
        return a if b is None else b
    return a if sum(len(k) for _, k in a) <= sum(len(k) for _, k in b) else b


def _or_hint(a, b):
    return None if a is None or b is None else a + b


class _FilterParser:
    def __init__(self, text: str, resolve: Resolver, aliases: dict[str, str], logical: str):
        self.text = text
        self.resolve = resolve
        self.aliases = aliases
        self.logical = logical
        self.pos = 0

    # -- lexing helpers --
    def ws(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos] in " \t\r\n":
            self.pos += 1

    def peek_word(self) -> str | None:
        self.ws()
        m = IDENT.match(self.text, self.pos)
        return m.group(0) if m else None

    def error(self, pos: int | None = None) -> errors.ODataError:
        return errors.bad_request(f"Syntax error at position {self.pos if pos is None else pos} in '{self.text}'.")

    def expect(self, ch: str) -> None:
        self.ws()
        if not self.text.startswith(ch, self.pos):
            raise self.error()
        self.pos += len(ch)

    # -- grammar --
    def prescan(self) -> None:
        """Lex string literals first, as the OData lexer does, so an unterminated literal is
        reported as such (at the end of the text) before any syntax error."""
        i, text = 0, self.text
        while True:
            m = _LITERAL_START.search(text, i)
            if m is None:
                return
            if m.group() == "'":
                _, i = read_string(text, m.start())
            else:
                i = _scan_array(text, m.start())

    def parse(self) -> Callable:
        self.prescan()
        node = self.or_expr()
        self.ws()
        if self.pos != len(self.text):
            raise self.error()
        return node

    def or_expr(self):
        left = self.and_expr()
        while self.peek_word() == "or":
            self.pos += 2
            right = self.and_expr()
            left = _hinted((lambda a, b: lambda get: a(get) or b(get))(left, right),
                           _or_hint(hint_of(left), hint_of(right)))
        return left

    def and_expr(self):
        left = self.not_expr()
        while self.peek_word() == "and":
            self.pos += 3
            right = self.not_expr()
            left = _hinted((lambda a, b: lambda get: a(get) and b(get))(left, right),
                           _and_hint(hint_of(left), hint_of(right)))
        return left

    def not_expr(self):
        if self.peek_word() == "not":
            save = self.pos
            self.pos += 3
            self.ws()
            if self.pos < len(self.text) and (self.text[self.pos] in "( " or self.text[self.pos - 1] == " "):
                inner = self.not_expr()
                return lambda get: not inner(get)
            self.pos = save
        return self.comparison()

    def comparison(self):
        self.ws()
        if self.text.startswith("(", self.pos):
            self.pos += 1
            node = self.or_expr()
            self.expect(")")
            return node
        left = self.operand(allow_function=True)
        if callable(left):
            return left
        op = self.peek_word()
        if op not in _CMP:
            raise self.error()
        self.pos += len(op)
        right = self.operand(allow_function=False)
        return self.compile_cmp(left, op, right)

    def operand(self, allow_function: bool):
        self.ws()
        text, pos = self.text, self.pos
        if pos >= len(text):
            raise self.error()
        ch = text[pos]
        if ch == "'":
            value, self.pos = read_string(text, pos)
            return Lit(value, "string")
        if ch == "@":
            m = IDENT.match(text, pos)
            name = m.group(0)
            if name not in self.aliases:
                raise errors.bad_request(f"The parameter alias '{name}' was not found in the request.")
            self.pos = m.end()
            return self.alias_literal(name)
        # Identifiers cannot contain '-', so text shaped like a GUID is a GUID literal.
        m = _GUID_PREFIX.match(text, pos)
        if m:
            self.pos = m.end()
            return Lit(m.group(0).lower(), "guid")
        m = _DATE_PREFIX.match(text, pos)
        if m and "-" in m.group(0):
            self.pos = m.end()
            return Lit(m.group(0), "datetime")
        m = _NUM_PREFIX.match(text, pos)
        if m:
            self.pos = m.end()
            raw = m.group(0).rstrip("mMdDlLfF")
            return Lit(float(raw) if ("." in raw or "e" in raw.lower()) else int(raw), "number")
        m = IDENT.match(text, pos)
        if not m:
            raise self.error()
        word = m.group(0)
        self.pos = m.end()
        if word in ("true", "false"):
            return Lit(word == "true", "bool")
        if word == "null":
            return Lit(None, "null")
        self.ws()
        if self.text.startswith("(", self.pos):
            if not allow_function:
                raise self.error()
            return self.function(word)
        return Prop(word, self.resolve(word))

    def alias_literal(self, name: str) -> Lit:
        sub = _FilterParser(self.aliases[name], self.resolve, {}, self.logical)
        lit = sub.operand(allow_function=False)
        if not isinstance(lit, Lit):
            raise self.error()
        return lit

    def function(self, name: str):
        self.expect("(")
        if name in ("contains", "startswith", "endswith"):
            prop = self.operand(allow_function=False)
            self.expect(",")
            lit = self.operand(allow_function=False)
            self.expect(")")
            if not isinstance(prop, Prop) or not isinstance(lit, Lit):
                raise self.error()
            if prop.type not in _STRING_TYPES or lit.kind != "string":
                raise errors.bad_request(
                    f"No function signature for the function with name '{name}' matches the specified arguments. "
                    "The function signatures considered are: "
                    f"{name}(Edm.String Nullable=true, Edm.String Nullable=true)."
                )
            test = like_pattern(name, lit.value).fullmatch
            pname = prop.name
            return lambda get: (lambda v: v is not None and test(str(v).casefold()))(get(pname))
        if name in ("Microsoft.Dynamics.CRM.In", "Microsoft.Dynamics.CRM.NotIn"):
            return self.in_function(name.endswith("NotIn"))
        raise errors.bad_request(f"An unknown function with name '{name}' was found. "
                                 "This may also be a function import or a key lookup on a navigation property, "
                                 "which is not allowed.")

    def in_function(self, negate: bool):
        params: dict[str, Any] = {}
        while True:
            self.ws()
            m = IDENT.match(self.text, self.pos)
            if not m:
                raise self.error()
            pname = m.group(0)
            self.pos = m.end()
            self.expect("=")
            self.ws()
            if pname == "PropertyValues":
                if self.text.startswith("@", self.pos):
                    m2 = IDENT.match(self.text, self.pos)
                    self.pos = m2.end()
                    if m2.group(0) not in self.aliases:
                        raise errors.bad_request(f"The parameter alias '{m2.group(0)}' was not found in the request.")
                    params[pname] = parse_json_array(self.aliases[m2.group(0)])
                else:
                    start = self.pos
                    end = _scan_array(self.text, start)
                    params[pname] = parse_json_array(self.text[start:end])
                    self.pos = end
            else:
                lit = self.operand(allow_function=False)
                if not isinstance(lit, Lit):
                    raise self.error()
                params[pname] = lit.value
            self.ws()
            if self.text.startswith(",", self.pos):
                self.pos += 1
                continue
            self.expect(")")
            break
        if set(params) != {"PropertyName", "PropertyValues"}:
            raise errors.bad_request("The parameters 'PropertyName' and 'PropertyValues' are required for "
                                     "Microsoft.Dynamics.CRM.In.")
        prop_name = params["PropertyName"]
        if not isinstance(prop_name, str):
            raise self.error()
        ptype = self.resolve(ATTR_PREFIX + prop_name)  # attribute logical names, lookups included
        values = params["PropertyValues"]
        if ptype in ("lookup", "uniqueidentifier"):
            wanted = {str(v).lower() for v in values}
        else:
            wanted = {_norm(str(v)) if not isinstance(v, bool) else v for v in values}

        def pred(get, _name=ATTR_PREFIX + prop_name):
            v = get(_name)
            if v is None:
                return negate
            key = str(v).lower() if ptype in ("lookup", "uniqueidentifier") else _norm(str(v))
            return (key in wanted) != negate

        index = None
        if not negate and all(isinstance(k, str) for k in wanted):
            index = [(ATTR_PREFIX + prop_name, frozenset(wanted))]
        return _hinted(pred, index)

    def compile_cmp(self, left, op: str, right):
        if isinstance(left, Lit) and isinstance(right, Prop):
            left, right = right, left
            op = {"gt": "lt", "lt": "gt", "ge": "le", "le": "ge"}.get(op, op)
        if not isinstance(left, Prop):
            raise self.error()
        if isinstance(right, Prop):
            a, b = left.name, right.name
            return lambda get: _compare(get(a), op, get(b))
        self.check_types(left, op, right)
        value = right.value
        if right.kind == "datetime":
            value = normalize_datetime_literal(value)
            if left.type == "date":  # an Edm.Date column holds yyyy-MM-dd
                value = value[:10]
        name = left.name
        index = [(name, frozenset((_norm(value),)))] if op == "eq" and isinstance(value, str) else None
        return _hinted(lambda get: _compare(get(name), op, value), index)

    def check_types(self, prop: Prop, op: str, lit: Lit) -> None:
        if lit.kind == "null":
            return
        ptype = prop.type
        ok = (
            (ptype in _STRING_TYPES and lit.kind == "string")
            or (ptype in _NUMBER_TYPES and lit.kind == "number")
            or (ptype == "bool" and lit.kind == "bool")
            or (ptype in ("lookup", "uniqueidentifier") and lit.kind == "guid")
            or (ptype in ("datetime", "date") and lit.kind == "datetime")
            or (ptype == "meta" )
        )
        if not ok:
            kinds = {"string": "Edm.String", "number": "Edm.Int32", "bool": "Edm.Boolean", "guid": "Edm.Guid",
                     "datetime": "Edm.DateTimeOffset"}
            opname = {"eq": "Equal", "ne": "NotEqual", "gt": "GreaterThan", "ge": "GreaterThanOrEqual",
                      "lt": "LessThan", "le": "LessThanOrEqual"}[op]
            raise errors.bad_request(
                "A binary operator with incompatible types was detected. Found operand types "
                f"'{EDM_TYPES.get(ptype, 'Edm.String')}' and '{kinds[lit.kind]}' for operator kind '{opname}'."
            )


def _compare(a: Any, op: str, b: Any) -> bool:
    if b is None:
        return (a is None) if op == "eq" else (a is not None) if op == "ne" else False
    if a is None:
        return False  # SQL semantics: NULL matches no comparison, not even ne
    a, b = _norm(a), _norm(b)
    try:
        if op == "eq":
            return a == b
        if op == "ne":
            return a != b
        if op == "gt":
            return a > b
        if op == "ge":
            return a >= b
        if op == "lt":
            return a < b
        return a <= b
    except TypeError:
        return False


def normalize_datetime_literal(value: str) -> str:
    """Bring a filter date/datetime literal to the stored ``YYYY-MM-DDTHH:MM:SSZ`` form."""
    try:
        return normalize_datetime(value if "T" in value else value + "T00:00:00Z")
    except ValueError:
        raise errors.bad_request(f"The DateTimeOffset text '{value}' should be in format "
                                 "'yyyy-mm-ddThh:mm:ss('.'s+)?(zzzzzz)?' and each field value is within valid range.")


# A whole "[...]" after its "[": runs of other characters and complete JSON strings (a
# backslash escapes the next character), then "]". Possessive, so a failure is linear.
_ARRAY_REST = re.compile(r'(?:[^"\]]++|"(?:[^"\\]++|\\[\s\S])*+")*+\]')
_LITERAL_START = re.compile(r"['\[]")  # what prescan stops at


def _scan_array(text: str, start: int) -> int:
    """Return the index just past the ``[...]`` starting at ``start`` (strings may hold brackets).

    Only JSON (double-quoted) strings count: a single quote inside ``[...]`` is left to the
    JSON check. One pattern match: ``In(...)`` lists run to thousands of values, and the
    whole filter is scanned twice.
    """
    if start >= len(text) or text[start] != "[":
        raise errors.bad_request(f"Syntax error at position {start} in '{text}'.")
    m = _ARRAY_REST.match(text, start + 1)
    if m is None:
        raise errors.bad_request(f"There is an unterminated literal at position {len(text)} in '{text}'.")
    return m.end()


_ARRAY_COMMA = ("Invalid JSON. A comma character ',' was expected in scope 'Array'. Every two elements in an "
                "array and properties of an object must be separated by commas.")


def parse_json_array(raw: str) -> list:
    """Parse ``PropertyValues``: JSON strings, or single-quoted ones that the service also reads.

    A single-quoted element ends at its next ``'``; an apostrophe inside it (``'O'Brian'``) leaves
    stray text before the next comma, which the service reports as the 'comma expected' error.
    """
    raw = raw.strip()
    if not raw.startswith("[") or not raw.endswith("]"):
        raise errors.bad_request(_ARRAY_COMMA)
    try:
        value = json.loads(raw)
        if isinstance(value, list):
            return value
    except ValueError:
        pass
    out = []
    i, n = 1, len(raw) - 1
    while True:
        while i < n and raw[i] in " \t":
            i += 1
        if i >= n:
            break
        if raw[i] == "'":
            j = raw.find("'", i + 1)
            if j < 0:
                raise errors.bad_request(_ARRAY_COMMA)
            out.append(raw[i + 1:j])
            i = j + 1
        elif raw[i] == '"':
            try:
                val, end = json.JSONDecoder().raw_decode(raw, i)
            except ValueError:
                raise errors.bad_request(_ARRAY_COMMA)
            out.append(val)
            i = end
        else:
            m = re.compile(r"[^,\]\s]+").match(raw, i)
            token = m.group(0)
            try:
                out.append(json.loads(token))
            except ValueError:
                raise errors.bad_request(_ARRAY_COMMA)
            i = m.end()
        while i < n and raw[i] in " \t":
            i += 1
        if i >= n:
            break
        if raw[i] != ",":
            raise errors.bad_request(_ARRAY_COMMA)
        i += 1
    return out


def compile_filter(text: str, resolve: Resolver, logical: str, aliases: dict[str, str] | None = None) -> Callable:
    """Compile ``$filter`` text into ``pred(get) -> bool``; raises 400 on any error."""
    return _FilterParser(text, resolve, aliases or {}, logical).parse()
