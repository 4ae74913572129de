"""First contact with an org: does the URL answer, and is what answers a Dataverse Web API?

A wrong URL, a closed port, a host name that does not resolve or a certificate the client does
not trust will never get better by retrying, so until the org has answered once the sync does
not retry at all: :func:`probe` sends one ``GET WhoAmI`` and either returns who the token is
(:class:`OrgIdentity`) or raises :class:`OrgUnreachable` naming the cause, within seconds. Only
an org that has answered gets the client's retries with backoff (``writers/webapi.py``).

Causes, as ``OrgUnreachable.cause``:

=================  ==============================================================
``dns``            the host name does not resolve
``refused``        nothing listens on that host and port
``timeout``        no TCP connection within the connect timeout (firewall, wrong port)
``tls``            the TLS handshake failed (untrusted certificate, wrong host name)
``dropped``        connections were accepted but closed or unanswered, every attempt
``not_dataverse``  something answered, but not as the Dataverse Web API does
``token_refused``  the org answered 401: it does not accept the token
``forbidden``      the org answered 403: the application user cannot work in it
=================  ==============================================================

Nothing here ever formats a token or an ``Authorization`` header: messages hold the URL, the
status and the service's own error text.
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import requests

from .errors import ConfigError

#: (connect, read) seconds: a TCP connection is quick or absent; WhoAmI answers in well under
#: a second on a healthy org, 30 s leaves room for a cold one.
TIMEOUT = (5.0, 30.0)
#: tries for the causes that may be transient (a dropped connection, an unmarked 502/503/504)
ATTEMPTS = 3

_HINTS = {
    "dns": "check the URL's host name (an org URL looks like https://contoso.crm.dynamics.com)",
    "refused": "check the URL and port; for the local emulator start `mail2dataverse emulator --port N` first",
    "timeout": "check the URL and port, and that a firewall or proxy lets the connection through",
    "tls": ("the server's certificate is not trusted or not for this host name: fix the URL, or pass "
            "--ca-file PEM for a private CA (the emulator's --tls prints its CA file)"),
    "dropped": "the server closed every connection: check the URL, or try again when the org is reachable",
    "not_dataverse": ("the URL must be the org's root (https://ORG.crm.dynamics.com), without /api/data/v9.2 "
                      "or a path of its own"),
    "token_refused": ("the org did not accept the token: check AZURE_TENANT_ID and AZURE_CLIENT_ID, and that "
                      "the app registration is an application user of this org (Power Platform admin center "
                      "→ Environments → Settings → Users + permissions → Application users)"),
    "forbidden": ("the application user exists but may not work in this org: enable it and give it a security "
                  "role (`mail2dataverse doctor` lists the privileges a sync needs)"),
}


class OrgUnreachable(ConfigError):
    """The org could not be reached or is not a Dataverse org; ``cause`` names why (see module)."""

    def __init__(self, cause: str, message: str):
        self.cause = cause
        self.hint = _HINTS.get(cause, "")
        super().__init__(f"{message}; {self.hint}" if self.hint else message)


@dataclass(frozen=True)
class OrgIdentity:
    """What ``WhoAmI`` answered: the application user and its org."""

    url: str
    user_id: str | None
    business_unit_id: str | None
    organization_id: str | None


def _causes(exc: BaseException) -> Iterator[BaseException]:
    """``exc`` and every exception behind it (requests wraps urllib3 wraps socket errors)."""
    seen: set[int] = set()
    todo = [exc]
    while todo:
        e = todo.pop()
        if id(e) in seen:
            continue
        seen.add(id(e))
        yield e
        todo.extend(a for a in getattr(e, "args", ()) if isinstance(a, BaseException))
        for attr in ("reason", "__cause__", "__context__"):
            inner = getattr(e, attr, None)
            if isinstance(inner, BaseException):
                todo.append(inner)


def classify(exc: BaseException) -> str:
    """The cause (``dns``, ``refused``, ``timeout``, ``tls`` or ``dropped``) of a transport error."""
    chain = list(_causes(exc))
    if any(isinstance(e, requests.exceptions.SSLError) or type(e).__name__ in ("SSLError", "SSLCertVerificationError")
           for e in chain):
        return "tls"
    text = " ".join(str(e) for e in chain).lower()
    if any(isinstance(e, socket.gaierror) or type(e).__name__ == "NameResolutionError" for e in chain) or any(
            s in text for s in ("name or service not known", "failed to resolve", "nodename nor servname",
                                "temporary failure in name resolution", "getaddrinfo failed")):
        return "dns"
    if any(isinstance(e, ConnectionRefusedError) for e in chain) or "connection refused" in text:
        return "refused"
    if any(isinstance(e, requests.exceptions.ConnectTimeout) for e in chain):
        return "timeout"
    return "dropped"


def _where(url: str) -> str:
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return f"{parts.hostname}:{port}"


def _describe(cause: str, url: str, exc: BaseException) -> str:
    where = _where(url)
    if cause == "dns":
        return f"the host name {urlsplit(url).hostname!r} does not resolve (DNS)"
    if cause == "refused":
        return f"connection refused at {where}: nothing is listening there"
    if cause == "timeout":
        return f"no connection to {where} within {TIMEOUT[0]:g} s"
    if cause == "tls":
        detail = next((str(e) for e in _causes(exc) if "certificate" in str(e).lower()), type(exc).__name__)
        return f"TLS failure talking to {where}: {detail[:200]}"
    return f"{where} accepted the connection but gave no answer ({type(exc).__name__})"


def _is_dataverse(resp: requests.Response) -> bool:
    """An answer in the Web API's manner: OData-Version, and a JSON body (or a Bearer challenge)."""
    if resp.status_code == 401:
        return resp.headers.get("WWW-Authenticate", "").lower().startswith("bearer")
    if "OData-Version" not in resp.headers:
        return False
    try:
        return isinstance(resp.json(), dict)
    except ValueError:
        return False


