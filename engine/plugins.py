"""Plugin manager factory and typed wrappers around the hooks.

Engine code never calls ``pm.hook.x(...)`` directly: it goes through :class:`Plugins`, which
decides in one place what "nobody answered" means for each hook.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Any

import pluggy

from . import hookspecs
from .errors import PluginError

ENTRY_POINT_GROUP = hookspecs.PROJECT_NAME
DISABLE_ENV = "MAIL2DATAVERSE_DISABLE_PLUGINS"
AUTOLOAD_ENV = "MAIL2DATAVERSE_PLUGINS_AUTOLOAD"


def make_plugin_manager(
    *,
    disable: Iterable[str] = (),
    autoload: bool | None = None,
    extra: Iterable[Any] = (),
) -> pluggy.PluginManager:
    """Build a plugin manager: hookspecs, blocked names, entry points, then ``extra`` plugins.

    :param disable: entry-point names to block (built-ins included), added to the names in
        ``MAIL2DATAVERSE_DISABLE_PLUGINS`` (comma-separated).
    :param autoload: load the ``mail2dataverse`` entry points; default from
        ``MAIL2DATAVERSE_PLUGINS_AUTOLOAD`` (``0`` turns it off), else True.
    :param extra: plugin objects or modules to register after the entry points (tests use this).
    :raises PluginError: a plugin fails to import or implements a hook that does not exist.
    """
    pm = pluggy.PluginManager(hookspecs.PROJECT_NAME)
    pm.add_hookspecs(hookspecs)
    blocked = {n.strip() for n in os.environ.get(DISABLE_ENV, "").split(",") if n.strip()}
    blocked.update(disable)
    for name in blocked:
        pm.set_blocked(name)
    if autoload is None:
        autoload = os.environ.get(AUTOLOAD_ENV, "1") not in ("0", "false", "no")
    if autoload:
        try:
            pm.load_setuptools_entrypoints(ENTRY_POINT_GROUP)
        except Exception as exc:  # a third-party plugin's import error must not be a traceback
            raise PluginError(f"could not load a {ENTRY_POINT_GROUP} plugin: {exc}") from exc
    for plugin in extra:
        pm.register(plugin)
    try:
        pm.check_pending()
    except pluggy.PluginValidationError as exc:
        raise PluginError(str(exc)) from exc
    return pm
