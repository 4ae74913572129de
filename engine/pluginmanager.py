"""The plugin manager and the typed hook wrappers: how the engine loads and calls plugins.

Beside :mod:`mail2dataverse.hookspecs` (what a plugin may implement) lives what the engine
does with plugins:

- :func:`make_plugin_manager` builds a :class:`pluggy.PluginManager` (hookspecs, blocked
  names, entry points, explicit extras, ``check_pending``, optional tracing);
- :class:`Plugins` wraps it with one typed method per hook. Engine code never calls
  ``pm.hook.x(...)`` directly: the wrapper decides in one place what "nobody answered" means,
  caches per-domain answers and checks every answer's type, so a broken plugin fails with a
  :class:`~mail2dataverse.errors.PluginError` instead of a confusing error three stages later.

Listing the plugins (``mail2dataverse plugins``) is :mod:`mail2dataverse.pluginlist`; the
address and domain helpers the wrappers and the built-in plugins share are
:mod:`mail2dataverse.addresses`; the built-in plugins themselves are the package
:mod:`mail2dataverse.plugins`, loaded through their entry points like any other plugin (this
module names them, it never imports them).

Why ``pluginmanager`` and not ``engine/plugins.py``: the package-dir map makes ``plugins/``
the package ``mail2dataverse.plugins``, so a module ``engine/plugins.py`` would have the same
import name. Editable installs resolved that name to the module (and the built-ins could not be
imported), wheels to the package (and the manager vanished). One name, one file.
"""

from __future__ import annotations


import logging
import os
import reprlib
import sys
import weakref
from collections.abc import Callable, Iterable
from typing import Any

import pluggy

from . import hookspecs
from .addresses import domain_of, normalize_domain, registrable_domain
from .config import RunConfig
from .errors import Mail2DataverseError, PluginError
from .lookup import OrgLookup, target_problem
from .model import DerivedAccount, RegardingTarget

__all__ = [
    "AUTOLOAD_ENV",
    "BUILTIN_NAMES",
    "DISABLE_ENV",
    "ENTRY_POINT_GROUP",
    "TRACE_ENV",
    "Plugins",
    "make_plugin_manager",
]

ENTRY_POINT_GROUP = hookspecs.PROJECT_NAME
DISABLE_ENV = "MAIL2DATAVERSE_DISABLE_PLUGINS"
AUTOLOAD_ENV = "MAIL2DATAVERSE_PLUGINS_AUTOLOAD"
TRACE_ENV = "MAIL2DATAVERSE_TRACE_PLUGINS"

#: The distribution whose plugins count as built-in in listings.
BUILTIN_DISTRIBUTION = "mail2dataverse"
#: The package of the built-in plugins; its modules register under their short names.
BUILTIN_PACKAGE = "mail2dataverse.plugins"
_BUILTIN_PREFIX = BUILTIN_PACKAGE + "."

_FALSE_WORDS = ("0", "false", "no", "off", "")

#: The built-in plugins by name (their entry points in our own pyproject).
BUILTIN_NAMES = ("freemail", "accounts", "regarding", "mbox")

# Named after the package users know the plugin warnings by (log filters and tests select
# ``mail2dataverse.plugins``), not after this module.
log = logging.getLogger(BUILTIN_PACKAGE)


# ---------------------------------------------------------------------------------------------
# Building the manager
# ---------------------------------------------------------------------------------------------


