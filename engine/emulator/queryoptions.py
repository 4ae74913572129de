"""The list-shaping query options: ``$select``, ``$orderby`` and ``$expand``.

Each parser splits its option text into names the caller checks against the table (through the
same resolver ``$filter`` uses); ``$expand`` items carry their nested options as raw text, which
the caller parses again for the related table.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from . import errors


def split_top_level(text: str, sep: str = ",") -> list[str]:
    """Split on ``sep`` outside parentheses, brackets and quotes."""
    out, depth, quote, cur = [], 0, None, []
    for ch in text:
        if quote:
            cur.append(ch)
            if ch == quote:
                quote = None
            continue
        if ch in "'\"":
            quote = ch
        elif ch in "([":
            depth += 1
        elif ch in ")]":
            depth -= 1
        elif ch == sep and depth == 0:
            out.append("".join(cur))
            cur = []
            continue
        cur.append(ch)
    out.append("".join(cur))
    return [p.strip() for p in out]


def parse_select(text: str) -> list[str]:
    """Split a ``$select`` list; empty items are a syntax error."""
    items = [s.strip() for s in text.split(",")]
    if any(not s for s in items):
        raise errors.bad_request(f"Syntax error at position {len(text)} in '{text}'.")
    return items


def parse_orderby(text: str) -> list[tuple[str, bool]]:
    """Parse ``$orderby`` into ``[(property, descending)]``."""
    out = []
    for item in split_top_level(text):
        parts = item.split()
        if not parts or len(parts) > 2 or (len(parts) == 2 and parts[1] not in ("asc", "desc")):
            raise errors.bad_request(f"Syntax error at position {len(text)} in '{text}'.")
        out.append((parts[0], len(parts) == 2 and parts[1] == "desc"))
    return out


@dataclass
class ExpandItem:
    """One ``$expand`` entry with its nested query options."""

    nav: str
    options: dict[str, str] = field(default_factory=dict)


def parse_expand(text: str) -> list[ExpandItem]:
    """Parse ``$expand=nav($select=a,b;$filter=...),nav2``."""
    items = []
    for part in split_top_level(text):
        if not part:
            raise errors.bad_request(f"Syntax error at position {len(text)} in '{text}'.")
        if "(" in part:
            if not part.endswith(")"):
                raise errors.bad_request(f"Syntax error at position {len(text)} in '{text}'.")
            nav, inner = part.split("(", 1)
            inner = inner[:-1]
            opts = {}
            for opt in split_top_level(inner, ";"):
                if not opt:
                    continue
                if "=" not in opt:
                    raise errors.bad_request(f"Syntax error at position {len(text)} in '{text}'.")
                k, v = opt.split("=", 1)
                opts[k.strip()] = v.strip()
            items.append(ExpandItem(nav.strip(), opts))
        else:
            items.append(ExpandItem(part))
    return items
