"""``mail2dataverse.hosting`` without a server: mailboxes, statuses, state paths, queue outcomes,
certificates from Key Vault references."""

from __future__ import annotations

import base64
import datetime
import json
import stat
from pathlib import Path

import pytest

from mail2dataverse import hosting
from mail2dataverse.errors import ConfigError, SourceError, WebApiError
from mail2dataverse.hosting import BadRequest, Mailbox, http_status, mailboxes_from_settings

# ---------------------------------------------------------------------------------------------
# mailboxes
# ---------------------------------------------------------------------------------------------


def test_mailboxes_from_comma_separated_grants():
    got = mailboxes_from_settings({"MAIL2DATAVERSE_MAILBOXES": " g-1, g-2 ,,"})
    assert got == [Mailbox(grant="g-1"), Mailbox(grant="g-2")]
    assert got[0].inputs().from_nylas and got[0].inputs().grant == "g-1"


def test_mailboxes_from_json_settings_mix_grants_and_files():
    env = {"MAIL2DATAVERSE_MAILBOXES": json.dumps(["g-1", {"messages": "m.json", "contacts": "c.json", "config": "a.yaml"}])}
    grant, files = mailboxes_from_settings(env)
    assert grant.grant == "g-1"
    inputs = files.inputs()
    assert (inputs.messages, inputs.contacts, inputs.from_nylas) == ("m.json", "c.json", False)
    assert files.config == "a.yaml" and files.label == "m.json"


@pytest.mark.parametrize(
    "value, message",
    [
        ("", "no mailboxes"),
        ("[1]", "a mailbox is a grant id or an object"),
        ('[{"grant": "g", "messages": "m.json"}]', "either a 'grant' or export files"),
        ('[{"grnat": "g"}]', "unknown mailbox field(s) grnat"),
        ('[{"name": "x"}]', "needs a 'grant'"),
        ('[{"grant": "g", "limit": "10"}]', "'limit' must be an integer"),
        ('[{"grant": "g", "with_headers": "yes"}]', "'with_headers' must be true or false"),
        ("[not json", "not valid JSON"),
        ("[]", "names no mailbox"),
    ],
)
def test_bad_mailbox_settings_name_the_setting(value, message):
    with pytest.raises(ConfigError) as err:
        mailboxes_from_settings({"MAIL2DATAVERSE_MAILBOXES": value})
    assert message in str(err.value)
    assert not isinstance(err.value, BadRequest)  # the app's settings, not the caller, are wrong


def test_request_body_overrides_settings_in_every_shape():
    env = {"MAIL2DATAVERSE_MAILBOXES": "from-settings"}
    assert mailboxes_from_settings(env, None)[0].grant == "from-settings"
    assert mailboxes_from_settings(env, b"  ")[0].grant == "from-settings"
    assert mailboxes_from_settings(env, {})[0].grant == "from-settings"
    assert mailboxes_from_settings(env, b'{"mailboxes": ["a", "b"]}') == [Mailbox(grant="a"), Mailbox(grant="b")]
    assert mailboxes_from_settings(env, '["a"]') == [Mailbox(grant="a")]
    assert mailboxes_from_settings(env, {"grant": "a", "with_headers": True, "limit": 5}) == [
        Mailbox(grant="a", with_headers=True, limit=5)
    ]


@pytest.mark.parametrize(
    "body, message",
    [
        (b"{nope", "not valid JSON"),
        (b'{"mailboxes": "a"}', "'mailboxes' must be a list"),
        (b'{"mailboxes": []}', "the mailbox list is empty"),
        (b"42", "expected a JSON object or list"),
        (b'{"mailboxes": [{"grant": 7}]}', "'grant' must be a string"),
    ],
)
def test_bad_request_bodies_are_the_callers_fault(body, message):
    with pytest.raises(BadRequest, match=message):
        mailboxes_from_settings({}, body)


