"""Secrets: with a known client secret, certificate password and access token, every output a
run produces — stdout, stderr, DEBUG logs of every logger, the report file, the preview, the
state file's bytes, error messages of failed requests (401s) and of auth failures — is searched
and none of them may appear.

Entra ID is replaced by a fake msal app (``MsalClientCredentials(app_factory=...)`` and, for the
CLI, ``msal.ConfidentialClientApplication``); the emulator checks the bearer token it is sent.
"""

from __future__ import annotations

import datetime
import io
import logging
from pathlib import Path

import pytest

from mail2dataverse import cli
from mail2dataverse.auth import MsalClientCredentials
from mail2dataverse.emulator import Emulator
from mail2dataverse.errors import Mail2DataverseError
from mail2dataverse.sync import preview, sync
from mail2dataverse.writers.dry_run import render

from .conftest import RecordingSleep, config, export

SECRET = "Cl1ent~Secret.Value-8472xyz"
CERT_PASSWORD = "Cert-Pa55word!1193"
TOKEN = "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.token-5521-body.sig"
SECRETS = (SECRET, CERT_PASSWORD, TOKEN)


class FakeMsalApp:
    """Stands in for ``msal.ConfidentialClientApplication``: hands out :data:`TOKEN`, or fails
    with an error description that quotes the secret (as a careless server might)."""

    def __init__(self, client_id, client_credential=None, authority=None, token_cache=None, fail=False):
        self.credential = client_credential
        self.fail = fail

    def acquire_token_for_client(self, scopes):
        if self.fail:
            given = self.credential if isinstance(self.credential, str) else self.credential.get("passphrase")
            return {"error": "invalid_client",
                    "error_description": f"AADSTS7000215: Invalid client credential provided: {given}\nTrace ID: 1"}
        return {"access_token": TOKEN, "token_type": "Bearer", "expires_in": 3599, "token_source": "identity_provider"}

    def remove_tokens_for_client(self):
        pass


class Capture:
    """Everything a run emits: a DEBUG handler on the root logger plus stdout/stderr (capsys)."""

    def __init__(self):
        self.stream = io.StringIO()
        self.handler = logging.StreamHandler(self.stream)
        self.handler.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
        self.handler.setLevel(logging.DEBUG)
        self.texts: list[str] = []

    def __enter__(self):
        root = logging.getLogger()
        self.level = root.level
        root.addHandler(self.handler)
        root.setLevel(logging.DEBUG)
        return self

    def __exit__(self, *exc):
        root = logging.getLogger()
        root.removeHandler(self.handler)
        root.setLevel(self.level)

    def add(self, *texts) -> None:
        for t in texts:
            self.texts.append(t.decode("utf-8", "replace") if isinstance(t, bytes) else str(t))

    def assert_clean(self, *, logged: bool = True) -> None:
        """No secret in anything captured; ``logged``: the run must have logged (else the
        logging half of the check proves nothing)."""
        everything = "\n".join([self.stream.getvalue(), *self.texts])
        assert self.stream.getvalue() or not logged, "DEBUG logging captured nothing"
        for secret in SECRETS:
            assert secret not in everything, f"a secret leaked: ...{everything[max(0, everything.find(secret) - 200):everything.find(secret) + 50]}..."
            # a leak in another encoding is still a leak
            assert secret.encode("utf-8").hex() not in everything


def secret_auth(url: str, fail: bool = False) -> MsalClientCredentials:
    return MsalClientCredentials(url, "tenant", "client-id", client_secret=SECRET,
                                 app_factory=lambda *a, **kw: FakeMsalApp(*a, fail=fail, **kw))