def make_plugin_manager(
    *,
    disable: Iterable[str] = (),
    autoload: bool | None = None,
    extra: Iterable[Any] = (),
    trace: bool | None = None,
) -> pluggy.PluginManager:
    """Build a plugin manager: hookspecs, blocked names, entry points, then ``extra`` plugins.

    :param disable: plugin names to block (built-ins included: ``freemail``, ``accounts``,
        ``regarding``, ``mbox``), added to the comma-separated names in
        ``MAIL2DATAVERSE_DISABLE_PLUGINS``. The CLI passes ``RunConfig.plugins_disable`` here.
    :param autoload: load the ``mail2dataverse`` entry points; default from
        ``MAIL2DATAVERSE_PLUGINS_AUTOLOAD`` (``0``/``false``/``no`` turn it off), else True.
        Tests pass ``False`` and list their plugins in ``extra`` so that nothing installed in
        the developer's venv changes results.
    :param extra: plugin modules or objects to register after the entry points, or
        ``(name, plugin)`` pairs. A module inside ``mail2dataverse.plugins`` is registered under
        its short name (``freemail``), the name its entry point uses, so blocking and listing
        treat it the same however it was loaded. A blocked name is skipped silently, like a
        blocked entry point.
    :param trace: print every hook call and its result to stderr; default from
        ``MAIL2DATAVERSE_TRACE_PLUGINS`` (``1`` turns it on).
    :returns: the ready manager; pass it to :class:`Plugins`.
    :raises PluginError: a plugin fails to import or register, or implements a hook that does
        not exist (a misspelled ``is_fremail`` must fail loudly, not be ignored).
    """
    pm = pluggy.PluginManager(hookspecs.PROJECT_NAME)
    pm.add_hookspecs(hookspecs)
    blocked = {n.strip() for n in os.environ.get(DISABLE_ENV, "").split(",") if n.strip()}
    blocked.update(n.strip() for n in disable if n.strip())
    for name in sorted(blocked):
        pm.set_blocked(name)
    if autoload is None:
        autoload = os.environ.get(AUTOLOAD_ENV, "1").strip().lower() not in _FALSE_WORDS
    if autoload:
        _warn_unknown_blocked(blocked, extra)
        try:
            pm.load_setuptools_entrypoints(ENTRY_POINT_GROUP)
        except Exception as exc:  # a third-party plugin's import error must not be a traceback
            name = _failing_entry_point(pm)
            hint = f"plugin {name!r}" if name else f"a {ENTRY_POINT_GROUP} plugin"
            block = f" (block it with {DISABLE_ENV}={name})" if name else ""
            raise PluginError(f"could not load {hint}: {_one_line(str(exc))}{block}") from exc
    for item in extra:
        name, plugin = item if isinstance(item, tuple) else (_default_name(pm, item), item)
        if pm.is_registered(plugin):
            continue  # already loaded through its entry point: registering twice is not an error
        if pm.has_plugin(name) and not pm.is_blocked(name):
            raise PluginError(f"plugin name {name!r} is already taken by {pm.get_plugin(name)!r}")
        try:
            pm.register(plugin, name=name)
        except pluggy.PluginValidationError as exc:
            raise PluginError(_one_line(str(exc))) from exc
    try:
        pm.check_pending()
    except pluggy.PluginValidationError as exc:
        raise PluginError(_one_line(str(exc))) from exc
    if trace is None:
        trace = os.environ.get(TRACE_ENV, "").strip().lower() not in _FALSE_WORDS
    if trace:
        _add_tracing(pm)
        _traced.add(pm)
    return pm


def installed_entry_points() -> dict[str, tuple[Any, Any]]:
    """``{name: (entry point, distribution)}`` of the installed ``mail2dataverse`` plugins."""
    import importlib.metadata

    found: dict[str, tuple[Any, Any]] = {}
    for dist in importlib.metadata.distributions():
        for ep in dist.entry_points:
            if ep.group == ENTRY_POINT_GROUP:
                found.setdefault(ep.name, (ep, dist))
    return found


def _warn_unknown_blocked(blocked: set[str], extra: Iterable[Any]) -> None:
    """Warn about disabled names that match no plugin: a typo would otherwise leave the
    plugin the user meant to disable running, silently (``freemial`` instead of ``freemail``).
    A warning, not an error: a shared config may name a plugin not installed everywhere.
    """
    if not blocked:
        return
    known = set(installed_entry_points()) | set(BUILTIN_NAMES)
    known.update(item[0] for item in extra if isinstance(item, tuple))
    for name in sorted(blocked - known):
        log.warning(
            "disabled plugin %r is not installed (installed: %s); check the spelling in %s or plugins.disable",
            name,
            ", ".join(sorted(known)),
            DISABLE_ENV,
        )


def _failing_entry_point(pm: pluggy.PluginManager) -> str | None:
    """Name the entry point that broke loading: pluggy's error does not say which one."""
    import importlib.metadata

    for dist in importlib.metadata.distributions():
        for ep in dist.entry_points:
            if ep.group != ENTRY_POINT_GROUP or pm.has_plugin(ep.name) or pm.is_blocked(ep.name):
                continue
            try:
                ep.load()
            except Exception:
                return ep.name
    return None


def _one_line(text: str) -> str:
    # pluggy's validation messages span lines; ours are one line (see errors.py).
    return "; ".join(part.strip() for part in text.splitlines() if part.strip())


