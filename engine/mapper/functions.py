"""JMESPath for mapping files: custom functions and strict evaluation.

Used at load time only:

* :func:`engine_functions` — the custom JMESPath functions every mapping can call
  (``lower``, ``header``, ``is_owner`` ...), bound to the run configuration and plugins.
* :func:`build_function_table` — one :class:`jmespath.functions.Functions` subclass holding the
  engine's and the plugins' functions, built once per :class:`~.mapping_set.MappingSet`.
* :class:`StrictInterpreter` — JMESPath's tree interpreter made strict (below); the closure
  compiler (:mod:`.closures`) and the generated evaluate functions (:mod:`.inline`) agree
  with it.

Evaluation is *strict* where plain JMESPath is silent: reading a key of a value that is present
but not an object (``to: 5`` read as ``to[0].email``), or indexing/projecting a value that is
present but not an array, raises :class:`ExpressionTypeError` instead of producing ``null``.
A malformed record is then skipped with a reason, rather than being written with columns
silently missing. Missing keys and ``null`` still give ``null``, exactly as in JMESPath.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from jmespath import functions as jp_functions

from ..addresses import canonical_address
from ..errors import shown
from jmespath.visitor import Options, TreeInterpreter

Evaluator = Callable[[Any], Any]

_JP_TYPES = {bool: "boolean", int: "number", float: "number", str: "string", list: "array", dict: "object"}


def jmespath_type(value: Any) -> str:
    """Return the JMESPath type name of a Python value (``"null"``, ``"string"``...)."""
    if value is None:
        return "null"
    for cls in type(value).__mro__:
        if cls in _JP_TYPES:
            return _JP_TYPES[cls]
    return type(value).__name__


def describe(value: Any) -> str:
    """Short, one-line description of a value for error messages: ``number 5``, ``string 'x'``."""
    return f"{jmespath_type(value)} {shown(value)}"


class ExpressionTypeError(ValueError):
    """A record value is present but of the wrong JSON type for the expression reading it."""


# ---------------------------------------------------------------------------------------------
# Strict interpreter: used for the node types the closure compiler does not specialise
# (comparators, filters, slices, ``&expr`` arguments of sort_by/max_by/map...).
# ---------------------------------------------------------------------------------------------


class StrictInterpreter(TreeInterpreter):
    """A JMESPath tree interpreter that rejects wrong types instead of returning ``null``."""

    def visit_field(self, node: dict, value: Any) -> Any:  # noqa: D102 - see class docstring
        if isinstance(value, dict):
            return value.get(node["value"])
        if value is None:
            return None
        raise ExpressionTypeError(f"cannot read {node['value']!r} of {describe(value)} (expected an object)")

    def visit_index(self, node: dict, value: Any) -> Any:  # noqa: D102
        if isinstance(value, list):
            try:
                return value[node["value"]]
            except IndexError:
                return None
        if value is None:
            return None
        raise ExpressionTypeError(f"cannot index {describe(value)} (expected an array)")

    def visit_slice(self, node: dict, value: Any) -> Any:  # noqa: D102
        require_list(value)
        return super().visit_slice(node, value)

    def visit_flatten(self, node: dict, value: Any) -> Any:  # noqa: D102
        base = self.visit(node["children"][0], value)
        if base is None:
            return None
        require_list(base)
        return flatten_once(base)

    def visit_projection(self, node: dict, value: Any) -> Any:  # noqa: D102
        base = self.visit(node["children"][0], value)
        if base is None:
            return None
        require_list(base)
        collected = []
        for element in base:
            current = self.visit(node["children"][1], element)
            if current is not None:
                collected.append(current)
        return collected

    def visit_filter_projection(self, node: dict, value: Any) -> Any:  # noqa: D102
        base = self.visit(node["children"][0], value)
        if base is None:
            return None
        require_list(base)
        collected = []
        for element in base:
            if self._is_true(self.visit(node["children"][2], element)):
                current = self.visit(node["children"][1], element)
                if current is not None:
                    collected.append(current)
        return collected

    def visit_value_projection(self, node: dict, value: Any) -> Any:  # noqa: D102
        base = self.visit(node["children"][0], value)
        if base is not None and not isinstance(base, dict):
            raise ExpressionTypeError(f"cannot take the values of {describe(base)} (expected an object)")
        return super().visit_value_projection(node, value)


def flatten_once(base: list[Any]) -> list[Any]:
    """JMESPath's ``[]``: the elements of ``base``, those that are arrays spliced in one level."""
    merged: list[Any] = []
    for element in base:
        if isinstance(element, list):
            merged.extend(element)
        else:
            merged.append(element)
    return merged


