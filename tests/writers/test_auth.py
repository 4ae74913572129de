"""Token providers: msal client credentials (fake app and real msal on a fake HTTP client), env."""

from __future__ import annotations

import datetime
import json

import msal
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from mail2dataverse.auth import MsalClientCredentials, NoAuth, StaticToken, TokenProvider, auth_from_env
from mail2dataverse.errors import AuthError, ConfigError, MappingError

ORG = "https://contoso.crm.dynamics.com"
SECRET = "s3cr3t~value.Q8"
TENANT = "00000000-0000-0000-0000-00000000000a"
CLIENT = "00000000-0000-0000-0000-00000000000b"



class FakeApp:
    """Stands in for msal.ConfidentialClientApplication: scripted answers, records calls."""

    def __init__(self, client_id, client_credential=None, authority=None, token_cache=None, answers=None):
        self.client_id, self.credential, self.authority, self.cache = client_id, client_credential, authority, token_cache
        self.answers = list(answers or [{"access_token": "AT1", "token_source": "identity_provider", "expires_in": 3599}])
        self.calls: list[list[str]] = []
        self.removed = 0

    def acquire_token_for_client(self, scopes, **kwargs):
        assert "force_refresh" not in kwargs  # msal refuses it for client credentials
        self.calls.append(scopes)
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, Exception):
            raise answer
        return answer

    def remove_tokens_for_client(self):
        self.removed += 1


def _factory(**kw):
    made: list[FakeApp] = []

    def factory(*args, **kwargs):
        app = FakeApp(*args, **kwargs, **kw)
        made.append(app)
        return app

    return factory, made


def test_protocol_and_simple_providers():
    assert isinstance(NoAuth(), TokenProvider) and NoAuth().token() is None
    st = StaticToken("abc")
    assert st.token() == st.token(force_refresh=True) == "abc" and "abc" not in repr(st)


def test_secret_credentials_scope_authority_and_cache():
    factory, made = _factory()
    provider = MsalClientCredentials(ORG + "/", TENANT, CLIENT, client_secret=SECRET, app_factory=factory)
    assert provider.token() == "AT1" and provider.token() == "AT1"
    app = made[0]
    assert len(made) == 1  # one app per instance
    assert app.calls == [[ORG + "/.default"]] * 2
    assert app.authority == f"https://login.microsoftonline.com/{TENANT}"
    assert app.credential == SECRET and isinstance(app.cache, msal.TokenCache)
    assert SECRET not in repr(provider)


def test_force_refresh_drops_the_cached_token_first():
    factory, made = _factory()
    provider = MsalClientCredentials(ORG, TENANT, CLIENT, client_secret=SECRET, app_factory=factory)
    provider.token()
    provider.token(force_refresh=True)
    assert made[0].removed == 1 and provider.refreshes == 1 and len(made[0].calls) == 2


def test_msal_error_becomes_auth_error_without_the_secret():
    answer = {
        "error": "invalid_client",
        "error_description": f"AADSTS7000215: Invalid client secret provided. Got {SECRET}\r\nTrace ID: 1",
    }
    factory, _ = _factory(answers=[answer])
    provider = MsalClientCredentials(ORG, TENANT, CLIENT, client_secret=SECRET, app_factory=factory)
    with pytest.raises(AuthError) as info:
        provider.token()
    assert info.value.error == "invalid_client"
    assert "AADSTS7000215" in str(info.value) and SECRET not in str(info.value)
    assert SECRET not in repr(info.value.args)


def test_msal_exception_becomes_auth_error_without_the_secret():
    factory, _ = _factory(answers=[OSError(f"cannot reach login host with {SECRET}")])
    provider = MsalClientCredentials(ORG, TENANT, CLIENT, client_secret=SECRET, app_factory=factory)
    with pytest.raises(AuthError, match="token_request_failed") as info:
        provider.token()
    assert SECRET not in str(info.value) and info.value.__cause__ is None


def test_exactly_one_credential():
    with pytest.raises(ConfigError):
        MsalClientCredentials(ORG, TENANT, CLIENT, app_factory=_factory()[0])
    with pytest.raises(ConfigError):
        MsalClientCredentials(ORG, TENANT, CLIENT, client_secret="x", certificate_path="y", app_factory=_factory()[0])


# ----------------------------------------------------------------------------- certificates


def _key_and_cert(cn="mail2dataverse-test"):
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    return key, cert


def _pem(key, cert=None, password=None):
    enc = serialization.BestAvailableEncryption(password.encode()) if password else serialization.NoEncryption()
    data = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, enc)
    if cert is not None:
        data += cert.public_bytes(serialization.Encoding.PEM)
    return data