def _default_name(pm: pluggy.PluginManager, plugin: Any) -> str:
    module_name = getattr(plugin, "__name__", "")
    if isinstance(module_name, str) and module_name.startswith(_BUILTIN_PREFIX):
        return module_name[len(_BUILTIN_PREFIX) :]
    return pm.get_canonical_name(plugin)


_trace_repr = reprlib.Repr()
_trace_repr.maxstring = 80  # a message body in the trace would drown every other line
_trace_repr.maxother = 80
_trace_repr.maxdict = 8
_trace_repr.maxlist = 8


def _add_tracing(pm: pluggy.PluginManager) -> None:
    """Print ``hook(args) <- [plugins]`` before and ``hook -> result`` after every hook call."""

    def before(hook_name: str, impls: list[Any], kwargs: dict[str, Any]) -> None:
        args = ", ".join(f"{k}={_trace_repr.repr(v)}" for k, v in kwargs.items())
        names = ", ".join(impl.plugin_name for impl in reversed(impls))  # call order
        print(f"[plugins] {hook_name}({args}) <- [{names}]", file=sys.stderr)

    def after(outcome: Any, hook_name: str, impls: list[Any], kwargs: dict[str, Any]) -> None:
        if outcome.exception is not None:
            print(f"[plugins] {hook_name} raised {outcome.exception!r}", file=sys.stderr)
        else:
            print(f"[plugins] {hook_name} -> {_trace_repr.repr(outcome.get_result())}", file=sys.stderr)

    pm.add_hookcall_monitoring(before, after)



# ---------------------------------------------------------------------------------------------
# The typed wrappers
# ---------------------------------------------------------------------------------------------

# Managers already configured, with the config they got: a second Plugins with another
# config would leave plugins holding two different configurations.
_configured: weakref.WeakKeyDictionary[pluggy.PluginManager, RunConfig] = weakref.WeakKeyDictionary()
#: plugin managers with call tracing on: their hooks must go through pluggy to be traced
_traced: weakref.WeakSet = weakref.WeakSet()

_MISSING = object()
#: what every regarding_target context carries; a missing one is filled from the run
_CONTEXT_KEYS = frozenset({"profile", "owner_addresses", "config", "lookup"})
#: regarding answers kept checked and signed (a plugin answering per domain has a few hundred)
_CHECKED_MAX = 4096


