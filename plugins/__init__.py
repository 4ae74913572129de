"""The built-in plugins: the policies mail2dataverse ships with, loaded like anyone else's.

This package is ``mail2dataverse.plugins``. Each submodule is one plugin, declared in the
``mail2dataverse`` entry-point group of our own ``pyproject.toml`` exactly like an external
plugin, so each can be listed (``mail2dataverse plugins --all``), replaced by a plugin that
answers first, or blocked by name (``MAIL2DATAVERSE_DISABLE_PLUGINS=freemail`` or
``plugins.disable`` in the config):

``freemail``
    Which domains are consumer or disposable mailbox providers (no account is made for them).
``accounts``
    Which account a company domain makes (its registrable domain, name and website).
``regarding``
    Which opportunity or case an email is about, by the run's profile.
``mbox``
    The ``mbox`` and ``eml`` input sources.

The machinery that loads and calls plugins is the engine's, not this package's:
:mod:`mail2dataverse.pluginmanager` (``make_plugin_manager``, the typed ``Plugins``
wrappers), :mod:`mail2dataverse.pluginlist` (the ``plugins`` listing) and
:mod:`mail2dataverse.addresses` (``domain_of``, ``registrable_domain``, shared by the
wrappers and these plugins). Nothing is re-exported here: the built-ins depend on the engine,
never the other way round, and importing this package imports none of the plugins.
"""