def require_list(value: Any, label: str = "") -> None:
    """Raise :class:`ExpressionTypeError` unless ``value`` is null or an array (``label``: where)."""
    if value is not None and not isinstance(value, list):
        where = f"{label}: " if label else ""
        raise ExpressionTypeError(f"{where}expected an array, got {describe(value)}")


def function_calls(parsed: dict) -> Iterator[tuple[str, int]]:
    """Yield ``(name, argument count)`` for every function call in a parsed expression.

    JMESPath reports an unknown function only when the expression is evaluated, so the loader
    walks the tree to catch misspelt or missing functions before any record is read.
    """
    stack = [parsed]
    while stack:
        node = stack.pop()
        if node.get("type") == "function_expression":
            yield node["value"], len(node.get("children", []))
        stack.extend(c for c in node.get("children", []) if isinstance(c, dict))


def arity_problem(name: str, signature: tuple[dict, ...], count: int) -> str | None:
    """Return an error message when ``name`` is called with the wrong number of arguments."""
    variadic = bool(signature) and signature[-1].get("variadic")
    if variadic and count < len(signature):
        return f"function {name}() takes at least {len(signature)} argument(s), got {count}"
    if not variadic and count != len(signature):
        return f"function {name}() takes {len(signature)} argument(s), got {count}"
    return None


# ---------------------------------------------------------------------------------------------
# Function table
# ---------------------------------------------------------------------------------------------

#: Domain of the synthetic Message-IDs; ``.invalid`` is reserved (RFC 2606), so it can never
#: collide with a real mail domain.
SYNTHETIC_DOMAIN = "mail2dataverse.invalid"
#: ``messageid`` is a 320-character column in Dataverse.
MESSAGE_ID_MAX = 320
_ATEXT = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!#$%&'*+-/=?^_`{|}~.")


def _is_atext(text: Any) -> bool:
    """Whether every character of ``text`` is RFC 5322 atext. ASCII letters, digits and hyphens
    (a Nylas id, a grant's UUID) are, and saying so takes string methods, not the set that
    ``frozenset.issuperset`` builds of a string per call."""
    if text.__class__ is str and text.isascii() and (text.isalnum() or text.replace("-", "").isalnum()):
        return True
    return _ATEXT.issuperset(text)


def synthetic_message_id(grant_id: str | None, message_id: str | None) -> str | None:
    """Return the deterministic identity of a message that has no Message-ID header.

    ``<nylas.{grant_id}.{id}@mail2dataverse.invalid>`` when both parts are RFC 5322 atext and
    the result fits in 320 characters; otherwise ``<nylas.sha256.{hex}@mail2dataverse.invalid>``
    with the SHA-256 of ``"{grant_id}:{id}"``. ``None`` when the Nylas id is missing.
    """
    if not message_id:
        return None
    grant = grant_id or "-"
    candidate = f"<nylas.{grant}.{message_id}@{SYNTHETIC_DOMAIN}>"
    if len(candidate) <= MESSAGE_ID_MAX and _is_atext(grant) and _is_atext(message_id):
        return candidate
    digest = hashlib.sha256(f"{grant}:{message_id}".encode()).hexdigest()
    return f"<nylas.sha256.{digest}@{SYNTHETIC_DOMAIN}>"


def address_local_part(address: str | None) -> str | None:
    """The part before the last ``@`` (the ``local_part`` function and transform), or None."""
    if not address or "@" not in address:
        return None
    return address.strip().rpartition("@")[0] or None


def address_domain(address: str | None) -> str | None:
    """The lower-cased part after the last ``@`` (the ``domain`` function and transform), or None."""
    if not address or "@" not in address:
        return None
    return address.strip().rpartition("@")[2].lower() or None


def domain_or_self(value: str | None) -> str:
    """The domain of an address, or ``value`` itself lower-cased when it is already a domain."""
    return (address_domain(value) or "") if value and "@" in value else (value or "").strip().lower()


