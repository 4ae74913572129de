"""The NDJSON reader: one JSON value per line, errors named ``file:line``.

Each line is decoded as strict UTF-8 and parsed by one decoder made once (``json.loads`` with a
``parse_int`` built a new decoder, scanner included, for every line: most of the cost of a line).
Strict: ``json.loads`` decoded bytes with ``surrogatepass``, so an encoded surrogate (``ED A0
80``) became a lone surrogate that no later check saw, and the preview's spool crashed on it.
``NaN``, ``Infinity``, reals beyond a float (Python's extensions, not JSON) and over-long integers
are refused as the JSON-array reader refuses them, named ``file:line:column`` and by record.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterable, Iterator
from typing import Any

from ..errors import SourceError
from .checks import LONE_SURROGATE_ESCAPE_TEXT, MAX_NUMBER_CHARS, SURROGATE_ESCAPE_TEXT, NotJson, NumberTooLong, \
    checked, parse_constant, parse_float, parse_int
from .inputs import Input, sniff
from .json_scan import refused_token

#: The JSON-array reader's number and constant checks (json.loads read NaN and Infinity, and
#: made 1e400 an infinity: no Nylas field or Dataverse column holds either)
_DECODE = json.JSONDecoder(parse_int=parse_int, parse_float=parse_float, parse_constant=parse_constant).decode


class Ndjson:
    """One JSON value per line (``jq -c '.[]'`` output); blank lines are skipped."""

    format = "ndjson"

    def __init__(self, inp: Input):
        self._inp = inp
        self._encoding, self._bom = sniff(inp)
        self.line_of: int = 0  # line number of the record last yielded (for messages)

    def records(self) -> Iterator[Any]:
        """Yield each line's value; an invalid line raises ``SourceError "file:line: ..."``."""
        name = self._inp.display
        raw = self._inp.open()
        stream: Iterable[Any]
        if self._encoding == "utf-16":
            stream = io.TextIOWrapper(raw, encoding="utf-16", newline="\n")
        else:
            if self._bom:
                raw.read(self._bom)
            stream = raw
        count = 0  # records yielded (blank lines are none)
        with raw:
            for lineno, line in enumerate(stream, 1):
                skipped = 0
                try:
                    text = line if isinstance(line, str) else line.decode("utf-8")
                    if not text.strip():
                        continue
                    if text[0] == "\ufeff":  # a BOM inside (files joined with cat): json.loads skipped it
                        text, skipped = text[1:], 1
                    record = _DECODE(text)
                except NumberTooLong as exc:
                    found = refused_token(text, 0, "int", MAX_NUMBER_CHARS)
                    column = (found[0] if found is not None else 0) + skipped + 1
                    raise SourceError(f"{name}:{lineno}:{column}: record {count + 1}: {exc}") from None
                except NotJson as exc:
                    found = refused_token(text, 0, exc.kind)
                    column = (found[0] if found is not None else 0) + skipped + 1
                    what = "invalid JSON in record" if exc.kind == "constant" else "record"
                    raise SourceError(f"{name}:{lineno}:{column}: {what} {count + 1}: {exc}") from None
                except UnicodeDecodeError as exc:
                    raise SourceError(f"{name}:{lineno}: not UTF-8 text: {exc.reason}") from None
                except json.JSONDecodeError as exc:
                    raise SourceError(f"{name}:{lineno}: invalid JSON: {exc.msg} (column {exc.colno})") from None
                except RecursionError:
                    raise SourceError(f"{name}:{lineno}: JSON nested too deeply (a damaged or hostile file)") from None
                self.line_of = lineno
                count += 1
                # json keeps a lone surrogate escape as a lone surrogate: look only when one is there
                suspect = "\\" in text and SURROGATE_ESCAPE_TEXT.search(text) and LONE_SURROGATE_ESCAPE_TEXT.search(text)
                yield checked(record) if suspect else record
