"""Python source for compiled JMESPath expressions and transforms, for :mod:`.evaluate`.

A closure tree (:mod:`.closures`) makes a Python call per node: ``is_owner(from[0].email) ||
in_sent_folder(folders)`` is ten calls for two function results, and calls are most of what an
email's mapping costs. The generated evaluate function writes the common node types out as
statements instead: fields, indexes, chains of them, ``||``, ``&&``, ``!``, literals and calls of
functions with a plain signature (the argument type check inline, as the closure does it).
Anything else (projections, filters, slices, multi-selects, ``&expr`` arguments, exotic
signatures) calls the closure of that node, so each node means exactly what its closure means:
the same values, the same exceptions with the same text.

Transforms get the same treatment where they say how: a string transform (``strip``,
``lower``...) is its string function called inline on a string, and ``truncate`` costs nothing
for a string short enough to need no cut. Everything else is called as it is.
"""

from __future__ import annotations

from typing import Any, Protocol

from .closures import compile_node, function_plan, label
from .functions import ExpressionTypeError, StrictInterpreter, describe

#: JMESPath falsiness of ``{0}``: null, false, "", [] and {} (0 is true).
FALSE_TEST = "{0} is None or {0} is False or {0} == '' or {0} == [] or {0} == {{}}"

#: Nodes nested deeper than this call their closure: each ``||`` level is one indentation level
#: of generated source, and the tokenizer allows 100.
_MAX_INLINE_DEPTH = 24


class Writer(Protocol):
    """What the generated function's writer offers (:class:`.evaluate._Writer`)."""

    def bind(self, name: str, value: Any) -> str:
        """Put ``value`` in the function's namespace under ``name``; returns the name."""

    def unique(self, prefix: str, value: Any) -> str:
        """Bind ``value`` under a fresh name starting with ``prefix``; returns the name."""

    def temp(self) -> str:
        """A fresh local variable name."""

    def line(self, indent: int, text: str) -> None:
        """Append one line of source at ``indent`` levels."""


def write_expression(w: Writer, indent: int, target: str, node: dict, interp: StrictInterpreter,
                     value: str = "record", *, is_dict: bool = True) -> None:
    """Lines at ``indent`` that assign ``node`` evaluated on the variable ``value`` to ``target``.

    ``target`` must not be ``value``. ``is_dict``: ``value`` is known to be a dict (the record).
    """
    _Node(w, interp).write(indent, target, node, value, is_dict, 0)


def write_transforms(w: Writer, indent: int, target: str, transforms: tuple[Any, ...], key: str) -> None:
    """Lines applying ``transforms`` to ``target`` in place, in order."""
    for i, transform in enumerate(transforms):
        name = w.bind(f"T{key}_{i}", transform)
        max_chars = getattr(transform, "inline_max_chars", None)
        str_fn = getattr(transform, "inline_str_fn", None)
        if isinstance(max_chars, int):  # truncate: a short string comes through as it is
            w.line(indent, f"if {target}.__class__ is not str or len({target}) > {max_chars}:")
            w.line(indent + 1, f"{target} = {name}({target})")
        elif str_fn is not None:
            fn = w.bind(f"T{key}_{i}s", str_fn)
            w.line(indent, f"{target} = {fn}({target}) if {target}.__class__ is str else {name}({target})")
        else:
            w.line(indent, f"{target} = {name}({target})")


def _int_index(node: dict) -> bool:
    """Whether the index this node writes into source (its own, or its second child's) is an int."""
    if node["type"] == "index":
        return node["value"].__class__ is int
    children = node.get("children", [])
    return not (len(children) == 2 and children[1]["type"] == "index") or children[1]["value"].__class__ is int


