"""Access tokens for the Dataverse Web API.

The Web API client asks its :class:`TokenProvider` for a token before *every* request
(``token()``) and, after a 401, once more with ``token(force_refresh=True)``. Providers:

* :class:`NoAuth` — no ``Authorization`` header at all (the local emulator started with
  ``--anonymous``; by default it wants a bearer token, like the real service);
* :class:`StaticToken` — a fixed bearer token (tests, the emulator, a token from elsewhere);
* :class:`MsalClientCredentials` — Entra ID client credentials (secret or certificate) through
  one ``msal.ConfidentialClientApplication`` with its own in-memory ``msal.TokenCache``.
  Since msal 1.23 ``acquire_token_for_client`` answers from that cache and only calls Entra ID
  when the token is missing or about to expire, so asking before each request costs nothing.

:func:`auth_from_env` builds one from ``AZURE_*`` environment variables.

Secrets (client secret, certificate password, tokens) never appear in a message, a log record,
an exception or a ``repr``: errors carry msal's ``error`` code and description only, and every
secret this module handles is registered with :mod:`mail2dataverse.masking`, which masks it in
every encoding in those errors and in every log record.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import os
import threading
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from mail2dataverse import masking
from mail2dataverse.errors import AuthError, ConfigError

log = logging.getLogger("mail2dataverse.auth")

DEFAULT_AUTHORITY_HOST = "https://login.microsoftonline.com"


@runtime_checkable
class TokenProvider(Protocol):
    """Anything that hands out bearer tokens for the Web API."""

    def token(self, *, force_refresh: bool = False) -> str | None:
        """The bearer token to send, or None for no ``Authorization`` header.

        :param force_refresh: the service refused the last token (401): do not answer from a
            cache, get a new one.
        :raises AuthError: no token could be obtained.
        """
        ...


class NoAuth:
    """No authentication: requests go out without an ``Authorization`` header (emulator)."""

    def token(self, *, force_refresh: bool = False) -> str | None:
        """Always None."""
        return None

    def __repr__(self) -> str:
        return "NoAuth()"


class StaticToken:
    """A fixed bearer token. ``force_refresh`` cannot renew it, so the same token comes back."""

    def __init__(self, token: str):
        self._token = token

    def token(self, *, force_refresh: bool = False) -> str | None:
        """The token given at construction."""
        return self._token

    def __repr__(self) -> str:  # never show the token
        return "StaticToken(***)"


def _certificate_credential(path: str, password: str | None) -> tuple[dict[str, Any], dict[str, str]]:
    """msal's ``client_credential`` dict for a PEM file holding a private key and its certificate.

    Returns ``(credential, thumbprints)`` with hex ``sha1`` and ``sha256`` thumbprints of the
    certificate (public values, shown in the app registration, safe to log).

    msal >= 1.35 computes the SHA-256 thumbprint itself from ``public_certificate`` and signs the
    client assertion with PS256 (``x5t#S256``), which Entra ID recommends; older msal needs the
    SHA-1 ``thumbprint`` (``x5t``). We give what the installed msal supports.
    """
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization

    file = Path(path)
    try:
        data = file.read_bytes()
    except OSError as exc:
        raise ConfigError(f"AZURE_CLIENT_CERTIFICATE_PATH {path}: cannot read the certificate file ({exc.strerror})") from None
    pw = password.encode("utf-8") if password else None
    try:
        key = serialization.load_pem_private_key(data, password=pw)
    except TypeError:
        raise ConfigError(
            f"{path}: the private key is encrypted; set AZURE_CLIENT_CERTIFICATE_PASSWORD"
            if pw is None
            else f"{path}: the private key is not encrypted; unset AZURE_CLIENT_CERTIFICATE_PASSWORD"
        ) from None
    except ValueError:
        raise ConfigError(
            f"{path}: no readable PEM private key (wrong password, or not a PEM file with the key;"
            " convert a .pfx with `openssl pkcs12 -in cert.pfx -out cert.pem -nodes`)"
        ) from None
    try:
        certs = x509.load_pem_x509_certificates(data)
    except ValueError:
        certs = []
    public = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    cert = next(
        (
            c
            for c in certs
            if c.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
            == public
        ),
        None,
    )
    if cert is None:
        raise ConfigError(f"{path}: the PEM file must also hold the certificate that matches its private key")
    thumbprints = {
        "sha1": cert.fingerprint(hashes.SHA1()).hex().upper(),  # noqa: S303 - x5t is SHA-1 by definition
        "sha256": cert.fingerprint(hashes.SHA256()).hex().upper(),
    }
    cert_pem = cert.public_bytes(serialization.Encoding.PEM).decode("ascii")
    credential: dict[str, Any] = {"private_key": data.decode("ascii", "replace")}
    if pw is not None:
        credential["passphrase"] = password
    if _msal_computes_sha256():
        credential["public_certificate"] = cert_pem
    else:
        credential["thumbprint"] = thumbprints["sha1"]
    return credential, thumbprints


def _msal_computes_sha256() -> bool:
    try:
        from importlib.metadata import version

        major, minor = (int(x) for x in version("msal").split(".")[:2])
    except Exception:  # pragma: no cover - msal without metadata: take the portable path
        return False
    return (major, minor) >= (1, 35)


class MsalClientCredentials:
    """Entra ID client-credentials tokens for ``{org_url}/.default`` through msal.

    One ``ConfidentialClientApplication`` per instance, with an explicit in-memory
    ``msal.TokenCache``; make one instance per process and share it between threads (a lock
    keeps concurrent first calls from fetching several tokens).

    :param org_url: ``https://contoso.crm.dynamics.com``; the scope is ``{org_url}/.default``.
    :param tenant_id: directory (tenant) id or domain.
    :param client_id: application (client) id.
    :param client_secret: a client secret, or
    :param certificate_path: a PEM file with the private key and its certificate (Microsoft's
        recommendation), with ``certificate_password`` if the key is encrypted.
    :param authority_host: ``https://login.microsoftonline.com`` (sovereign clouds differ).
    :param app_factory: builds the msal app (tests pass a fake); called like
        ``msal.ConfidentialClientApplication(client_id, client_credential=..., authority=...,
        token_cache=...)``.
    """

    def __init__(
        self,
        org_url: str,
        tenant_id: str,
        client_id: str,
        *,
        client_secret: str | None = None,
        certificate_path: str | None = None,
        certificate_password: str | None = None,
        authority_host: str = DEFAULT_AUTHORITY_HOST,
        app_factory: Callable[..., Any] | None = None,
    ):
        if (client_secret is None) == (certificate_path is None):
            raise ConfigError("give exactly one of a client secret or a certificate path")
        import msal

        self.scopes = [org_url.rstrip("/") + "/.default"]
        self.client_id = client_id
        self.authority = f"{authority_host.rstrip('/')}/{tenant_id}"
        for secret in (client_secret, certificate_password):
            masking.register(secret)
        self.thumbprints: dict[str, str] = {}
        if client_secret is not None:
            credential: Any = client_secret
        else:
            assert certificate_path is not None
            credential, self.thumbprints = _certificate_credential(certificate_path, certificate_password)
        self.token_cache = msal.TokenCache()
        factory = app_factory or msal.ConfidentialClientApplication
        try:
            self._app = factory(
                client_id, client_credential=credential, authority=self.authority, token_cache=self.token_cache
            )
        except Exception as exc:  # msal validates the credential and discovers the tenant here
            raise AuthError("invalid_configuration", self._scrub(f"{type(exc).__name__}: {exc}")) from None
        self._lock = threading.Lock()
        self.refreshes = 0

    def __repr__(self) -> str:
        kind = "certificate" if self.thumbprints else "secret"
        return f"MsalClientCredentials(client_id={self.client_id!r}, authority={self.authority!r}, {kind})"

    @staticmethod
    def _scrub(text: str) -> str:
        return masking.scrub(text)

    def _drop_cached_tokens(self) -> None:
        # msal refuses force_refresh for client credentials (ValueError); its supported way is
        # to remove the app-only tokens from the cache so the next call goes to Entra ID
        # (ConfidentialClientApplication.remove_tokens_for_client, msal >= 1.28).
        remove = getattr(self._app, "remove_tokens_for_client", None)
        if remove is not None:
            remove()
            return
        import msal

        for at in list(
            self.token_cache.search(msal.TokenCache.CredentialType.ACCESS_TOKEN, query={"client_id": self.client_id})
        ):
            self.token_cache.remove_at(at)

    def token(self, *, force_refresh: bool = False) -> str | None:
        """A valid access token, from msal's cache when possible.

        :param force_refresh: drop the cached token first, so Entra ID issues a new one.
        :raises AuthError: msal reported an error (``error`` + ``error_description``) or the
            token endpoint could not be reached.
        """
        with self._lock:
            if force_refresh:
                self._drop_cached_tokens()
                self.refreshes += 1
            try:
                result = self._app.acquire_token_for_client(scopes=self.scopes)
            except AuthError:
                raise
            except Exception as exc:  # network errors, bad key material...
                raise AuthError("token_request_failed", self._scrub(f"{type(exc).__name__}: {exc}")) from None
        if result and "access_token" in result:
            if force_refresh or result.get("token_source") == "identity_provider":
                log.info("access token obtained from Entra ID (expires in %ss)", result.get("expires_in", "?"))
            masking.register(result["access_token"])
            return result["access_token"]
        result = result or {}
        error = str(result.get("error") or "unknown_error")
        description = str(result.get("error_description") or "").splitlines()[0] if result.get("error_description") else ""
        raise AuthError(self._scrub(error), self._scrub(description))


_KINDS = ("secret", "certificate", "none")
#: What ``--auth none`` sends without DATAVERSE_TOKEN: the emulator, like the real service,
#: refuses a request with no bearer token at all, and accepts any token by default.
EMULATOR_TOKEN = "emulator"


def auth_from_env(kind: str | None, org_url: str, env: Mapping[str, str] | None = None) -> TokenProvider:
    """The token provider for ``--auth kind``, configured from environment variables.

    ``kind`` None is the default: ``MAIL2DATAVERSE_AUTH``, else ``certificate`` when
    ``AZURE_CLIENT_CERTIFICATE_PATH`` is set, else ``secret``.

    * ``secret``: ``AZURE_TENANT_ID``, ``AZURE_CLIENT_ID``, ``AZURE_CLIENT_SECRET``;
    * ``certificate``: ``AZURE_TENANT_ID``, ``AZURE_CLIENT_ID``, ``AZURE_CLIENT_CERTIFICATE_PATH``
      (PEM with the private key and certificate), optional ``AZURE_CLIENT_CERTIFICATE_PASSWORD``;
    * ``none``: no Entra ID; sends the token in ``DATAVERSE_TOKEN`` (one obtained elsewhere,
      e.g. ``az account get-access-token``), else a placeholder the local emulator accepts and
      a real org answers with 401.

    ``AZURE_AUTHORITY_HOST`` (optional, as in azure-identity) changes the login host.

    :raises ConfigError: unknown kind, or required variables missing (named, never their values).
    """
    env = os.environ if env is None else env
    kind = kind or env.get("MAIL2DATAVERSE_AUTH") or (
        "certificate" if env.get("AZURE_CLIENT_CERTIFICATE_PATH") else "secret"
    )
    if kind not in _KINDS:
        raise ConfigError(f"unknown auth kind {kind!r}: use one of {', '.join(_KINDS)}")
    if kind == "none":
        masking.register(env.get("DATAVERSE_TOKEN"))  # a real token from az; the placeholder is public
        return StaticToken(env.get("DATAVERSE_TOKEN") or EMULATOR_TOKEN)
    required = ["AZURE_TENANT_ID", "AZURE_CLIENT_ID"]
    required.append("AZURE_CLIENT_SECRET" if kind == "secret" else "AZURE_CLIENT_CERTIFICATE_PATH")
    missing = [name for name in required if not env.get(name)]
    if missing:
        raise ConfigError(
            f"--auth {kind} needs the environment variable{'s' if len(missing) > 1 else ''} {', '.join(missing)} (not set)"
        )
    if not org_url:
        raise ConfigError("the Dataverse URL is not set (--url or DATAVERSE_URL)")
    authority = env.get("AZURE_AUTHORITY_HOST") or DEFAULT_AUTHORITY_HOST
    credential = env["AZURE_CLIENT_SECRET"] if kind == "secret" else env["AZURE_CLIENT_CERTIFICATE_PATH"]
    password = env.get("AZURE_CLIENT_CERTIFICATE_PASSWORD") or ""
    # One msal application (and so one token cache) per process and credential: a host that
    # syncs many mailboxes, or an Azure Functions worker serving many invocations, asks Entra
    # ID for a token once an hour, not once per run. The key holds a digest, never a secret.
    key = (kind, org_url.rstrip("/").lower(), env["AZURE_TENANT_ID"], env["AZURE_CLIENT_ID"], authority,
           hashlib.sha256(f"{credential}\0{password}".encode()).hexdigest())
    with _PROVIDERS_LOCK:
        provider = _PROVIDERS.get(key)
        if provider is None:
            if kind == "secret":
                provider = MsalClientCredentials(org_url, env["AZURE_TENANT_ID"], env["AZURE_CLIENT_ID"],
                                                 client_secret=credential, authority_host=authority)
            else:
                provider = MsalClientCredentials(org_url, env["AZURE_TENANT_ID"], env["AZURE_CLIENT_ID"],
                                                 certificate_path=credential, certificate_password=password or None,
                                                 authority_host=authority)
            _PROVIDERS[key] = provider
    return provider


_PROVIDERS: dict[tuple[str, ...], MsalClientCredentials] = {}
_PROVIDERS_LOCK = threading.Lock()


def auth_providers(kind: str | None, org_url: str, env: Mapping[str, str] | None = None,
                   users: Sequence[Any] = ()) -> list[TokenProvider]:
    """One token provider per application user the run acts as.

    * ``users`` (the configuration's ``application_users``, :class:`~mail2dataverse.config.AppUser`):
      one msal provider each, its secret read from the environment variable it names (or its
      certificate file), the tenant from ``tenant_id`` or ``AZURE_TENANT_ID``;
    * ``--auth none`` with ``DATAVERSE_TOKEN`` holding several tokens, comma-separated: one
      static token each (several users against the emulator, which tells users apart by token);
    * otherwise the one provider of :func:`auth_from_env`.

    Every user has its own service-protection budget on every web server; the tenant's Power
    Platform request entitlement still counts every operation, whichever user sends it.

    :raises ConfigError: a variable a user needs is not set (named, never its value).
    """
    env = os.environ if env is None else env
    kind = kind or env.get("MAIL2DATAVERSE_AUTH") or None
    if kind == "none":
        tokens = [t.strip() for t in (env.get("DATAVERSE_TOKEN") or "").split(",") if t.strip()]
        return [StaticToken(t) for t in tokens] or [StaticToken(EMULATOR_TOKEN)]
    if not users:
        return [auth_from_env(kind, org_url, env)]
    if not org_url:
        raise ConfigError("the Dataverse URL is not set (--url or DATAVERSE_URL)")
    authority = env.get("AZURE_AUTHORITY_HOST") or DEFAULT_AUTHORITY_HOST
    # Every user's variables are checked before any msal application is made (msal discovers
    # the tenant when it is made): a missing one is named before anything goes on the network.
    makers: list[tuple[tuple[str, ...], Callable[[], MsalClientCredentials]]] = []
    for n, user in enumerate(users, 1):
        label = user.name or f"application user {n} ({user.client_id})"
        tenant = user.tenant_id or env.get("AZURE_TENANT_ID")
        if not tenant:
            raise ConfigError(f"{label}: no tenant_id and AZURE_TENANT_ID is not set")
        if user.client_secret_env:
            secret = env.get(user.client_secret_env)
            if not secret:
                raise ConfigError(f"{label}: the environment variable {user.client_secret_env} is not set")
            key = ("secret", org_url.rstrip("/").lower(), tenant, user.client_id, authority,
                   hashlib.sha256(secret.encode()).hexdigest())
            make = functools.partial(MsalClientCredentials, org_url, tenant, user.client_id, client_secret=secret,
                                     authority_host=authority)
        else:
            password = env.get(user.certificate_password_env) if user.certificate_password_env else None
            if user.certificate_password_env and not password:
                raise ConfigError(f"{label}: the environment variable {user.certificate_password_env} is not set")
            key = ("certificate", org_url.rstrip("/").lower(), tenant, user.client_id, authority,
                   hashlib.sha256(f"{user.certificate_path}\0{password or ''}".encode()).hexdigest())
            make = functools.partial(MsalClientCredentials, org_url, tenant, user.client_id,
                                     certificate_path=user.certificate_path, certificate_password=password,
                                     authority_host=authority)
        makers.append((key, make))
    out: list[TokenProvider] = []
    for key, make in makers:
        with _PROVIDERS_LOCK:
            provider = _PROVIDERS.get(key)
            if provider is None:
                provider = _PROVIDERS[key] = make()
        out.append(provider)
    return out
