"""YAML documents of preview records, byte for byte what ``yaml.dump`` prints, at a third of its cost.

``yaml.dump(record, Dumper=CSafeDumper, ...)`` per record spent most of its time in PyYAML's
Python half: a new dumper per document, the representer's alias bookkeeping for every value,
and two calls into the implicit-tag resolver per scalar. A preview record is a tree of plain
JSON data, so :class:`Documents` keeps one C emitter for the whole run, builds the node tree
directly (the nodes the safe representer builds for that data, no anchors: every record is
written as it reads back from JSON, where nothing is shared) and answers the resolver at once
for the scalars no implicit tag can match (most of them: the resolvers only look at strings
starting with a digit, a sign, ``.``, ``~``, ``<``, ``=`` or the first letter of
``yes/no/true/false/on/off/null``). The libyaml emitter writes each document out when it ends,
so a document's text is what the sink received meanwhile.

Values that are not plain JSON data (a tuple, a non-string key, a date...) are shown as the
JSON spool showed them (:func:`~.spool.plain`), as before.
"""

from __future__ import annotations

from typing import Any

import yaml
from yaml.nodes import MappingNode, ScalarNode, SequenceNode

from .spool import plain

_STR, _MAP, _SEQ = "tag:yaml.org,2002:str", "tag:yaml.org,2002:map", "tag:yaml.org,2002:seq"
_BOOL, _NULL, _INT = "tag:yaml.org,2002:bool", "tag:yaml.org,2002:null", "tag:yaml.org,2002:int"

_Dumper: Any = getattr(yaml, "CSafeDumper", None)


class _Sink:
    """The stream the emitter writes to: what it received since it was last emptied."""

    def __init__(self) -> None:
        self.parts: list[str] = []

    def write(self, text: str) -> None:
        self.parts.append(text)


def _node(value: Any, represent_float: Any) -> Any:
    """The node tree the safe representer builds for ``value`` read back from JSON."""
    t = type(value)
    if t is str:
        return ScalarNode(_STR, value)
    if t is dict:
        pairs = []
        for k, v in value.items():
            if type(k) is not str:  # JSON makes keys strings (and may merge two): show what it shows
                return _node(plain(value), represent_float)
            pairs.append((ScalarNode(_STR, k), _node(v, represent_float)))
        return MappingNode(_MAP, pairs, flow_style=False)
    if t is list or t is tuple:
        return SequenceNode(_SEQ, [_node(v, represent_float) for v in value], flow_style=False)
    if value is None:
        return ScalarNode(_NULL, "null")
    if t is bool:
        return ScalarNode(_BOOL, "true" if value else "false")
    if t is int:
        return ScalarNode(_INT, str(value))
    if t is float:
        return represent_float(value)
    return _node(plain(value), represent_float)


class Documents:
    """Turns records into YAML documents (``---`` first), one emitter for the whole preview."""

    def __init__(self, width: int = 100) -> None:
        self._sink = _Sink()
        options = {"sort_keys": False, "allow_unicode": True, "width": width, "explicit_start": True}
        self._options = {**options, "Dumper": yaml.SafeDumper}
        if _Dumper is None:  # PyYAML without libyaml: its own dump, the same text
            return
        dumper = self._dumper = _Dumper(self._sink, **options)
        resolvers = dumper.yaml_implicit_resolvers
        if None not in resolvers and not dumper.yaml_path_resolvers:  # else: a resolver not known here
            base = dumper.resolve
            # the first characters some implicit resolver looks at; a string starting otherwise is a str
            first = frozenset(k for k in resolvers if k)

            def resolve(kind: Any, value: Any, implicit: Any) -> str:
                if kind is ScalarNode:
                    if implicit[0] and (not value or value[0] in first):
                        return base(kind, value, implicit)
                    return _STR
                return _MAP if kind is MappingNode else _SEQ

            dumper.resolve = resolve
        dumper.alias_key = None  # represent_float reads it
        self._float = dumper.represent_float
        dumper.open()

    def __call__(self, record: dict[str, Any]) -> str:
        """The YAML document of ``record``."""
        if _Dumper is None:
            return yaml.dump(plain(record), **self._options)
        self._dumper.serialize(_node(record, self._float))
        parts = self._sink.parts
        text = parts[0] if len(parts) == 1 else "".join(parts)
        parts.clear()
        return text