def engine_functions(plugins: Any) -> dict[str, tuple[Callable[..., Any], list[list[str]]]]:
    """Return the custom JMESPath functions the engine provides to every mapping.

    :param plugins: the :class:`mail2dataverse.pluginmanager.Plugins` wrapper; its ``config`` gives
        the owner addresses and sent folders, ``is_freemail`` answers ``is_freemail()``.
    :returns: name → ``(function, signature)``; a signature lists the accepted JMESPath types
        of each argument.
    """
    config = plugins.config
    owners = frozenset(canonical_address(a) for a in config.owner_addresses)
    sent = frozenset(f.lower() for f in config.sent_folders)

    def lower(s: str | None) -> str | None:
        return None if s is None else s.lower()

    def upper(s: str | None) -> str | None:
        return None if s is None else s.upper()

    def trim(s: str | None) -> str | None:
        return None if s is None else s.strip()

    def header(headers: list | None, name: str) -> str | None:
        if not headers:
            return None
        wanted = name.lower()
        for h in headers:
            if h.__class__ is dict and str(h.get("name", "")).lower() == wanted:
                value = h.get("value")
                return value if isinstance(value, str) else None
        return None

    def is_owner(address: str | None) -> bool:
        return address is not None and canonical_address(address) in owners

    def in_sent_folder(folders: list | None) -> bool:
        if folders:
            for folder in folders:
                if folder.__class__ is str and folder.lower() in sent:
                    return True
        return False

    def is_freemail(address: str | None) -> bool:
        d = domain_or_self(address)
        return bool(d) and bool(plugins.is_freemail(d))

    def nylas_message_id(grant_id: str | None, message_id: str | None) -> str | None:
        return synthetic_message_id(grant_id, message_id)

    # Null in, null out: the generated evaluate function skips the call (mapper.inline).
    for fn in (lower, upper, trim, header, address_local_part, address_domain):
        fn.inline_null_first = True  # type: ignore[attr-defined]
    s_or_null = ["string", "null"]
    return {
        "lower": (lower, [s_or_null]),
        "upper": (upper, [s_or_null]),
        "trim": (trim, [s_or_null]),
        "header": (header, [["array", "null"], ["string"]]),
        "is_owner": (is_owner, [s_or_null]),
        "in_sent_folder": (in_sent_folder, [["array", "null"]]),
        "local_part": (address_local_part, [s_or_null]),
        "domain": (address_domain, [s_or_null]),
        "is_freemail": (is_freemail, [s_or_null]),
        "nylas_message_id": (nylas_message_id, [s_or_null, s_or_null]),
    }


#: Documentation of the engine functions (the docs page and error hints use it).
ENGINE_FUNCTION_DOCS = {
    "lower": "lower(s): lower-case a string (null stays null).",
    "upper": "upper(s): upper-case a string.",
    "trim": "trim(s): strip surrounding whitespace.",
    "header": "header(headers, name): value of the first header called name (case-insensitive), else null.",
    "is_owner": "is_owner(address): true when the address is one of config owner_addresses.",
    "in_sent_folder": "in_sent_folder(folders): true when a folder is one of config sent_folders (case-insensitive).",
    "local_part": "local_part(address): the part before the last '@'.",
    "domain": "domain(address): the lower-cased part after the last '@'.",
    "is_freemail": "is_freemail(address_or_domain): the plugins' freemail verdict for its domain.",
    "nylas_message_id": "nylas_message_id(grant_id, id): deterministic <nylas.GRANT.ID@mail2dataverse.invalid>.",
}


def _signature(spec: list) -> tuple[dict, ...]:
    """Normalise a plugin signature (``[["string", "null"], ...]`` or jmespath dicts)."""
    out = []
    for arg in spec:
        if isinstance(arg, Mapping):
            out.append(dict(arg))
        elif isinstance(arg, str):
            out.append({"types": [arg]})
        else:
            out.append({"types": list(arg)})
    return tuple(out)


def build_function_table(functions: Mapping[str, tuple[Callable[..., Any], list]]) -> jp_functions.Functions:
    """Create one ``Functions`` instance holding JMESPath's built-ins plus ``functions``.

    :param functions: name → ``(callable, signature)``; built-in JMESPath names may not be
        redefined (the caller checks collisions first).
    :returns: an instance usable as ``jmespath.Options(custom_functions=...)``.
    """
    attrs: dict[str, Any] = {}
    for name, (fn, spec) in functions.items():

        def method(self: Any, *args: Any, _fn: Callable[..., Any] = fn) -> Any:
            return _fn(*args)

        method.signature = _signature(spec)  # type: ignore[attr-defined]
        method.raw = fn  # type: ignore[attr-defined]  # called directly by the compiled closures
        attrs[f"_func_{name}"] = method
    cls = type("MappingFunctions", (jp_functions.Functions,), attrs)
    return cls()


def builtin_function_names() -> frozenset[str]:
    """Names of the functions of the JMESPath specification (``length``, ``join``, ...)."""
    return frozenset(jp_functions.Functions.FUNCTION_TABLE)


def make_interpreter(table: jp_functions.Functions) -> StrictInterpreter:
    """Return the strict interpreter bound to ``table`` (one per mapping set)."""
    return StrictInterpreter(Options(custom_functions=table))
