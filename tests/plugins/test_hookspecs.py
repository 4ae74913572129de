"""Meta-tests keeping the hook contract, its documentation and its tests in step (datasette)."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest

from mail2dataverse import hookspecs
from mail2dataverse.pluginmanager import make_plugin_manager

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs" / "plugins.md"


def hook_names() -> list[str]:
    pm = make_plugin_manager(autoload=False)
    return sorted(name for name, caller in vars(pm.hook).items() if not name.startswith("_") and caller.has_spec())


def spec(name: str):
    return getattr(hookspecs, name)


HOOKS = hook_names()


def test_the_contract_has_the_hooks_the_engine_calls():
    assert set(HOOKS) == {
        "configure",
        "register_transforms",
        "register_jmespath_functions",
        "register_sources",
        "is_freemail",
        "derive_account",
        "regarding_target",
    }


@pytest.mark.parametrize("name", HOOKS)
def test_hookspec_docstring_has_params_and_returns(name):
    doc = inspect.getdoc(spec(name)) or ""
    assert ":returns:" in doc, f"{name}: docstring lacks :returns:"
    for arg in inspect.signature(spec(name)).parameters:
        assert f":param {arg}:" in doc, f"{name}: docstring lacks :param {arg}:"


@pytest.mark.parametrize("name", HOOKS)
def test_hook_documented_with_exact_signature(name):
    docs = DOCS.read_text("utf-8")
    signature = f"{name}({', '.join(inspect.signature(spec(name)).parameters)})"
    assert f"### {signature}\n" in docs, f"docs/plugins.md has no section '### {signature}'"


@pytest.mark.parametrize("name", HOOKS)
def test_hook_has_a_test(name):
    pattern = re.compile(rf"^\s*(async\s+)?def test_hook_{name}\b", re.MULTILINE)
    found = [p for p in (ROOT / "tests").rglob("test_*.py") if pattern.search(p.read_text("utf-8"))]
    assert found, f"no test named test_hook_{name} under tests/"


def test_policy_hooks_are_firstresult_and_registration_hooks_are_not():
    pm = make_plugin_manager(autoload=False)
    for name in HOOKS:
        opts = getattr(pm.hook, name).spec.opts
        assert opts["firstresult"] is (name in {"is_freemail", "derive_account", "regarding_target"}), name
    assert pm.hook.configure.spec.opts["historic"] is True


def test_builtin_hookimpls_are_trylast_and_documented():
    from mail2dataverse.plugins import accounts, freemail, regarding

    for module in (freemail, accounts, regarding):
        impls = [getattr(module, n) for n in dir(module) if hasattr(getattr(module, n), "mail2dataverse_impl")]
        assert impls, module.__name__
        for impl in impls:
            assert impl.mail2dataverse_impl["trylast"] is True, f"{module.__name__}.{impl.__name__}"
            assert inspect.getdoc(impl), f"{module.__name__}.{impl.__name__} has no docstring"
