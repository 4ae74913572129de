"""Formats registered by plugins (mbox, EML, ...): finding them and reading their records."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from ..errors import SourceError


def plugin_sources(plugins: Any) -> dict[str, tuple[Callable[..., Any], Callable[[Path], bool] | None]]:
    """``{name: (opener, detect)}`` from the Plugins wrapper or a bare pluggy manager."""
    if plugins is None:
        return {}
    if hasattr(plugins, "sources"):
        return dict(plugins.sources())
    found: dict[str, tuple[Callable[..., Any], Callable[[Path], bool] | None]] = {}

    def register(name: str, opener: Callable[..., Any], detect: Callable[[Path], bool] | None = None) -> None:
        found[name] = (opener, detect)

    plugins.hook.register_sources(register=register)
    return found


class PluginFormat:
    """Records from a plugin's ``opener(path, kind, options)``."""

    def __init__(self, name: str, opener: Callable[..., Iterable[Any]], path: Path, kind: str,
                 options: Mapping[str, Any], display: str):
        self.format = name
        self._opener = opener
        self._path = path
        self._kind = kind
        self._options = dict(options)
        self._display = display

    def records(self) -> Iterator[Any]:
        """Yield what the plugin yields; its unexpected exceptions become one-line SourceErrors."""
        index = 0
        try:
            for record in self._opener(self._path, self._kind, self._options):
                index += 1
                yield record
        except SourceError:
            raise
        except Exception as exc:  # a third-party plugin's bug must not surface as a traceback
            raise SourceError(
                f"{self._display}: the {self.format} source failed after record {index}: "
                f"{type(exc).__name__}: {exc}"
            ) from exc
