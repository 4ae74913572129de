"""The transport reads requests' environment settings (proxies, no_proxy, CA bundle) once, at
creation, and still sends every request with them."""

from __future__ import annotations

import random

from .fakes import ScriptedAdapter

from mail2dataverse.auth import StaticToken
from mail2dataverse.writers.transport import HttpStats, Transport


class RecordingAdapter(ScriptedAdapter):
    """Also keeps the proxies and verify each request was sent with."""

    def __init__(self):
        super().__init__(lambda request: (204, {}, b""))
        self.settings: list[tuple[dict, object]] = []

    def send(self, request, stream=False, timeout=None, verify=True, cert=None, proxies=None):
        self.settings.append((dict(proxies or {}), verify))
        return super().send(request, stream=stream, timeout=timeout, verify=verify, cert=cert, proxies=proxies)


def _transport(url: str) -> Transport:
    return Transport(url, StaticToken("t"), session=None, pool_size=2, timeout=5.0, max_retries=0, backoff_base=0.1,
                     backoff_cap=1.0, verify=True, sleep=lambda s: None, random=random.Random(1),
                     user_agent="test", stats=HttpStats())


def test_proxies_and_ca_bundle_from_the_environment_reach_every_request(monkeypatch):
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example:3128")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/etc/ssl/corp-ca.pem")
    transport = _transport("https://org.crm.dynamics.com")
    adapter = RecordingAdapter()
    transport.session.mount("https://", adapter)
    for _ in range(2):
        transport.request("GET", transport.url("WhoAmI"), data=None, headers={}, what="GET WhoAmI")
    assert [s[0].get("https") for s in adapter.settings] == ["http://proxy.example:3128"] * 2
    assert [s[1] for s in adapter.settings] == ["/etc/ssl/corp-ca.pem"] * 2


def test_no_proxy_exempts_the_org(monkeypatch):
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example:3128")
    monkeypatch.setenv("NO_PROXY", "crm.dynamics.com")
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
    transport = _transport("https://org.crm.dynamics.com")
    adapter = RecordingAdapter()
    transport.session.mount("https://", adapter)
    transport.request("GET", transport.url("WhoAmI"), data=None, headers={}, what="GET WhoAmI")
    assert "https" not in adapter.settings[0][0] and adapter.settings[0][1] is True