class _Node:
    """Writes one expression tree; mirrors :func:`.closures.compile_node` branch for branch."""

    def __init__(self, w: Writer, interp: StrictInterpreter):
        self.w = w
        self.interp = interp

    def write(self, indent: int, target: str, node: dict, value: str, is_dict: bool, depth: int) -> None:
        kind = node["type"]
        children = node.get("children", [])
        w = self.w
        if depth > _MAX_INLINE_DEPTH:
            self.closure(indent, target, node, value)
        elif kind == "field":
            key = w.unique("F", node["value"])
            if is_dict:
                w.line(indent, f"{target} = {value}.get({key})")
            else:
                visit, n = w.unique("VF", self.interp.visit_field), w.unique("N", node)
                w.line(indent, f"{target} = {value}.get({key}) if {value}.__class__ is dict else {visit}({n}, {value})")
        elif kind in ("index", "index_expression") and not _int_index(node):
            self.closure(indent, target, node, value)  # the parser gives ints: never paste anything else
        elif kind == "index_expression" and len(children) == 2 and children[1]["type"] == "index":
            base = w.temp()
            self.write(indent, base, children[0], value, is_dict, depth + 1)
            where = label(children[0])
            message = w.unique("M", f"{where}: expected an array, got " if where else "expected an array, got ")
            w.line(indent, f"if {base}.__class__ is list:")
            w.line(indent + 1, f"{target} = {self.pick(base, children[1]['value'])}")
            w.line(indent, f"elif {base} is None:")
            w.line(indent + 1, f"{target} = None")
            w.line(indent, "else:")
            w.line(indent + 1, f"raise {w.bind('ExpressionTypeError', ExpressionTypeError)}({message} + "
                               f"{w.bind('describe', describe)}({base}))")
        elif kind in ("subexpression", "index_expression", "pipe"):
            current, known = value, is_dict
            for i, child in enumerate(children):
                step = target if i == len(children) - 1 else w.temp()
                self.write(indent, step, child, current, known, depth + 1)
                current, known = step, False
        elif kind == "index":
            visit, n = w.unique("VI", self.interp.visit_index), w.unique("N", node)
            w.line(indent, f"if {value}.__class__ is list:")
            w.line(indent + 1, f"{target} = {self.pick(value, node['value'])}")
            w.line(indent, "else:")
            w.line(indent + 1, f"{target} = {visit}({n}, {value})")
        elif kind == "literal":
            w.line(indent, f"{target} = {w.unique('C', node['value'])}")
        elif kind in ("current", "identity"):
            w.line(indent, f"{target} = {value}")
        elif kind in ("or_expression", "and_expression"):
            self.write(indent, target, children[0], value, is_dict, depth + 1)
            test = FALSE_TEST.format(target)
            w.line(indent, f"if {test}:" if kind == "or_expression" else f"if not ({test}):")
            self.write(indent + 1, target, children[1], value, is_dict, depth + 1)
        elif kind == "not_expression":
            inner = w.temp()
            self.write(indent, inner, children[0], value, is_dict, depth + 1)
            numbers = w.bind("NUMBERS", (int, float))
            # JMESPath: !0 is false (0 is truthy)
            w.line(indent, f"{target} = False if {inner}.__class__ in {numbers} and {inner} == 0 else not {inner}")
        elif kind == "function_expression" and not any(c["type"] == "expref" for c in children):
            self.call(indent, target, node, value, is_dict, depth)
        else:
            self.closure(indent, target, node, value)

    def call(self, indent: int, target: str, node: dict, value: str, is_dict: bool, depth: int) -> None:
        """A function call: arguments, then the direct call when their classes are allowed."""
        w = self.w
        table = self.interp._functions  # noqa: SLF001 - our own table (see make_interpreter)
        children = node["children"]
        plan = function_plan(table, node["value"], len(children))
        if plan is None:
            self.closure(indent, target, node, value)
            return
        raw, allowed = plan
        args, checks = [], []
        for child, ok in zip(children, allowed):
            if child["type"] == "literal":
                arg = w.unique("C", child["value"])
                static = ok is None or child["value"].__class__ in ok
            else:
                arg = w.temp()
                self.write(indent, arg, child, value, is_dict, depth + 1)
                static = ok is None
            args.append(arg)
            if not static:
                checks.append(f"{arg}.__class__ in {w.unique('OK', ok)}")
        function = w.unique("FN", raw)
        call = f"{function}({', '.join(args)})"
        # A function marked null-in-null-out (header, lower...) answers a null first argument
        # without a call, where it would have been called (every argument's class allowed).
        if getattr(raw, "inline_null_first", False) is True and children[0]["type"] != "literal" and (
                allowed[0] is None or type(None) in allowed[0]):
            call = f"(None if {args[0]} is None else {call})"
        if checks:
            slow = f"{w.unique('SLOW', table.call_function)}({w.unique('NAME', node['value'])}, [{', '.join(args)}])"
            call = f"{call} if {' and '.join(checks)} else {slow}"
        w.line(indent, f"{target} = {call}")

    def closure(self, indent: int, target: str, node: dict, value: str) -> None:
        """The node's own closure, called."""
        w = self.w
        w.line(indent, f"{target} = {w.unique('X', compile_node(node, self.interp))}({value})")

    @staticmethod
    def pick(base: str, index: int) -> str:
        """``base[index]``, or None past either end (the closures catch the IndexError)."""
        inside = f"len({base}) > {index}" if index >= 0 else f"len({base}) >= {-index}"
        return f"{base}[{index}] if {inside} else None"