def encrypted_certificate(path: Path, password: str) -> Path:
    """A PEM holding an encrypted private key and its self-signed certificate."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "mail2dataverse-test")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(1).not_valid_before(now).not_valid_after(now + datetime.timedelta(days=1))
            .sign(key, hashes.SHA256()))
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.BestAvailableEncryption(password.encode()))
    path.write_bytes(pem + cert.public_bytes(serialization.Encoding.PEM))
    return path


@pytest.fixture
def inputs(tmp_path):
    return export(tmp_path / "in", 30, 60)


def test_successful_run_preview_report_and_state_hold_no_secret(inputs, tmp_path, capsys):
    state = tmp_path / "state.sqlite3"
    with Capture() as cap, Emulator() as emu:
        report = sync(inputs, config(), url=emu.base_url, auth=secret_auth(emu.base_url), state_path=state,
                      client_options={"sleep": RecordingSleep()})
        assert report.failed == 0 and emu.stats["unauthorized"] == 0
        operations, preview_report = preview(inputs, config())
        for fmt in ("json", "yaml", "table"):
            cap.add(render(operations, fmt))
        cap.add(report.to_json(), report.summary(), preview_report.to_json(), repr(secret_auth(emu.base_url)))
    cap.add(state.read_bytes(), *(p.read_bytes() for p in tmp_path.glob("state.sqlite3*")))
    out, err = capsys.readouterr()
    cap.add(out, err)
    cap.assert_clean()


def test_401s_and_their_failures_hold_no_secret(inputs, tmp_path, capsys):
    # Every token expires right after its first use and the fake app keeps handing out the
    # same one: refresh, resend, 401 again — the run stops with an error message.
    with Capture() as cap, Emulator(token_ttl=0.0) as emu:
        with pytest.raises(Mail2DataverseError) as failed:
            sync(inputs, config(), url=emu.base_url, auth=secret_auth(emu.base_url),
                 state_path=tmp_path / "s.sqlite3", client_options={"sleep": RecordingSleep()})
        assert emu.stats["unauthorized"] > 0
        cap.add(str(failed.value), repr(failed.value), failed.getrepr())
    cap.add(*capsys.readouterr(), (tmp_path / "s.sqlite3").read_bytes())
    cap.assert_clean()


def test_auth_errors_hold_no_secret(capsys):
    from mail2dataverse.errors import AuthError

    with Capture() as cap:
        with pytest.raises(AuthError) as refused:
            secret_auth("https://org.example", fail=True).token()
        cap.add(str(refused.value), repr(refused.value))

        def exploding_factory(*a, **kw):
            raise ValueError(f"bad credential {kw['client_credential']!r}")

        with pytest.raises(AuthError) as broken:
            MsalClientCredentials("https://org.example", "t", "c", client_secret=SECRET, app_factory=exploding_factory)
        cap.add(str(broken.value), repr(broken.value))
        assert "***" in str(broken.value)  # masked, and still says what went wrong
    cap.add(*capsys.readouterr())
    cap.assert_clean(logged=False)


def test_certificate_password_never_shows(inputs, tmp_path, capsys):
    from mail2dataverse.errors import ConfigError

    pem = encrypted_certificate(tmp_path / "cert.pem", CERT_PASSWORD)
    with Capture() as cap, Emulator() as emu:
        auth = MsalClientCredentials(emu.base_url, "tenant", "client-id", certificate_path=str(pem),
                                     certificate_password=CERT_PASSWORD, app_factory=FakeMsalApp)
        report = sync(inputs, config(), url=emu.base_url, auth=auth, client_options={"sleep": RecordingSleep()})
        assert report.failed == 0
        cap.add(report.to_json(), repr(auth), auth.thumbprints)
        with pytest.raises(ConfigError) as wrong:
            MsalClientCredentials(emu.base_url, "t", "c", certificate_path=str(pem),
                                  certificate_password=CERT_PASSWORD[::-1], app_factory=FakeMsalApp)
        cap.add(str(wrong.value))
        with pytest.raises(Exception) as refused:
            MsalClientCredentials(emu.base_url, "t", "c", certificate_path=str(pem), certificate_password=CERT_PASSWORD,
                                  app_factory=lambda *a, **kw: FakeMsalApp(*a, fail=True, **kw)).token()
        cap.add(str(refused.value))
    cap.add(*capsys.readouterr())
    cap.assert_clean()


@pytest.mark.parametrize("ttl", [None, 0.0], ids=["ok", "401s"])
def test_cli_run_at_debug_holds_no_secret(inputs, tmp_path, capsys, monkeypatch, ttl):
    import msal

    monkeypatch.setattr(msal, "ConfidentialClientApplication", FakeMsalApp)
    for name, value in {"AZURE_TENANT_ID": "tenant", "AZURE_CLIENT_ID": "client-id", "AZURE_CLIENT_SECRET": SECRET}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AZURE_CLIENT_CERTIFICATE_PATH", raising=False)
    report_file = tmp_path / "report.json"
    with Capture() as cap, Emulator(token_ttl=ttl) as emu:
        code = cli.main(["-vv", "sync", "--messages", inputs.messages, "--contacts", inputs.contacts, "--url", emu.base_url,
                         "--auth", "secret", "--state", str(tmp_path / "s.sqlite3"), "--report", str(report_file),
                         "--format", "json"])
        assert code == (0 if ttl is None else 1)
        if ttl is not None:
            assert emu.stats["unauthorized"] > 0
        code = cli.main(["-vv", "sync", "--dry-run", "--messages", inputs.messages, "--contacts", inputs.contacts])
        assert code == 0
    out, err = capsys.readouterr()
    cap.add(out, err, *(p.read_bytes() for p in tmp_path.glob("*") if p.is_file()))
    cap.assert_clean()


# --- issue 15: the secret in other encodings ----------------------------------------------------

#: a secret with the characters that URL- and JSON-encoding change
AWKWARD = "Ab+c/d=e~f g\"h\\i+/=9"


def _encodings(secret: str) -> list[str]:
    import base64
    import json
    import urllib.parse

    quoted = urllib.parse.quote_plus(secret, safe="")
    return [secret, quoted, quoted.lower().replace("ab", "Ab"), urllib.parse.quote(secret, safe=""),
            json.dumps(secret)[1:-1], base64.b64encode(secret.encode()).decode(),
            base64.b64encode(b"client-id:" + secret.encode()).decode()]


class EchoingMsalApp(FakeMsalApp):
    """An identity endpoint that echoes the token request body, URL-encoded, in its error."""

    def acquire_token_for_client(self, scopes):
        import urllib.parse

        body = urllib.parse.urlencode({"grant_type": "client_credentials", "client_secret": self.credential})
        logging.getLogger("msal.application").debug("POST /token body=%s", body)
        logging.getLogger("urllib3.connectionpool").debug("echo %s", body.upper().replace("CLIENT_SECRET", "client_secret"))
        raise RuntimeError(f"400 from https://login.example/token: {{\"request\": \"{body}\"}}")


def test_a_secret_echoed_url_encoded_json_escaped_or_base64_is_masked(capsys):
    from mail2dataverse import masking
    from mail2dataverse.errors import AuthError

    with Capture() as cap:
        auth = MsalClientCredentials("https://org.example", "t", "client-id", client_secret=AWKWARD,
                                     app_factory=EchoingMsalApp)
        with pytest.raises(AuthError) as refused:
            auth.token()
        cap.add(str(refused.value))
        for form in _encodings(AWKWARD):
            logging.getLogger("some.library").warning("echo: <%s>", form)
            cap.add(masking.scrub(f"[{form}]"))
    everything = "\n".join([cap.stream.getvalue(), *cap.texts, *capsys.readouterr()])
    assert "***" in str(refused.value) and "%2B" not in str(refused.value)
    for form in _encodings(AWKWARD):
        assert form not in everything, form
    assert "K2MvZD1lfmYgZyJoXGkr" not in everything  # the middle of the Basic-auth form
    assert "%2b" not in everything.lower().replace("%2bc", "")  # no lower-case escape of the '+' either
    assert "echo: <***>" in everything


def test_masking_covers_every_alignment_of_a_base64_secret():
    import base64

    from mail2dataverse import masking

    masking.register(SECRET)
    for prefix in (b"", b"a", b"ab", b"abc"):
        encoded = base64.b64encode(prefix + SECRET.encode() + b"!").decode()
        assert "***" in masking.scrub(encoded)
        assert base64.b64encode(SECRET.encode()).decode()[2:-4] not in masking.scrub(encoded)
    assert masking.scrub("an ordinary line") == "an ordinary line"
