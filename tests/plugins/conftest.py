"""Fixtures for the plugin tests: isolated managers that nothing installed can change.

Every manager here is built with ``autoload=False`` and an explicit plugin list, and the
plugin environment variables are cleared, so a developer's installed plugins or shell
settings never change a result. Only ``test_plugin_entry_points.py`` loads entry points, from
a fake distribution it writes itself.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import pytest

from mail2dataverse.config import RunConfig
from mail2dataverse.pluginmanager import AUTOLOAD_ENV, DISABLE_ENV, TRACE_ENV, Plugins, make_plugin_manager
from mail2dataverse.plugins import accounts, freemail, regarding

BUILTINS = (freemail, accounts, regarding)
EXAMPLE_DIR = Path(__file__).resolve().parents[2] / "plugins" / "example_plugin"


@pytest.fixture(autouse=True)
def _clean_plugin_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (AUTOLOAD_ENV, DISABLE_ENV, TRACE_ENV):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def make_plugins() -> Callable[..., Plugins]:
    """Factory: ``make_plugins(config=None, extra=(), builtins=True, disable=())`` → Plugins.

    ``extra`` plugins are registered before the built-ins, the order of an installed plugin
    loaded ahead of ours; the built-ins' ``trylast`` must make that irrelevant anyway.
    """

    def build(
        config: RunConfig | None = None,
        extra: Iterable[Any] = (),
        builtins: bool = True,
        disable: Iterable[str] = (),
        **kwargs: Any,
    ) -> Plugins:
        plugins = [*extra, *(BUILTINS if builtins else ())]
        pm = make_plugin_manager(autoload=False, extra=plugins, disable=disable, **kwargs)
        return Plugins(pm, config or RunConfig())

    return build


@pytest.fixture
def example_module(monkeypatch: pytest.MonkeyPatch) -> Any:
    """The example plugin package, imported from its folder (not installed)."""
    import importlib
    import sys

    monkeypatch.syspath_prepend(str(EXAMPLE_DIR))
    sys.modules.pop("m2d_example", None)
    module = importlib.import_module("m2d_example")
    yield module
    sys.modules.pop("m2d_example", None)
