"""Plugins.regarding_target calls implementations directly, with pluggy's order and semantics."""

from mail2dataverse.config import RunConfig
from mail2dataverse.hookspecs import hookimpl
from mail2dataverse.model import RegardingTarget
from mail2dataverse.pluginmanager import Plugins, make_plugin_manager
from mail2dataverse.plugins import regarding as builtin_regarding

MESSAGE = {"id": "m1", "subject": "[CAS-01234-A1B2C3] help"}
CONTEXT = {"external_domains": ["acme.example"]}


class OnlyMessage:
    """Declares a subset of the hook's arguments, as pluggy allows."""

    @hookimpl
    def regarding_target(self, message):
        return RegardingTarget("incident", "column", "X-1", column="ticketnumber", reason="only message")


class NoOpinion:
    @hookimpl(tryfirst=True)
    def regarding_target(self, message, context):
        self.asked = True
        return None


def test_an_installed_plugin_beats_the_trylast_built_in_and_none_passes_on():
    no_opinion = NoOpinion()
    pm = make_plugin_manager(autoload=False, extra=[("regarding", builtin_regarding), OnlyMessage(), no_opinion])
    plugins = Plugins(pm, RunConfig(profile="service"))
    answer = plugins.regarding_target(MESSAGE, CONTEXT)
    assert no_opinion.asked
    assert answer.reason == "only message"
    # the same answer pluggy itself gives
    assert pm.hook.regarding_target(message=MESSAGE, context={**CONTEXT, "profile": "service",
                                                              "owner_addresses": (), "config": plugins.config}) == answer


def test_false_from_a_plugin_stops_the_chain():
    class Never:
        @hookimpl
        def regarding_target(self, message, context):
            return False

    pm = make_plugin_manager(autoload=False, extra=[("regarding", builtin_regarding), Never()])
    assert Plugins(pm, RunConfig(profile="service")).regarding_target(MESSAGE, CONTEXT) is None


def test_with_tracing_every_call_goes_through_pluggy(capsys):
    pm = make_plugin_manager(autoload=False, extra=[("regarding", builtin_regarding)], trace=True)
    target = Plugins(pm, RunConfig(profile="service")).regarding_target(MESSAGE, CONTEXT)
    assert target.value == "CAS-01234-A1B2C3"
    assert "regarding_target" in capsys.readouterr().err


SHARED = RegardingTarget("incident", "column", "CAS-00001-AAAAAA", column="ticketnumber", reason="shared")


class FirstForA:
    @hookimpl(tryfirst=True)
    def regarding_target(self, message, context):
        return SHARED if message.get("id") == "a" else None


class Always:
    @hookimpl
    def regarding_target(self, message, context):
        return SHARED


def test_one_answer_object_from_two_plugins_names_each_answerer():
    # The engine checks and signs an answer object once; the plugin that gave it still counts.
    pm = make_plugin_manager(autoload=False, extra=[("first", FirstForA()), ("always", Always())])
    plugins = Plugins(pm, RunConfig(profile="service"))
    answers = [plugins.regarding_target({"id": i}, CONTEXT) for i in ("a", "b", "a", "b")]
    assert [t.plugin for t in answers] == ["first", "always", "first", "always"]
    assert answers[0] == answers[2] == SHARED and SHARED.plugin == ""  # signing makes a new object


class ContextFirst:
    """Declares the hook's arguments in another order than the hookspec."""

    @hookimpl
    def regarding_target(self, context, message):
        return RegardingTarget("opportunity", "account_newest_open", context["external_domains"][0],
                               reason=f"for {message['id']}")


def test_arguments_reach_an_implementation_by_name_in_any_order():
    for extra in ([("mine", ContextFirst())], [("regarding", builtin_regarding), ("mine", ContextFirst())]):
        pm = make_plugin_manager(autoload=False, extra=extra)
        answer = Plugins(pm, RunConfig(profile="sales")).regarding_target(MESSAGE, CONTEXT)
        assert (answer.value, answer.reason, answer.plugin) == ("acme.example", "for m1", "mine")


def test_a_plugin_that_raises_is_a_one_line_plugin_error_naming_the_hook():
    class Broken:
        @hookimpl
        def regarding_target(self, message, context):
            raise ValueError("boom")

    import pytest

    from mail2dataverse.errors import PluginError

    for extra in ([("broken", Broken())], [("regarding", builtin_regarding), ("broken", Broken())]):
        plugins = Plugins(make_plugin_manager(autoload=False, extra=extra), RunConfig(profile="service"))
        with pytest.raises(PluginError, match=r"^plugin hook regarding_target failed: ValueError: boom$"):
            plugins.regarding_target(MESSAGE, CONTEXT)


def test_an_invalid_answer_fails_every_time_not_only_the_first():
    class Typo:
        @hookimpl
        def regarding_target(self, message, context):
            return BAD

    import pytest

    from mail2dataverse.errors import PluginError

    BAD = RegardingTarget("incident", "colunm", "X", column="ticketnumber")
    plugins = Plugins(make_plugin_manager(autoload=False, extra=[("typo", Typo())]), RunConfig(profile="service"))
    for _ in range(2):
        with pytest.raises(PluginError, match="plugin 'typo'.*'by'"):
            plugins.regarding_target(MESSAGE, CONTEXT)