class Plugins:
    """The only way engine code calls hooks: one typed method per hook, answers checked.

    Build it once per run: ``Plugins(make_plugin_manager(disable=config.plugins_disable),
    config)``. Construction calls the historic ``configure`` hook, so plugins registered later
    still receive the configuration.

    :ivar pm: the underlying :class:`pluggy.PluginManager` (for :func:`list_plugins`).
    :ivar config: the run configuration given to the plugins.
    :ivar lookup: the run's :class:`~mail2dataverse.lookup.OrgLookup`, given to
        ``regarding_target`` as ``context["lookup"]``; the planner resolves and caches through it.
    """

    def __init__(self, pm: pluggy.PluginManager, config: RunConfig | None = None):
        """Wrap ``pm`` and send ``config`` (defaults when None) to every plugin's ``configure``.

        :raises PluginError: ``pm`` was already configured with a different configuration, or
            a plugin's ``configure`` failed.
        """
        self.pm = pm
        self.config = config if config is not None else RunConfig()
        previous = _configured.get(pm)
        if previous is None:
            _configured[pm] = self.config
            self._call("configure", lambda: pm.hook.configure.call_historic(kwargs={"config": self.config}))
        elif previous is not self.config:
            raise PluginError("this plugin manager is already configured for another run; build a new one")
        self._freemail: dict[str, bool] = {}
        self._accounts: dict[str, DerivedAccount | None] = {}
        self._transforms: dict[str, Callable[..., Any]] | None = None
        self._functions: dict[str, tuple[Callable[..., Any], list[Any]]] | None = None
        self._sources: dict[str, tuple[Callable[..., Any], Callable[..., Any] | None]] | None = None
        self._regarding = _first_result_caller(pm, "regarding_target")
        self._regarding_only = _only_implementation(pm, "regarding_target")
        self._checked: dict[int, tuple[Any, str, RegardingTarget]] = {}
        self.lookup = OrgLookup()

    def __repr__(self) -> str:
        return f"<Plugins {sorted(n for n, _ in self.pm.list_name_plugin())} profile={self.config.profile!r}>"

    # -- registration hooks ------------------------------------------------------------------

    def transforms(self) -> dict[str, Callable[..., Any]]:
        """Return the transforms plugins registered, ``{name: function}``.

        Collected once per instance (the hook runs when mappings are compiled).

        :raises PluginError: a name registered twice (the message names both plugins), a name
            that is not a non-empty string, or a function that is not callable.
        """
        if self._transforms is None:
            found: dict[str, Callable[..., Any]] = {}

            def accept(plugin: str, owners: dict[str, str], name: Any, function: Any) -> None:
                _check_name("transform", plugin, name, owners)
                if not callable(function):
                    raise PluginError(f"plugin {plugin!r} registered transform {name!r} with a non-callable {function!r}")
                owners[name] = plugin
                found[name] = function

            self._collect("register_transforms", accept)
            self._transforms = found
        return dict(self._transforms)

    def jmespath_functions(self) -> dict[str, tuple[Callable[..., Any], list[Any]]]:
        """Return the JMESPath functions plugins registered, ``{name: (function, signature)}``.

        ``signature`` is kept as registered: a list with one entry per argument, each a list of
        JMESPath type names (``[["string", "null"]]``) or a dict in jmespath's own form
        (``{"types": ["string"], "variadic": True}``).

        :raises PluginError: a duplicate name (naming both plugins), a non-callable function
            or a signature that is not a list.
        """
        if self._functions is None:
            found: dict[str, tuple[Callable[..., Any], list[Any]]] = {}

            def accept(plugin: str, owners: dict[str, str], name: Any, function: Any, signature: Any) -> None:
                _check_name("JMESPath function", plugin, name, owners)
                if not callable(function):
                    raise PluginError(f"plugin {plugin!r} registered JMESPath function {name!r} with a non-callable {function!r}")
                if not isinstance(signature, (list, tuple)) or not all(
                    isinstance(arg, (list, tuple, dict)) for arg in signature
                ):
                    raise PluginError(
                        f"plugin {plugin!r} registered JMESPath function {name!r} with signature {signature!r}: "
                        'expected a list of type lists, e.g. [["string", "null"]]'
                    )
                owners[name] = plugin
                found[name] = (function, list(signature))

            self._collect("register_jmespath_functions", accept)
            self._functions = found
        return dict(self._functions)

    def sources(self) -> dict[str, tuple[Callable[..., Any], Callable[..., Any] | None]]:
        """Return the input sources plugins registered, ``{name: (opener, detect)}``.

        ``detect`` may be None: such a source is used only when named explicitly.

        :raises PluginError: a duplicate name (naming both plugins) or a non-callable opener
            or detector.
        """
        if self._sources is None:
            found: dict[str, tuple[Callable[..., Any], Callable[..., Any] | None]] = {}

            def accept(plugin: str, owners: dict[str, str], name: Any, opener: Any, detect: Any = None) -> None:
                _check_name("source", plugin, name, owners)
                if not callable(opener) or not (detect is None or callable(detect)):
                    raise PluginError(f"plugin {plugin!r} registered source {name!r} with a non-callable opener or detect")
                owners[name] = plugin
                found[name] = (opener, detect)

            self._collect("register_sources", accept)
            self._sources = found
        return dict(self._sources)

    def _collect(self, hook_name: str, accept: Callable[..., None]) -> None:
        """Call a ``register_*`` hook plugin by plugin so each registration knows its plugin.

        One subset call per plugin (instead of one call for all) is what lets a duplicate name
        say which two plugins collided; it still goes through pluggy, so tracing shows it.
        """
        caller = getattr(self.pm.hook, hook_name)
        impls = list(reversed(caller.get_hookimpls()))  # pluggy's call order
        owners: dict[str, str] = {}
        for impl in impls:
            others = [other.plugin for other in impls if other is not impl]
            subset = self.pm.subset_hook_caller(hook_name, remove_plugins=others)

            def register(*args: Any, _plugin: str = impl.plugin_name, **kwargs: Any) -> None:
                try:
                    accept(_plugin, owners, *args, **kwargs)
                except TypeError as exc:
                    raise PluginError(f"plugin {_plugin!r} called register() wrongly in {hook_name}: {exc}") from exc

            self._call(hook_name, lambda: subset(register=register))

    # -- policy hooks ------------------------------------------------------------------------

    def is_freemail(self, domain: str) -> bool:
        """Return True when ``domain`` is a consumer or disposable mailbox provider.

        The domain is lower-cased and stripped first; the answer is cached per domain for the
        life of this object. When no plugin answers, the domain is a company domain (False).

        :raises PluginError: a plugin answered something other than True, False or None.
        """
        d = normalize_domain(domain)
        cached = self._freemail.get(d)
        if cached is not None:
            return cached
        answer = self._call("is_freemail", lambda: self.pm.hook.is_freemail(domain=d))
        if answer is not None and not isinstance(answer, bool):
            raise PluginError(f"is_freemail({d!r}) returned {answer!r}: expected True, False or None")
        result = bool(answer)
        self._freemail[d] = result
        return result

    def registrable_domain(self, domain: str) -> str:
        """Return the registrable domain of ``domain`` (see :func:`registrable_domain`)."""
        return registrable_domain(domain)

    def account_for_address(self, address: str, contact: dict[str, Any] | None = None) -> DerivedAccount | None:
        """Return the account an address belongs to, or None.

        None when the address has no usable domain (:func:`domain_of`), when the domain is
        freemail, or when the ``derive_account`` hook answers False or nothing. The answer is
        cached per domain (the hook is asked once per distinct domain per run), so the
        ``contact`` passed with the first address of a domain is the one the plugins see.

        :param address: an e-mail address as it appears in the export.
        :param contact: the Nylas contact record the address came from, or None for a message
            participant.
        :raises PluginError: the hook answered something other than a
            :class:`~mail2dataverse.model.DerivedAccount` (with a non-empty ``domain`` and a
            dict ``data``), False or None.
        """
        d = domain_of(address)
        if d is None:
            return None
        cached = self._accounts.get(d, _MISSING)
        if cached is not _MISSING:
            return cached  # type: ignore[return-value]
        account: DerivedAccount | None = None
        if not self.is_freemail(d):
            answer = self._call("derive_account", lambda: self.pm.hook.derive_account(domain=d, contact=contact))
            if answer is None or answer is False:
                account = None
            elif (
                isinstance(answer, DerivedAccount)
                and isinstance(answer.domain, str)
                and answer.domain
                and isinstance(answer.data, dict)
            ):
                account = answer
            else:
                raise PluginError(
                    f"derive_account({d!r}) returned {answer!r}: expected a DerivedAccount "
                    "(non-empty domain, dict data), False or None"
                )
        self._accounts[d] = account
        return account

    def regarding_target(self, message: dict[str, Any], context: dict[str, Any]) -> RegardingTarget | None:
        """Return what ``message`` is regarding, or None to leave it unlinked.

        ``context`` should carry ``external_domains`` (registrable domains of the non-owner,
        non-freemail participants, in order); ``profile``, ``owner_addresses``, ``config`` and
        ``lookup`` (this run's :class:`~mail2dataverse.lookup.OrgLookup`) are filled in when
        missing.

        :raises PluginError: the hook answered something other than a
            :class:`~mail2dataverse.model.RegardingTarget`, False or None, or a target of an
            unknown form (a ``by`` outside :data:`~mail2dataverse.lookup.REGARDING_FORMS`, a
            missing ``column``...); the message names the plugin and the field.
        """
        if not _CONTEXT_KEYS.issubset(context):
            context = {
                "profile": self.config.profile,
                "owner_addresses": self.config.owner_addresses,
                "external_domains": [],
                "config": self.config,
                "lookup": self.lookup,
                **context,
            }
        try:
            if self._regarding_only is not None:  # one implementation (the built-in): no loop
                function, plugin = self._regarding_only
                answer = function(message, context)
            else:
                answer, plugin = self._regarding(message, context)
        except Mail2DataverseError:
            raise
        except Exception as exc:  # the one-line PluginError of _call, without a closure per email
            raise PluginError(f"plugin hook regarding_target failed: {type(exc).__name__}: {exc}") from exc
        if answer is None or answer is False:
            return None
        # A plugin that answers many emails with one (immutable) target is checked and signed
        # once: the entry holds the answer, so its id cannot be reused while the entry lives.
        checked = self._checked.get(id(answer))
        if checked is not None and checked[0] is answer and checked[1] == plugin:
            return checked[2]
        problem = target_problem(answer) if isinstance(answer, RegardingTarget) else None
        if problem is not None or not isinstance(answer, RegardingTarget):
            who = plugin or _answerer(self.pm, "regarding_target", {"message": message, "context": context})
            ref = message.get("id") if isinstance(message, dict) else None
            what = (f"answered field {problem[0]!r} with {problem[1]}" if problem is not None
                    else f"returned {answer!r}: expected a RegardingTarget, False or None")
            raise PluginError(f"plugin {who!r}: regarding_target(message {ref!r}) {what}")
        signed = _signed(answer, plugin)
        if len(self._checked) >= _CHECKED_MAX:
            self._checked.clear()
        self._checked[id(answer)] = (answer, plugin, signed)
        return signed

    @staticmethod
    def _call(hook_name: str, call: Callable[[], Any]) -> Any:
        # A plugin's own exception becomes a one-line PluginError naming the hook; errors the
        # engine raises on purpose (PluginError from register(), RecordError...) pass through.
        try:
            return call()
        except Mail2DataverseError:
            raise
        except Exception as exc:
            raise PluginError(f"plugin hook {hook_name} failed: {type(exc).__name__}: {exc}") from exc


