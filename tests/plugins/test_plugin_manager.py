"""make_plugin_manager, the Plugins wrapper's configure/registration hooks, tracing, listing."""

from __future__ import annotations

import json
import types

import pytest

from mail2dataverse.config import RunConfig
from mail2dataverse.errors import ConfigError, PluginError
from mail2dataverse.hookspecs import hookimpl
from mail2dataverse.pluginlist import format_plugins, list_plugins
from mail2dataverse.pluginmanager import DISABLE_ENV, TRACE_ENV, Plugins, make_plugin_manager
from mail2dataverse.plugins import accounts, freemail, regarding

BUILTINS = (freemail, accounts, regarding)

# ---------------------------------------------------------------------------------------------
# configure
# ---------------------------------------------------------------------------------------------


def test_hook_configure(make_plugins):
    seen = []

    class Recorder:
        @hookimpl
        def configure(self, config):
            seen.append(config)

    config = RunConfig(profile="sales")
    plugins = make_plugins(config, extra=[Recorder()])
    assert seen == [config]
    assert plugins.config is config

    # historic: a plugin registered after the run was configured still receives it
    late = Recorder()
    plugins.pm.register(late)
    assert seen == [config, config]


def test_default_config_when_none_given():
    assert Plugins(make_plugin_manager(autoload=False)).config == RunConfig()


def test_one_manager_one_configuration():
    pm = make_plugin_manager(autoload=False)
    config = RunConfig()
    Plugins(pm, config)
    Plugins(pm, config)  # the same configuration again is harmless
    with pytest.raises(PluginError, match="already configured"):
        Plugins(pm, RunConfig(profile="sales"))


# ---------------------------------------------------------------------------------------------
# registration hooks
# ---------------------------------------------------------------------------------------------


class Shout:
    @hookimpl
    def register_transforms(self, register):
        register("shout", lambda value: None if value is None else value.upper())


def test_hook_register_transforms(make_plugins):
    transforms = make_plugins(extra=[Shout()]).transforms()
    assert set(transforms) == {"shout"}
    assert transforms["shout"]("hi") == "HI"


def test_transforms_collected_once(make_plugins):
    calls = []

    class Counting:
        @hookimpl
        def register_transforms(self, register):
            calls.append(1)
            register("noop", lambda value: value)

    plugins = make_plugins(extra=[Counting()])
    plugins.transforms()
    result = plugins.transforms()
    result.clear()  # callers get a copy
    assert calls == [1] and set(plugins.transforms()) == {"noop"}


def test_duplicate_transform_names_both_plugins(make_plugins):
    class Whisper:
        @hookimpl
        def register_transforms(self, register):
            register("shout", str.lower)

    plugins = make_plugins(extra=[("loud", Shout()), ("quiet", Whisper())])
    with pytest.raises(PluginError) as info:
        plugins.transforms()
    assert str(info.value) in (
        "transform 'shout' is registered by both plugins 'loud' and 'quiet'",
        "transform 'shout' is registered by both plugins 'quiet' and 'loud'",
    )


def test_same_plugin_registering_twice(make_plugins):
    class Twice:
        @hookimpl
        def register_transforms(self, register):
            register("x", str)
            register("x", str)

    with pytest.raises(PluginError, match="transform 'x' is registered twice by plugin 'twice'"):
        make_plugins(extra=[("twice", Twice())]).transforms()


@pytest.mark.parametrize(
    "args, message",
    [
        (("", str), "invalid name ''"),
        ((3, str), "invalid name 3"),
        (("x", "not callable"), "non-callable"),
        (("x",), "called register\\(\\) wrongly"),
    ],
)
def test_bad_transform_registration(make_plugins, args, message):
    class Bad:
        @hookimpl
        def register_transforms(self, register):
            register(*args)

    with pytest.raises(PluginError, match=message):
        make_plugins(extra=[Bad()]).transforms()


def test_hook_register_jmespath_functions(make_plugins):
    def reverse_words(value):
        return " ".join(reversed(value.split()))

    class Functions:
        @hookimpl
        def register_jmespath_functions(self, register):
            register("reverse_words", reverse_words, [["string"]])

    assert make_plugins(extra=[Functions()]).jmespath_functions() == {"reverse_words": (reverse_words, [["string"]])}


def test_bad_jmespath_signature(make_plugins):
    class Bad:
        @hookimpl
        def register_jmespath_functions(self, register):
            register("f", len, "string")

    with pytest.raises(PluginError, match="expected a list of type lists"):
        make_plugins(extra=[Bad()]).jmespath_functions()