def test_request_may_name_files_only_inside_the_input_root(tmp_path):
    body = {"messages": "in/m.json"}
    with pytest.raises(BadRequest, match="MAIL2DATAVERSE_INPUT_ROOT is set"):
        mailboxes_from_settings({}, body)
    env = {"MAIL2DATAVERSE_INPUT_ROOT": str(tmp_path)}
    assert mailboxes_from_settings(env, body)[0].messages == "in/m.json"
    for escape in ("../secret.json", "/etc/passwd", "in/../../x.json"):
        with pytest.raises(BadRequest, match="outside MAIL2DATAVERSE_INPUT_ROOT"):
            mailboxes_from_settings(env, {"messages": escape})
    with pytest.raises(BadRequest, match="outside"):
        mailboxes_from_settings(env, {"grant": "g", "config": "/etc/shadow"})


def test_queue_messages_round_trip():
    boxes = [Mailbox(grant="g-1", with_headers=True), Mailbox(messages="m.json", name="share")]
    messages = hosting.queue_messages(boxes)
    assert [json.loads(m) for m in messages] == [{"grant": "g-1", "with_headers": True}, {"messages": "m.json", "name": "share"}]
    assert [Mailbox.parse(json.loads(m), "queue message") for m in messages] == boxes


# ---------------------------------------------------------------------------------------------
# statuses and state files
# ---------------------------------------------------------------------------------------------


def entry(ok=True, failed=0, error=None):
    if error:
        return {"mailbox": "m", "ok": False, "error": error}
    return {"mailbox": "m", "ok": ok and not failed, "report": {"entities": {"email": {"failed": failed}}}}


def test_http_status():
    assert http_status({"mailboxes": [entry(), entry()]}) == 200
    assert http_status({"mailboxes": [entry(), entry(failed=2)]}) == 207
    assert http_status({"mailboxes": [entry(failed=2), entry(error="SourceError: x")]}) == 500
    assert http_status({"mailboxes": [], "error": "ConfigError: no org URL"}) == 500


def test_state_file_per_mailbox():
    setting = "/home/data/m2d-state.sqlite3"
    a = hosting.state_path_for(setting, Mailbox(grant="5a1e7c2d-3b4f"))
    assert a == "/home/data/m2d-state.5a1e7c2d-3b4f.sqlite3"
    b = hosting.state_path_for(setting, Mailbox(messages="/share/in box/a.json"))
    c = hosting.state_path_for(setting, Mailbox(messages="/share/in_box/a.json"))
    assert Path(b).parent == Path("/home/data") and "/" not in Path(b).name[len("m2d-state."):]
    assert b != c  # unsafe names are hashed, so two folders never share a state file
    assert hosting.state_path_for(None, Mailbox(grant="g")) is None


def test_unusable_settings_give_a_500_result_not_an_exception():
    result = hosting.sync_mailboxes([Mailbox(grant="g")], {"MAIL2DATAVERSE_AUTH": "none"})
    assert result["status"] == 500 and result["ok"] is False
    assert result["error"] == "ConfigError: no org URL: set DATAVERSE_URL (or DYNAMICS_ORG)"
    assert result["summary"].startswith("not started")
    result = hosting.sync_mailboxes([Mailbox(grant="g")], {"DATAVERSE_URL": "https://x.example", "MAIL2DATAVERSE_AUTH": "secret"})
    assert result["status"] == 500 and "AZURE_CLIENT_SECRET" in result["error"]


# ---------------------------------------------------------------------------------------------
# queue messages: retry, poison
# ---------------------------------------------------------------------------------------------

ENV = {"DATAVERSE_URL": "https://org.example", "MAIL2DATAVERSE_AUTH": "none", "MAIL2DATAVERSE_MAX_DEQUEUE": "3"}


@pytest.fixture
def failing_sync(monkeypatch):
    """Make every sync raise the exception the test puts in ``box[0]``."""
    box: list[BaseException] = []

    def fake_sync(*args, **kwargs):
        raise box[0]

    monkeypatch.setattr(hosting, "sync", fake_sync)
    return box