def _first_result_caller(pm: pluggy.PluginManager, hook_name: str) -> Callable[..., tuple[Any, str]]:
    """A caller for a per-record ``firstresult`` hook with pluggy's order and semantics.

    pluggy's general machinery costs about 10 µs a call, a fifth of mapping an email. The
    implementations are fixed once the run is configured (like the transforms and sources
    :class:`Plugins` collects), so they are listed once, in pluggy's calling order (tryfirst
    first, trylast last; last registered first), and called directly with the arguments each
    one declares. With hook wrappers or tracing in play, pluggy itself is called.

    The caller takes the hook's arguments positionally, in the hookspec's order, and
    answers ``(answer, name of the plugin that gave it)`` (the name is ``""`` when pluggy
    itself was called, or nobody answered).
    """
    caller = getattr(pm.hook, hook_name)
    impls = caller.get_hookimpls()
    spec = tuple(caller.spec.argnames)
    if pm in _traced or any(i.hookwrapper or i.wrapper for i in impls):
        return lambda *args: (caller(**dict(zip(spec, args))), "")
    # An implementation declaring the spec's arguments in the spec's order (the built-ins
    # do) is called with them as they come; any other picks its own, by position.
    order = [(i.function, None if tuple(i.argnames) == spec else tuple(spec.index(n) for n in i.argnames),
              i.plugin_name) for i in reversed(impls)]

    def first_result(*args: Any) -> tuple[Any, str]:
        for function, picks, plugin in order:
            answer = function(*args) if picks is None else function(*[args[i] for i in picks])
            if answer is not None:
                return answer, plugin
        return None, ""

    return first_result


