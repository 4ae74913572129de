"""Token expiry mid-run through the real msal provider class (with a cache-keeping fake msal app)."""

from __future__ import annotations

import itertools

from mail2dataverse.auth import MsalClientCredentials
from mail2dataverse.demo import seed_org
from mail2dataverse.emulator import Emulator

from .conftest import run_sync, snapshot

SECRET = "client-secret-value-7f3a"


class CachingApp:
    """Behaves like msal's ConfidentialClientApplication for client credentials: the first call
    goes to "Entra ID", later calls answer from the cache until its tokens are removed."""

    issued = itertools.count(1)

    def __init__(self, client_id, client_credential, authority, token_cache):
        self.cached: str | None = None
        self.from_idp = 0

    def acquire_token_for_client(self, scopes):
        if self.cached is None:
            self.cached = f"access-token-{next(self.issued)}"
            self.from_idp += 1
            return {"access_token": self.cached, "token_source": "identity_provider", "expires_in": 3599}
        return {"access_token": self.cached, "token_source": "cache"}

    def remove_tokens_for_client(self):
        self.cached = None


def test_tokens_expiring_during_the_run_are_renewed_through_msal_and_nothing_fails(sample_config):
    auth = MsalClientCredentials("https://contoso.crm.dynamics.com", "tenant", "client",
                                 client_secret=SECRET, app_factory=CachingApp)
    with Emulator() as clean:
        seed_org(clean)
        run_sync(clean, sample_config)
        reference = snapshot(clean)
    # Every token stops working 50 ms after its first use: msal's cached token is refused, the
    # client drops it (remove_tokens_for_client), gets a new one and resends once. (Not 0 s:
    # requests in flight together share a token, and a token dead at its second use would fail
    # whichever of them came second, however often it was renewed.) The latency makes the run
    # outlast several tokens whatever the machine's speed: its phases are a dozen round trips
    # one after the other, 30 ms each at the least.
    with Emulator(token_ttl=0.05, latency_ms=30) as emu:
        seed_org(emu)
        report = run_sync(emu, sample_config, auth=auth)
        assert report.failed == 0, report.failures
        assert snapshot(emu) == reference
    assert auth.refreshes >= 2 and auth._app.from_idp == auth.refreshes + 1
    assert report.http["auth_refreshes"] == auth.refreshes
    assert SECRET not in report.to_json() and "access-token-" not in report.to_json()