def test_duplicate_jmespath_function(make_plugins):
    def make(fn):
        class P:
            @hookimpl
            def register_jmespath_functions(self, register):
                register("f", fn, [["string"]])

        return P()

    with pytest.raises(PluginError, match="JMESPath function 'f' is registered by both plugins"):
        make_plugins(extra=[("a", make(len)), ("b", make(str))]).jmespath_functions()


def test_hook_register_sources(make_plugins):
    def opener(path, kind, options):
        return iter([{"id": "1"}])

    def detect(path):
        return str(path).endswith(".eml")

    class Eml:
        @hookimpl
        def register_sources(self, register):
            register("eml", opener, detect)
            register("only-by-name", opener, None)

    sources = make_plugins(extra=[Eml()]).sources()
    assert sources == {"eml": (opener, detect), "only-by-name": (opener, None)}


def test_bad_source_registration(make_plugins):
    class Bad:
        @hookimpl
        def register_sources(self, register):
            register("x", None, None)

    with pytest.raises(PluginError, match="source 'x' with a non-callable"):
        make_plugins(extra=[Bad()]).sources()


def test_no_registrations_is_empty(make_plugins):
    plugins = make_plugins()
    assert plugins.transforms() == {} and plugins.jmespath_functions() == {} and plugins.sources() == {}


# ---------------------------------------------------------------------------------------------
# loading: unknown hooks, disabling
# ---------------------------------------------------------------------------------------------


def test_misspelled_hook_is_a_plugin_error():
    class Typo:
        @hookimpl
        def is_fremail(self, domain):
            return True

    with pytest.raises(PluginError, match="unknown hook 'is_fremail'"):
        make_plugin_manager(autoload=False, extra=[Typo()])


def test_wrong_hook_arguments_is_a_plugin_error():
    class WrongArgs:
        @hookimpl
        def is_freemail(self, domain, extra_argument):
            return True

    with pytest.raises(PluginError) as info:
        make_plugin_manager(autoload=False, extra=[("wrong", WrongArgs())])
    assert "\n" not in str(info.value)
    assert "Plugin 'wrong' for hook 'is_freemail'" in str(info.value)
    assert "{'extra_argument'} are declared in the hookimpl but can not be found" in str(info.value)


def test_builtins_register_under_their_entry_point_names():
    pm = make_plugin_manager(autoload=False, extra=BUILTINS)
    assert sorted(name for name, _ in pm.list_name_plugin()) == ["accounts", "freemail", "regarding"]


def test_registering_a_loaded_plugin_again_is_ignored():
    pm = make_plugin_manager(autoload=False, extra=[freemail, freemail])
    assert pm.get_plugin("freemail") is freemail


def test_name_clash_between_different_plugins():
    with pytest.raises(PluginError, match="plugin name 'freemail' is already taken"):
        make_plugin_manager(autoload=False, extra=[freemail, ("freemail", object())])


def test_disable_builtin_by_name(make_plugins):
    plugins = make_plugins(disable=["freemail"])
    assert plugins.pm.get_plugin("freemail") is None
    assert plugins.is_freemail("gmail.com") is False
    assert plugins.account_for_address("a@gmail.com", None).domain == "gmail.com"


def test_disable_builtin_by_env(make_plugins, monkeypatch):
    monkeypatch.setenv(DISABLE_ENV, " accounts , regarding")
    plugins = make_plugins()
    assert [name for name, p in plugins.pm.list_name_plugin() if p is not None] == ["freemail"]
    assert plugins.account_for_address("a@acme.com", None) is None


def test_disable_from_run_config(make_plugins):
    config = RunConfig(plugins_disable=("freemail",))
    plugins = make_plugins(config, disable=config.plugins_disable)
    assert plugins.is_freemail("gmail.com") is False


# ---------------------------------------------------------------------------------------------
# tracing
# ---------------------------------------------------------------------------------------------


def test_trace_env_prints_calls_and_results(make_plugins, monkeypatch, capsys):
    monkeypatch.setenv(TRACE_ENV, "1")
    plugins = make_plugins()
    plugins.is_freemail("gmail.com")
    plugins.account_for_address("a@acme.com", None)
    err = capsys.readouterr().err.splitlines()
    assert "[plugins] is_freemail(domain='gmail.com') <- [freemail]" in err
    assert "[plugins] is_freemail -> True" in err
    assert "[plugins] derive_account(domain='acme.com', contact=None) <- [accounts]" in err
    assert any(line.startswith("[plugins] derive_account -> DerivedAccount(domain='acme.com'") for line in err)