def _only_implementation(pm: pluggy.PluginManager, hook_name: str) -> tuple[Callable[..., Any], str] | None:
    """``(function, plugin name)`` when one plain implementation answers the hook (the usual
    case: the built-in alone) and declares the spec's arguments in order, else None: then
    the first-result caller asks them all (:func:`_first_result_caller`)."""
    caller = getattr(pm.hook, hook_name)
    impls = caller.get_hookimpls()
    if pm in _traced or len(impls) != 1 or impls[0].hookwrapper or impls[0].wrapper:
        return None
    if tuple(impls[0].argnames) != tuple(caller.spec.argnames):
        return None
    return impls[0].function, impls[0].plugin_name


def _signed(answer: RegardingTarget, plugin: str) -> RegardingTarget:
    """``answer`` naming the plugin that gave it: the preview says which plugin chose a link,
    and a plugin rarely names itself."""
    return answer.signed(plugin) if plugin and not answer.plugin else answer


def _answerer(pm: pluggy.PluginManager, hook_name: str, kwargs: dict[str, Any]) -> str:
    """The plugin whose answer won, found by asking again in pluggy's order.

    Only on the error path, and only when pluggy itself was called (tracing, hook wrappers)
    so the fast caller could not say: hooks are meant to be pure, so asking twice gives the
    same answer.
    """
    for impl in reversed(getattr(pm.hook, hook_name).get_hookimpls()):
        if impl.hookwrapper or impl.wrapper:
            continue
        try:
            if impl.function(*[kwargs[name] for name in impl.argnames]) is not None:
                return impl.plugin_name
        except Exception:  # noqa: BLE001 - the error being reported matters, not this one
            return impl.plugin_name
    return "unknown"


def _check_name(kind: str, plugin: str, name: Any, owners: dict[str, str]) -> None:
    if not isinstance(name, str) or not name:
        raise PluginError(f"plugin {plugin!r} registered a {kind} with an invalid name {name!r}")
    if name in owners:
        first = owners[name]
        who = f"twice by plugin {plugin!r}" if first == plugin else f"by both plugins {first!r} and {plugin!r}"
        raise PluginError(f"{kind} {name!r} is registered {who}")
