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