def test_transient_failure_retries_until_the_last_attempt_then_is_poison(failing_sync, caplog):
    failing_sync.append(WebApiError(503, "0x80040216", "Service unavailable", "POST $batch"))
    for attempt in (1, 2):
        with pytest.raises(WebApiError):  # the runtime retries the message
            hosting.sync_queue_message(b'{"grant": "g-1"}', attempt, ENV)
    report = hosting.sync_queue_message(b'{"grant": "g-1"}', 3, ENV)
    assert report["poison"] is True and report["permanent"] is False
    assert (report["mailbox"], report["dequeue_count"], report["message"]) == ("g-1", 3, '{"grant": "g-1"}')
    assert report["error"].startswith("WebApiError:")
    datetime.datetime.strptime(report["reported_at"], "%Y-%m-%dT%H:%M:%SZ")
    assert any(r.levelname == "ERROR" and "poison message for mailbox g-1 after 3" in r.getMessage() for r in caplog.records)


def test_permanent_failure_is_poison_at_once(failing_sync):
    failing_sync.append(SourceError("m.json: record 3: not a JSON object"))
    report = hosting.sync_queue_message('{"messages": "m.json"}', 1, ENV)
    assert report["poison"] and report["permanent"] and report["error"] == "SourceError: m.json: record 3: not a JSON object"


def test_unreadable_message_is_poison_and_keeps_its_text():
    report = hosting.sync_queue_message(b'{"grant": 5}', 1, ENV)
    assert report["poison"] and report["permanent"] and report["mailbox"] is None
    assert report["message"] == '{"grant": 5}'
    # a bare grant id (not JSON) is a valid message
    assert Mailbox.parse("g-2", "queue message").grant == "g-2"


def test_bad_threshold_setting_is_reported_not_retried_forever():
    report = hosting.sync_queue_message(b'"g"', 1, {**ENV, "MAIL2DATAVERSE_MAX_DEQUEUE": "lots"})
    assert report["poison"] and "MAIL2DATAVERSE_MAX_DEQUEUE" in report["error"]