def _service_message(resp: requests.Response) -> str:
    try:
        err = resp.json().get("error") or {}
        text = f"{err.get('code', '')} {err.get('message', '')}".strip()
    except (ValueError, AttributeError):
        text = ""
    if not text and resp.status_code == 401:
        text = resp.headers.get("WWW-Authenticate", "")[:200]
    return text


def probe(
    url: str,
    auth: Any,
    *,
    verify: bool | str = True,
    session: requests.Session | None = None,
    timeout: tuple[float, float] = TIMEOUT,
    attempts: int = ATTEMPTS,
    sleep: Callable[[float], None] = time.sleep,
) -> OrgIdentity:
    """``GET {url}/api/data/v9.2/WhoAmI`` once (a few times for transient causes), no backoff.

    :param auth: a token provider (``token(force_refresh=False)``); a 401 asks it once for a
        fresh token, as the client does.
    :raises OrgUnreachable: see the module docstring for the causes.
    :raises AuthError: the token provider could not get a token.
    """
    target = url.rstrip("/") + "/api/data/v9.2/WhoAmI"
    own = session is None
    http = session or requests.Session()
    refreshed = False
    last: tuple[str, str] = ("dropped", "")
    try:
        attempt = 0
        while attempt < attempts:
            token = auth.token(force_refresh=refreshed)
            headers = {"Accept": "application/json", "OData-MaxVersion": "4.0", "OData-Version": "4.0"}
            if token:
                headers["Authorization"] = f"Bearer {token}"
            try:
                resp = http.get(target, headers=headers, timeout=timeout, verify=verify, allow_redirects=False)
            except requests.RequestException as exc:
                cause = classify(exc)
                if cause != "dropped":
                    raise OrgUnreachable(cause, _describe(cause, url, exc)) from None
                last = (cause, _describe(cause, url, exc))
                attempt += 1
                sleep(0.2 * attempt)
                continue
            with resp:
                status = resp.status_code
                if not _is_dataverse(resp):
                    if status in (502, 503, 504):
                        last = ("not_dataverse", f"GET {target} answered HTTP {status}, not as a Dataverse org")
                        attempt += 1
                        sleep(0.2 * attempt)
                        continue
                    kind = resp.headers.get("Content-Type", "no content type").split(";")[0]
                    redirect = f" (a redirect to {resp.headers['Location'][:120]})" if "Location" in resp.headers else ""
                    raise OrgUnreachable("not_dataverse",
                                         f"{url} answers, but not as a Dataverse org: GET {target} gave HTTP "
                                         f"{status} {kind}{redirect}")
                if status == 401:
                    if not refreshed:
                        refreshed = True
                        continue
                    raise OrgUnreachable("token_refused", f"the org at {url} answered 401 to WhoAmI: "
                                                          f"{_service_message(resp)}")
                if status == 403:
                    raise OrgUnreachable("forbidden", f"the org at {url} answered 403 to WhoAmI: {_service_message(resp)}")
                if status == 200:
                    body = resp.json()
                    if "UserId" not in body:
                        raise OrgUnreachable("not_dataverse", f"{url} answered WhoAmI without a UserId: "
                                                              f"{json.dumps(body)[:120]}")
                    return OrgIdentity(url, body.get("UserId"), body.get("BusinessUnitId"), body.get("OrganizationId"))
                # 429, 5xx and the like, in the service's own words: the org is there, and the
                # client's retries (for an org that has answered) take it from here.
                return OrgIdentity(url, None, None, None)
        cause, message = last
        raise OrgUnreachable(cause, f"{message} ({attempts} attempts)")
    finally:
        if own:
            http.close()


def reachable(url: str, *, verify: bool | str = True, timeout: tuple[float, float] = TIMEOUT) -> str:
    """Whether ``url`` answers as a Dataverse Web API, before any token is asked for.

    ``GET {url}/api/data/v9.2/`` without credentials: an org answers 401 with a ``Bearer``
    challenge naming its Entra ID tenant (or, for an emulator that allows anonymous requests,
    the service document).

    :returns: a description of the answer.
    :raises OrgUnreachable: as :func:`probe` (``dns``, ``refused``, ``timeout``, ``tls``,
        ``dropped``, ``not_dataverse``).
    """
    target = url.rstrip("/") + "/api/data/v9.2/"
    try:
        with requests.get(target, headers={"Accept": "application/json", "OData-Version": "4.0"},
                          timeout=timeout, verify=verify, allow_redirects=False) as resp:
            if not _is_dataverse(resp):
                kind = resp.headers.get("Content-Type", "no content type").split(";")[0]
                raise OrgUnreachable("not_dataverse", f"{url} answers, but not as a Dataverse org: GET {target} "
                                                      f"gave HTTP {resp.status_code} {kind}")
            if resp.status_code == 401:
                challenge = resp.headers.get("WWW-Authenticate", "")
                uri = next((p.split("=", 1)[1] for p in challenge.replace(",", " ").split()
                            if p.startswith("authorization_uri=")), "")
                return f"answers as a Dataverse org (401 with a Bearer challenge{', authority ' + uri if uri else ''})"
            return f"answers as a Dataverse Web API (HTTP {resp.status_code}, OData-Version {resp.headers.get('OData-Version')})"
    except requests.RequestException as exc:
        cause = classify(exc)
        raise OrgUnreachable(cause, _describe(cause, url, exc)) from None