@pytest.fixture(scope="module")
def keypair():
    return _key_and_cert()


@pytest.mark.parametrize("password", [None, "pem-pass-word"])
def test_certificate_credential_from_pem_with_key_and_cert(tmp_path, keypair, password):
    key, cert = keypair
    path = tmp_path / "app.pem"
    path.write_bytes(_pem(key, cert, password))
    factory, made = _factory()
    provider = MsalClientCredentials(
        ORG, TENANT, CLIENT, certificate_path=str(path), certificate_password=password, app_factory=factory
    )
    assert provider.thumbprints == {
        "sha1": cert.fingerprint(hashes.SHA1()).hex().upper(),
        "sha256": cert.fingerprint(hashes.SHA256()).hex().upper(),
    }
    cred = made[0].credential
    assert "BEGIN" in cred["private_key"]
    # msal >= 1.35 derives the SHA-256 thumbprint (PS256) from the certificate itself
    assert cred["public_certificate"] == cert.public_bytes(serialization.Encoding.PEM).decode()
    assert "thumbprint" not in cred
    assert cred.get("passphrase") == password
    assert password is None or password not in repr(provider)


def test_certificate_problems_are_config_errors(tmp_path, keypair):
    key, cert = keypair
    other_key, other_cert = _key_and_cert("other")
    cases = {
        "missing.pem": (None, "cannot read"),
        "key-only.pem": (_pem(key), "must also hold the certificate"),
        "mismatch.pem": (_pem(key, other_cert), "must also hold the certificate"),
        "encrypted.pem": (_pem(key, cert, "pw"), "set AZURE_CLIENT_CERTIFICATE_PASSWORD"),
        "garbage.pem": (b"not a pem", "no readable PEM private key"),
    }
    for name, (data, message) in cases.items():
        path = tmp_path / name
        if data is not None:
            path.write_bytes(data)
        with pytest.raises(ConfigError, match=message):
            MsalClientCredentials(ORG, TENANT, CLIENT, certificate_path=str(path), app_factory=_factory()[0])
    wrong = tmp_path / "wrong-pw.pem"
    wrong.write_bytes(_pem(key, cert, "right"))
    with pytest.raises(ConfigError) as info:
        MsalClientCredentials(ORG, TENANT, CLIENT, certificate_path=str(wrong), certificate_password="WRONG-pw", app_factory=_factory()[0])
    assert "WRONG-pw" not in str(info.value)


# ----------------------------------------------------------------------------- real msal, fake HTTP


class FakeIdentityHttp:
    """msal's http_client: serves tenant discovery and issues numbered tokens."""

    class Resp:
        def __init__(self, payload):
            self.status_code, self.text, self.headers = 200, json.dumps(payload), {}

        def raise_for_status(self):
            pass

    def __init__(self):
        self.token_posts = 0
        self.posted: list[dict] = []

    def get(self, url, params=None, headers=None, **kwargs):
        base = f"https://login.microsoftonline.com/{TENANT}"
        if "openid-configuration" in url:
            return self.Resp({
                "token_endpoint": f"{base}/oauth2/v2.0/token",
                "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
                "issuer": f"{base}/v2.0",
            })
        return self.Resp({"tenant_discovery_endpoint": f"{base}/v2.0/.well-known/openid-configuration", "metadata": []})

    def post(self, url, params=None, data=None, headers=None, **kwargs):
        self.token_posts += 1
        self.posted.append(dict(data or {}))
        return self.Resp({"access_token": f"real-msal-token-{self.token_posts}", "token_type": "Bearer", "expires_in": 3600})

    def close(self):
        pass


def test_real_msal_answers_from_cache_and_force_refresh_gets_a_new_token():
    http = FakeIdentityHttp()

    def factory(*args, **kwargs):
        return msal.ConfidentialClientApplication(*args, http_client=http, **kwargs)

    provider = MsalClientCredentials(ORG, TENANT, CLIENT, client_secret=SECRET, app_factory=factory)
    assert provider.token() == "real-msal-token-1"
    assert provider.token() == "real-msal-token-1"  # cache hit: no second POST
    assert http.token_posts == 1
    assert provider.token(force_refresh=True) == "real-msal-token-2"
    assert provider.token() == "real-msal-token-2" and http.token_posts == 2
    assert http.posted[0]["scope"] == ORG + "/.default"


# ----------------------------------------------------------------------------- environment