def test_trace_shows_exceptions(make_plugins, capsys):
    class Broken:
        @hookimpl
        def is_freemail(self, domain):
            raise RuntimeError("boom")

    plugins = make_plugins(extra=[Broken()], trace=True)
    with pytest.raises(PluginError):
        plugins.is_freemail("x.com")
    assert "[plugins] is_freemail raised RuntimeError('boom')" in capsys.readouterr().err


def test_no_trace_by_default(make_plugins, capsys):
    make_plugins().is_freemail("gmail.com")
    assert capsys.readouterr().err == ""


# ---------------------------------------------------------------------------------------------
# listing
# ---------------------------------------------------------------------------------------------


def _external_module():
    module = types.ModuleType("m2d_listing_test")
    module.__file__ = "/somewhere/m2d_listing_test.py"

    @hookimpl
    def is_freemail(domain):
        return None

    module.is_freemail = is_freemail
    return module


def test_list_plugins_json_shape(make_plugins):
    plugins = make_plugins(extra=[("listing", _external_module())])
    rows = json.loads(format_plugins(list_plugins(plugins.pm), "json"))
    assert [r["name"] for r in rows] == ["listing", "accounts", "freemail", "regarding"]
    assert rows[0] == {
        "name": "listing",
        "package": None,
        "version": None,
        "module": "m2d_listing_test",
        "file": "/somewhere/m2d_listing_test.py",
        "hooks": ["is_freemail"],
        "builtin": False,
        "disabled": False,
    }
    freemail_row = rows[2]
    assert freemail_row["package"] == "mail2dataverse"
    assert freemail_row["builtin"] is True
    assert freemail_row["hooks"] == ["configure", "is_freemail"]
    assert freemail_row["module"] == "mail2dataverse.plugins.freemail"
    assert freemail_row["file"].endswith("freemail.py")


def test_list_plugins_filters(make_plugins):
    pm = make_plugins(extra=[("listing", _external_module())]).pm
    assert [r["name"] for r in list_plugins(pm, include_builtin=False)] == ["listing"]
    assert [r["name"] for r in list_plugins(pm, hook="derive_account")] == ["accounts"]
    assert [r["name"] for r in list_plugins(pm, hook="is_freemail")] == ["listing", "freemail"]
    with pytest.raises(PluginError, match="unknown hook 'nope'; hooks are: configure, derive_account"):
        list_plugins(pm, hook="nope")


def test_list_plugins_shows_disabled_builtins(make_plugins):
    # A disabled built-in is listed as such: "why is gmail.com an account?" has an answer.
    pm = make_plugins(disable=["freemail"]).pm
    rows = list_plugins(pm)
    assert [(r["name"], r["disabled"]) for r in rows] == [("accounts", False), ("freemail", True), ("regarding", False)]
    assert rows[1]["hooks"] == [] and rows[1]["builtin"] is True and rows[1]["package"] == "mail2dataverse"
    assert "freemail   mail2dataverse" in format_plugins(rows, "table")
    assert format_plugins(rows, "table").splitlines()[2].endswith("yes      (disabled)")
    assert [r["name"] for r in list_plugins(pm, hook="is_freemail")] == []  # it implements nothing now
    assert [r["name"] for r in list_plugins(pm, include_builtin=False)] == []


def test_disabling_an_unknown_name_warns(make_plugins, caplog, monkeypatch):
    monkeypatch.setenv(DISABLE_ENV, "freemial")
    with caplog.at_level("WARNING", logger="mail2dataverse.plugins"):
        make_plugin_manager(extra=BUILTINS)
    (record,) = caplog.records
    assert record.getMessage().startswith("disabled plugin 'freemial' is not installed (installed: ")
    caplog.clear()
    monkeypatch.delenv(DISABLE_ENV)
    with caplog.at_level("WARNING", logger="mail2dataverse.plugins"):
        make_plugin_manager(disable=["freemail"])  # a real name: silent
    assert caplog.records == []


def test_format_plugins_table(make_plugins):
    from mail2dataverse import __version__

    pm = make_plugins(extra=[("listing", _external_module())]).pm
    assert format_plugins(list_plugins(pm), "table").splitlines() == [
        "NAME       PACKAGE         VERSION  BUILTIN  HOOKS",
        "listing    -               -        no       is_freemail",
        f"accounts   mail2dataverse  {__version__:<7}  yes      derive_account",
        f"freemail   mail2dataverse  {__version__:<7}  yes      configure, is_freemail",
        f"regarding  mail2dataverse  {__version__:<7}  yes      regarding_target",
    ]


def test_format_plugins_empty_and_unknown_format():
    assert format_plugins([], "table").splitlines()[-1] == "(no plugins)"
    assert format_plugins([], "json") == "[]"
    with pytest.raises(ConfigError, match="unknown format 'xml'"):
        format_plugins([], "xml")