# ---------------------------------------------------------------------------------------------
# certificates
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def certificate():
    """A throwaway self-signed certificate and key, as PEM and PKCS#12 (password 'pw')."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.hazmat.primitives.serialization import pkcs12
    from cryptography.x509.oid import NameOID

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "m2d test")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=1)).sign(key, hashes.SHA256())
    )
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption()) + cert.public_bytes(serialization.Encoding.PEM)
    pfx = pkcs12.serialize_key_and_certificates(b"m2d", key, cert, None, serialization.BestAvailableEncryption(b"pw"))
    return {"pem": pem, "pfx": pfx, "cert": cert}


def assert_usable_pem(path: str, cert) -> None:
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    file = Path(path)
    assert stat.S_IMODE(file.stat().st_mode) == 0o600
    assert stat.S_IMODE(file.parent.stat().st_mode) == 0o700
    data = file.read_bytes()
    serialization.load_pem_private_key(data, password=None)
    assert x509.load_pem_x509_certificates(data)[0] == cert


def test_key_vault_reference_with_pkcs12_becomes_a_private_pem_file(certificate):
    env = {"AZURE_CLIENT_CERTIFICATE": base64.b64encode(certificate["pfx"]).decode(),
           "AZURE_CLIENT_CERTIFICATE_PASSWORD": "pw", "AZURE_TENANT_ID": "t"}
    got = hosting.certificate_env(env)
    assert_usable_pem(got["AZURE_CLIENT_CERTIFICATE_PATH"], certificate["cert"])
    assert "AZURE_CLIENT_CERTIFICATE_PASSWORD" not in got  # the PEM written is not encrypted
    assert got["AZURE_TENANT_ID"] == "t" and env.get("AZURE_CLIENT_CERTIFICATE_PATH") is None  # input untouched
    assert hosting.certificate_env(env)["AZURE_CLIENT_CERTIFICATE_PATH"] == got["AZURE_CLIENT_CERTIFICATE_PATH"]  # once


def test_key_vault_reference_with_pem_and_a_platform_p12_file(certificate, tmp_path):
    got = hosting.certificate_env({"AZURE_CLIENT_CERTIFICATE": certificate["pem"].decode()})
    assert_usable_pem(got["AZURE_CLIENT_CERTIFICATE_PATH"], certificate["cert"])
    p12 = tmp_path / "ABCDEF.p12"
    p12.write_bytes(certificate["pfx"])
    got = hosting.certificate_env({"AZURE_CLIENT_CERTIFICATE_PATH": str(p12), "AZURE_CLIENT_CERTIFICATE_PASSWORD": "pw"})
    assert_usable_pem(got["AZURE_CLIENT_CERTIFICATE_PATH"], certificate["cert"])


def test_certificate_settings_errors_are_one_line_and_carry_no_value(certificate):
    with pytest.raises(ConfigError, match="expected PEM text or base64 PKCS#12") as err:
        hosting.certificate_env({"AZURE_CLIENT_CERTIFICATE": "not base64 at all!"})
    assert "not base64" not in str(err.value)
    with pytest.raises(ConfigError, match="wrong password"):
        hosting.certificate_env({"AZURE_CLIENT_CERTIFICATE": base64.b64encode(certificate["pfx"]).decode(),
                                 "AZURE_CLIENT_CERTIFICATE_PASSWORD": "nope"})
    pem_env = {"AZURE_CLIENT_CERTIFICATE_PATH": "/x/client.pem"}
    assert hosting.certificate_env(pem_env) is pem_env  # a PEM path passes through unchanged


def test_certificate_from_key_vault_is_accepted_by_the_auth_module(certificate):
    from cryptography.hazmat.primitives import hashes

    from mail2dataverse.auth import MsalClientCredentials

    env = hosting.certificate_env({"AZURE_CLIENT_CERTIFICATE": base64.b64encode(certificate["pfx"]).decode(),
                                   "AZURE_CLIENT_CERTIFICATE_PASSWORD": "pw"})
    made = {}

    def fake_msal_app(client_id, **kwargs):  # msal itself would reach login.microsoftonline.com
        made.update(kwargs)
        return object()

    provider = MsalClientCredentials("https://org.example", "tenant", "client",
                                     certificate_path=env["AZURE_CLIENT_CERTIFICATE_PATH"], app_factory=fake_msal_app)
    assert "PRIVATE KEY" in made["client_credential"]["private_key"]
    assert provider.thumbprints["sha256"] == certificate["cert"].fingerprint(hashes.SHA256()).hex().upper()


def test_a_failed_nylas_run_is_retried_not_poisoned_at_once(failing_sync):
    # exit status 1 from the CLI: a network error, a rate limit, an expired login being fixed
    from mail2dataverse.sources.nylas_cli import cli_error

    failing_sync.append(cli_error("nylas email list failed with exit status 1: Error: 503", transient=True))
    for attempt in (1, 2):
        with pytest.raises(SourceError):
            hosting.sync_queue_message(b'{"grant": "g-1"}', attempt, ENV)
    report = hosting.sync_queue_message(b'{"grant": "g-1"}', 3, ENV)
    assert report["poison"] and report["permanent"] is False and report["dequeue_count"] == 3
    assert report["error"].startswith("SourceError: nylas email list failed")
    # a CLI that is not installed cannot get better: reported on the first attempt
    failing_sync[0] = cli_error("the nylas CLI is not installed or not on PATH", transient=False)
    assert hosting.sync_queue_message(b'{"grant": "g-1"}', 1, ENV)["permanent"] is True


def test_a_mailbox_can_ask_for_several_contact_sources():
    mailbox = Mailbox.parse({"grant": "g-1", "contacts_source": "address_book,inbox"}, "MAIL2DATAVERSE_MAILBOXES")
    assert mailbox.inputs().nylas_options["source"] == "address_book,inbox"
    assert Mailbox.parse(mailbox.to_dict(), "queue message") == mailbox  # survives the queue
    assert "source" not in Mailbox(grant="g-1").inputs().nylas_options
    with pytest.raises(ConfigError, match=r"^MAIL2DATAVERSE_MAILBOXES: unknown contacts source 'sent'"):
        Mailbox.parse({"grant": "g-1", "contacts_source": "sent"}, "MAIL2DATAVERSE_MAILBOXES")