def test_auth_from_env_names_missing_variables_never_values():
    with pytest.raises(ConfigError) as info:
        auth_from_env("secret", ORG, env={"AZURE_TENANT_ID": TENANT, "AZURE_CLIENT_SECRET": SECRET})
    assert "AZURE_CLIENT_ID" in str(info.value) and SECRET not in str(info.value) and TENANT not in str(info.value)
    with pytest.raises(ConfigError, match="AZURE_TENANT_ID, AZURE_CLIENT_ID, AZURE_CLIENT_CERTIFICATE_PATH"):
        auth_from_env("certificate", ORG, env={})
    with pytest.raises(ConfigError, match="unknown auth kind"):
        auth_from_env("password", ORG, env={})
    none = auth_from_env("none", ORG, env={})
    assert isinstance(none, StaticToken) and none.token() == "emulator"
    assert auth_from_env("none", ORG, env={"DATAVERSE_TOKEN": "from-az-cli"}).token() == "from-az-cli"


def test_auth_from_env_builds_msal_providers(monkeypatch, tmp_path, keypair):
    factory, made = _factory()
    monkeypatch.setattr(msal, "ConfidentialClientApplication", factory)
    env = {"AZURE_TENANT_ID": TENANT, "AZURE_CLIENT_ID": CLIENT, "AZURE_CLIENT_SECRET": SECRET,
           "AZURE_AUTHORITY_HOST": "https://login.microsoftonline.us"}
    provider = auth_from_env("secret", ORG, env=env)
    assert provider.token() == "AT1" and made[0].authority == f"https://login.microsoftonline.us/{TENANT}"
    key, cert = keypair
    path = tmp_path / "c.pem"
    path.write_bytes(_pem(key, cert))
    provider = auth_from_env("certificate", ORG, env={"AZURE_TENANT_ID": TENANT, "AZURE_CLIENT_ID": CLIENT,
                                                       "AZURE_CLIENT_CERTIFICATE_PATH": str(path)})
    assert provider.thumbprints["sha1"] and made[1].credential["private_key"]


def test_one_msal_application_per_process_and_credential(monkeypatch):
    factory, made = _factory()
    monkeypatch.setattr(msal, "ConfidentialClientApplication", factory)
    env = {"AZURE_TENANT_ID": "t", "AZURE_CLIENT_ID": "c", "AZURE_CLIENT_SECRET": "s3cr3t-one-app"}
    first = auth_from_env("secret", ORG, env=env)
    assert auth_from_env("secret", ORG + "/", env=dict(env)) is first  # same credential: same token cache
    other = auth_from_env("secret", ORG, env={**env, "AZURE_CLIENT_SECRET": "rotated"})
    assert other is not first
    assert len(made) == 2
    import mail2dataverse.auth as auth_module

    assert not any("s3cr3t-one-app" in part for key in auth_module._PROVIDERS for part in key)


# ----------------------------------------------------------------------------- several users


def test_several_tokens_in_dataverse_token_act_as_several_users():
    from mail2dataverse.auth import auth_providers

    providers = auth_providers("none", "http://127.0.0.1:1", env={"DATAVERSE_TOKEN": "user-a, user-b"})
    assert [p.token() for p in providers] == ["user-a", "user-b"]
    assert [p.token() for p in auth_providers("none", "http://x", env={})] == ["emulator"]


def test_application_users_come_from_the_config_with_their_secrets_from_the_environment(tmp_path):
    from mail2dataverse.auth import auth_providers
    from mail2dataverse.config import load_config

    cfg = tmp_path / "c.yaml"
    cfg.write_text("application_users:\n"
                   "  - client_id: app-1\n    client_secret_env: APP1_SECRET\n"
                   "  - client_id: app-2\n    client_secret_env: APP2_SECRET\n    tenant_id: t2\n")
    users = load_config(cfg).application_users
    assert [u.client_id for u in users] == ["app-1", "app-2"]
    with pytest.raises(ConfigError, match="APP2_SECRET is not set") as info:
        auth_providers("secret", "https://org.example.com", env={"AZURE_TENANT_ID": "t", "APP1_SECRET": "s3cr3t-value"},
                       users=users)
    assert "s3cr3t-value" not in str(info.value)


def test_a_secret_in_the_config_file_is_refused(tmp_path):
    from mail2dataverse.config import load_config

    cfg = tmp_path / "c.yaml"
    cfg.write_text("application_users:\n  - client_id: app-1\n    client_secret: s3cr3t\n")
    with pytest.raises(MappingError):
        load_config(cfg)
