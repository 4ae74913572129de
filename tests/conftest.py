"""Fixtures every test gets."""

import fuzz_profiles  # noqa: F401 - registers and loads the Hypothesis profile before any test module
import pytest


@pytest.fixture(autouse=True)
def _fresh_token_providers(monkeypatch):
    """``auth_from_env`` keeps one msal application per credential for the whole process; each
    test starts without them, so a fake msal patched in one test never serves another."""
    import mail2dataverse.auth as auth_module

    monkeypatch.setattr(auth_module, "_PROVIDERS", {})
