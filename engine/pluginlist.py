"""Listing the plugins (``mail2dataverse plugins``): which are installed, from which package,
implementing which hooks, and which are disabled.

Separate from :mod:`mail2dataverse.pluginmanager` because only the ``plugins`` command needs
it; it reads a built manager and never calls a hook.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import pluggy

from .errors import ConfigError, PluginError
from .pluginmanager import BUILTIN_DISTRIBUTION, BUILTIN_NAMES, BUILTIN_PACKAGE, installed_entry_points

__all__ = ["format_plugins", "list_plugins"]



def list_plugins(
    pm: pluggy.PluginManager, *, include_builtin: bool = True, hook: str | None = None
) -> list[dict[str, Any]]:
    """Describe every registered plugin, external ones first, then by name.

    Each row is ``{"name", "package", "version", "module", "file", "hooks", "builtin",
    "disabled"}``: ``package``/``version`` come from the distribution that declared the entry
    point (None for a plugin registered directly, e.g. in tests); ``builtin`` is True when that
    distribution is ``mail2dataverse`` or, for a directly registered module, when the module
    is one of ours. A plugin disabled by configuration or environment is listed too, with
    ``disabled: true`` and no hooks (it was never loaded), so a user can see why its policy
    does not apply; a disabled name that matches no installed plugin is not listed.

    :param include_builtin: False hides the built-ins (``plugins`` without ``--all``).
    :param hook: only plugins implementing this hook (``--hook NAME``).
    :raises PluginError: ``hook`` is not a hook name.
    """
    if hook is not None and not _is_hook(pm, hook):
        known = ", ".join(sorted(_hook_names(pm)))
        raise PluginError(f"unknown hook {hook!r}; hooks are: {known}")
    dists = {id(plugin): dist for plugin, dist in pm.list_plugin_distinfo()}
    rows = []
    for name, plugin in pm.list_name_plugin():
        if plugin is None:  # a blocked name
            row = _disabled_row(name)
            if row is not None and hook is None and (include_builtin or not row["builtin"]):
                rows.append(row)
            continue
        hooks = sorted(caller.name for caller in pm.get_hookcallers(plugin) or [])
        if hook is not None and hook not in hooks:
            continue
        module = getattr(plugin, "__name__", None) or type(plugin).__module__
        dist = dists.get(id(plugin))
        if dist is not None:
            package, version = dist.project_name, dist.version
        elif module == BUILTIN_PACKAGE or module.startswith(BUILTIN_PACKAGE + "."):
            from . import __version__

            package, version = BUILTIN_DISTRIBUTION, __version__
        else:
            package = version = None
        builtin = package == BUILTIN_DISTRIBUTION
        if builtin and not include_builtin:
            continue
        file = getattr(plugin, "__file__", None) or getattr(sys.modules.get(module), "__file__", None)
        rows.append(
            {
                "name": name,
                "package": package,
                "version": version,
                "module": module,
                "file": file,
                "hooks": hooks,
                "builtin": builtin,
                "disabled": False,
            }
        )
    rows.sort(key=lambda r: (r["builtin"], r["name"]))
    return rows


def _disabled_row(name: str) -> dict[str, Any] | None:
    """The listing row of a blocked name, from its entry point; None when nothing has it."""
    found = installed_entry_points().get(name)
    if found is not None:
        ep, dist = found
        package, version, module = dist.metadata["Name"], dist.version, ep.value.partition(":")[0]
    elif name in BUILTIN_NAMES:  # registered directly (autoload off): still one of ours
        from . import __version__

        package, version, module = BUILTIN_DISTRIBUTION, __version__, f"{BUILTIN_PACKAGE}.{name}"
    else:
        return None
    return {
        "name": name,
        "package": package,
        "version": version,
        "module": module,
        "file": None,
        "hooks": [],
        "builtin": package == BUILTIN_DISTRIBUTION,
        "disabled": True,
    }


def _hook_names(pm: pluggy.PluginManager) -> list[str]:
    return [name for name, caller in vars(pm.hook).items() if isinstance(caller, pluggy.HookCaller) and caller.has_spec()]


def _is_hook(pm: pluggy.PluginManager, name: str) -> bool:
    return name in _hook_names(pm)


def format_plugins(rows: list[dict[str, Any]], fmt: str = "table") -> str:
    """Render :func:`list_plugins` rows as ``"json"`` (an indented array) or a ``"table"``.

    The table shows name, package, version, built-in and hooks (``(disabled)`` for a disabled
    plugin); the JSON has every field.

    :raises ConfigError: an unknown format.
    """
    if fmt == "json":
        return json.dumps(rows, indent=2)
    if fmt != "table":
        raise ConfigError(f"unknown format {fmt!r}: expected 'table' or 'json'")
    header = ("NAME", "PACKAGE", "VERSION", "BUILTIN", "HOOKS")
    lines = [header] + [
        (
            r["name"],
            r["package"] or "-",
            r["version"] or "-",
            "yes" if r["builtin"] else "no",
            "(disabled)" if r.get("disabled") else ", ".join(r["hooks"]) or "-",
        )
        for r in rows
    ]
    widths = [max(len(line[i]) for line in lines) for i in range(len(header) - 1)]
    out = ["  ".join(cell.ljust(w) for cell, w in zip(line[:-1], widths)) + "  " + line[-1] for line in lines]
    if not rows:
        out.append("(no plugins)")
    return "\n".join(out)
