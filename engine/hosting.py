"""Library entry points for hosted runs: the Azure Functions app calls these, nothing else.

The generated ``function_app.py`` (``mail2dataverse scaffold azure-function``) stays thin: each
trigger turns its input into :class:`Mailbox` objects and calls :func:`sync_mailboxes` (HTTP and
timer) or :func:`sync_queue_message` (queue fan-out). Settings are read from app settings (the
environment) under the same names the CLI uses:

``DATAVERSE_URL`` (or ``DYNAMICS_ORG``), ``MAIL2DATAVERSE_AUTH`` (secret|certificate|none),
``MAIL2DATAVERSE_CONFIG``, ``MAIL2DATAVERSE_MAPPINGS``, ``MAIL2DATAVERSE_STATE``, ``MAIL2DATAVERSE_MAILBOXES``,
``MAIL2DATAVERSE_MAX_DEQUEUE``, ``MAIL2DATAVERSE_INPUT_ROOT``, and the ``AZURE_*`` credentials,
which only :mod:`mail2dataverse.auth` reads. Nothing returned here ever contains a secret: the
reports are built from :meth:`Report.to_dict` and one-line error messages.

A combined result looks like::

    {"ok": false, "status": 207, "summary": "...",
     "mailboxes": [{"mailbox": "grant-1", "ok": true, "report": {...}},
                   {"mailbox": "grant-2", "ok": false, "error": "SourceError: ..."}],
     "totals": {"mailboxes": 2, "mailboxes_failed": 1, "records_failed": 0, "entities": {...}}}
"""

from __future__ import annotations

import atexit
import base64
import hashlib
import json
import logging
import os
import re
import shutil
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from .config import RunConfig, load_config, org_url_from
from .errors import ConfigError, Mail2DataverseError, SourceError
from .report import ENTITIES, OUTCOMES, Report
from .sync import Inputs, sync

log = logging.getLogger("mail2dataverse.hosting")

#: Failures that no retry can fix: a bad setting, config or mapping, an unreadable export.
#: A queue message failing with one of these is reported as poison on its first attempt,
#: unless the error is marked ``transient`` (see :func:`is_permanent`).
PERMANENT_ERRORS: tuple[type[BaseException], ...] = (ConfigError, SourceError)
DEFAULT_MAX_DEQUEUE = 5  # the Functions runtime's own default for queues.maxDequeueCount
_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,79}$")


class BadRequest(ConfigError):
    """The caller's request (HTTP body or queue message) is wrong, not the app's settings."""


@dataclass(frozen=True)
class Mailbox:
    """One unit of work: a Nylas grant to export with the nylas CLI, or export files on disk.

    :ivar grant: the Nylas grant id (``Inputs(from_nylas=True, grant=...)``).
    :ivar messages: a messages export file (JSON/NDJSON/mbox/EML folder) when there is no grant.
    :ivar contacts: a contacts export file.
    :ivar fmt: the input format of the files (default: detect).
    :ivar config: a run configuration file for this mailbox only (default:
        ``MAIL2DATAVERSE_CONFIG``), e.g. to give its owner addresses.
    :ivar with_headers: with a grant, fetch each message's headers so its Message-ID is used.
    :ivar limit: with a grant, export at most this many messages.
    :ivar contacts_source: with a grant, which contacts to export: ``address_book`` (the CLI's
        default), ``inbox`` (people the mailbox corresponded with), ``domain``, or several,
        comma-separated (``"address_book,inbox"``).
    :ivar name: a label for reports and state files (default: the grant or the messages path).
    """

    grant: str | None = None
    messages: str | None = None
    contacts: str | None = None
    fmt: str | None = None
    config: str | None = None
    with_headers: bool = False
    limit: int | None = None
    contacts_source: str | None = None
    name: str | None = None

    @property
    def label(self) -> str:
        """How reports, logs and state file names refer to this mailbox."""
        return self.name or self.grant or self.messages or self.contacts or "mailbox"

    def inputs(self) -> Inputs:
        """The :class:`~mail2dataverse.sync.Inputs` of this mailbox, as the CLI would build them."""
        if self.grant:
            return Inputs.from_nylas_cli(self.grant, with_headers=self.with_headers, limit=self.limit,
                                         contacts_source=self.contacts_source)
        return Inputs(messages=self.messages, contacts=self.contacts, fmt=self.fmt)

    def to_dict(self) -> dict[str, Any]:
        """The JSON form (a queue message, an entry of ``MAIL2DATAVERSE_MAILBOXES``)."""
        return {k: v for k, v in self.__dict__.items() if v is not None and v is not False}

    @classmethod
    def parse(cls, item: Any, where: str) -> Mailbox:
        """A mailbox from a grant id string or an object with the fields above.

        :param where: names the setting or request the item came from, for the error message.
        :raises ConfigError: the item is neither.
        """
        if isinstance(item, str) and item.strip():
            return cls(grant=item.strip())
        if not isinstance(item, dict):
            raise ConfigError(f"{where}: a mailbox is a grant id or an object, got {json.dumps(item)[:80]}")
        unknown = set(item) - set(cls.__dataclass_fields__)
        if unknown:
            raise ConfigError(f"{where}: unknown mailbox field(s) {', '.join(sorted(unknown))}")
        for key in ("grant", "messages", "contacts", "fmt", "config", "name", "contacts_source"):
            if item.get(key) is not None and not isinstance(item[key], str):
                raise ConfigError(f"{where}: mailbox field {key!r} must be a string")
        if not isinstance(item.get("with_headers", False), bool):
            raise ConfigError(f"{where}: mailbox field 'with_headers' must be true or false")
        if item.get("limit") is not None and (isinstance(item["limit"], bool) or not isinstance(item["limit"], int)):
            raise ConfigError(f"{where}: mailbox field 'limit' must be an integer")
        mailbox = cls(**item)
        if not (mailbox.grant or mailbox.messages or mailbox.contacts):
            raise ConfigError(f"{where}: a mailbox needs a 'grant', or 'messages' and/or 'contacts' files")
        if mailbox.grant and (mailbox.messages or mailbox.contacts):
            raise ConfigError(f"{where}: give a mailbox either a 'grant' or export files, not both")
        if mailbox.contacts_source:
            from .sources.nylas_cli import contact_sources

            try:
                contact_sources(mailbox.contacts_source)
            except ConfigError as exc:
                raise ConfigError(f"{where}: {exc}") from None
        return mailbox


# ---------------------------------------------------------------------------------------------
# where the mailboxes come from
# ---------------------------------------------------------------------------------------------


def mailboxes_from_settings(env: Mapping[str, str], body: Any = None) -> list[Mailbox]:
    """The mailboxes to sync: from the request body when it names any, else from the settings.

    :param env: the app settings (``os.environ`` in a function app).
    :param body: the HTTP request body: raw bytes/str (JSON), or already parsed: ``None`` or ``{}``
        (use ``MAIL2DATAVERSE_MAILBOXES``), ``{"mailboxes": [...]}``, a list, or one mailbox
        (``{"grant": ...}`` / ``{"messages": ..., "contacts": ...}``). A mailbox is a grant id
        string or an object (see :class:`Mailbox`).
    :raises BadRequest: the body is not JSON or not a mailbox list; a file mailbox in the body
        lies outside ``MAIL2DATAVERSE_INPUT_ROOT`` (or that setting is not set: without it a
        request may only name grants, so a function key cannot make the app read arbitrary files).
    :raises ConfigError: ``MAIL2DATAVERSE_MAILBOXES`` is invalid, or no mailbox is configured.
    """
    items = _body_items(body)
    if items is not None:
        try:
            mailboxes = [Mailbox.parse(item, "request body") for item in items]
        except ConfigError as exc:
            raise BadRequest(str(exc)) from None
        if not mailboxes:
            raise BadRequest("request body: the mailbox list is empty")
        for mailbox in mailboxes:
            _check_input_root(mailbox, env)
        return mailboxes
    raw = (env.get("MAIL2DATAVERSE_MAILBOXES") or "").strip()
    if not raw:
        raise ConfigError(
            "no mailboxes: set MAIL2DATAVERSE_MAILBOXES (JSON list, or comma-separated grant ids) "
            'or post {"mailboxes": [...]}'
        )
    if raw[0] in "[{":
        try:
            parsed = json.loads(raw)
        except ValueError as exc:
            raise ConfigError(f"MAIL2DATAVERSE_MAILBOXES: not valid JSON ({exc.msg} at character {exc.pos})") from None
        parsed = parsed if isinstance(parsed, list) else [parsed]
    else:
        parsed = [part for part in (p.strip() for p in raw.split(",")) if part]
    mailboxes = [Mailbox.parse(item, "MAIL2DATAVERSE_MAILBOXES") for item in parsed]
    if not mailboxes:
        raise ConfigError("MAIL2DATAVERSE_MAILBOXES names no mailbox")
    return mailboxes


def _body_items(body: Any) -> list[Any] | None:
    """The mailbox items a request body names, or ``None`` when it names none."""
    if isinstance(body, (bytes, bytearray, str)):
        text = body.decode("utf-8", "replace") if isinstance(body, (bytes, bytearray)) else body
        if not text.strip():
            return None
        try:
            body = json.loads(text)
        except ValueError as exc:
            raise BadRequest(f"request body: not valid JSON ({exc.msg} at character {exc.pos})") from None
    if body is None or body == {}:
        return None
    if isinstance(body, list):
        return body
    if isinstance(body, dict):
        if "mailboxes" in body:
            if not isinstance(body["mailboxes"], list):
                raise BadRequest("request body: 'mailboxes' must be a list")
            return body["mailboxes"]
        return [body]
    raise BadRequest("request body: expected a JSON object or list")


def _check_input_root(mailbox: Mailbox, env: Mapping[str, str]) -> None:
    files = [p for p in (mailbox.messages, mailbox.contacts, mailbox.config) if p]
    if not files:
        return
    root = env.get("MAIL2DATAVERSE_INPUT_ROOT")
    if not root:
        raise BadRequest(
            "request body: files can only be named when MAIL2DATAVERSE_INPUT_ROOT is set; name grants instead"
        )
    base = Path(root).resolve()
    for path in files:
        if not Path(base, path).resolve().is_relative_to(base):
            raise BadRequest(f"request body: {path} is outside MAIL2DATAVERSE_INPUT_ROOT")


# ---------------------------------------------------------------------------------------------
# running syncs
# ---------------------------------------------------------------------------------------------


class _Runner:
    """Settings resolved once per invocation and shared by its mailboxes (one token cache)."""

    def __init__(self, env: Mapping[str, str], auth: Any = None):
        self.env = env
        self.url = org_url_from(env)
        self.root = env.get("MAIL2DATAVERSE_INPUT_ROOT")
        self.state = env.get("MAIL2DATAVERSE_STATE") or None
        self._configs: dict[str | None, RunConfig] = {}
        if auth is None:
            from .auth import auth_from_env

            auth = auth_from_env(None, self.url, env=certificate_env(env))
        self.auth = auth

    def config(self, path: str | None) -> RunConfig:
        path = path or self.env.get("MAIL2DATAVERSE_CONFIG") or None
        if path not in self._configs:
            self._configs[path] = load_config(self._resolve(path) if path else None)
        return self._configs[path]

    def _resolve(self, path: str) -> str:
        # Relative paths are relative to MAIL2DATAVERSE_INPUT_ROOT when set (the file share),
        # else to the working directory (the function app's folder on Azure).
        return str(Path(self.root, path)) if self.root else path

    def run(self, mailbox: Mailbox) -> Report:
        inputs = mailbox.inputs()
        if not mailbox.grant:
            inputs.messages = self._resolve(inputs.messages) if inputs.messages else None
            inputs.contacts = self._resolve(inputs.contacts) if inputs.contacts else None
        return sync(
            inputs,
            self.config(mailbox.config),
            url=self.url,
            auth=self.auth,
            state_path=state_path_for(self.state, mailbox),
            mappings_dirs=mapping_dirs(self.env),
        )


def mapping_dirs(env: Mapping[str, str]) -> list[str]:
    """The ``--mappings`` folders of a hosted run: ``MAIL2DATAVERSE_MAPPINGS``, comma-separated,
    relative to the function app's folder (``scaffold azure-function --mappings`` copies the
    user's folder to ``m2d/mappings`` and sets it there)."""
    return [part.strip() for part in env.get("MAIL2DATAVERSE_MAPPINGS", "").split(",") if part.strip()]


def state_path_for(setting: str | None, mailbox: Mailbox) -> str | None:
    """The SQLite state file of one mailbox: ``MAIL2DATAVERSE_STATE`` with the mailbox inserted.

    ``/home/data/m2d-state.sqlite3`` becomes ``/home/data/m2d-state.<mailbox>.sqlite3``. One file
    per mailbox because queue workers on several instances run at once and SQLite cannot share
    one file across hosts on a network share. ``None`` (setting unset) keeps state in memory.
    """
    if not setting:
        return None
    label = mailbox.label
    slug = label if _SAFE_NAME.match(label) else (
        re.sub(r"[^A-Za-z0-9._-]+", "_", label).strip("._-")[-40:] + "-" + hashlib.sha256(label.encode()).hexdigest()[:8]
    )
    path = Path(setting)
    return str(path.with_name(f"{path.stem}.{slug}{path.suffix}"))


def sync_mailboxes(mailboxes: Sequence[Mailbox], env: Mapping[str, str] = os.environ, *, auth: Any = None) -> dict[str, Any]:
    """Sync each mailbox in turn and combine the reports; one failing mailbox stops no other.

    :param env: the app settings.
    :param auth: a token provider; ``None`` builds one from the settings
        (``MAIL2DATAVERSE_AUTH`` and the ``AZURE_*`` credentials).
    :returns: ``{"ok", "status", "summary", "mailboxes": [...], "totals": {...}}`` (see the module
        docstring); ``"error"`` instead of mailbox entries when the settings are unusable.
    """
    try:
        runner = _Runner(env, auth)
    except Exception as exc:  # noqa: BLE001 - the caller gets a JSON answer, never a traceback
        log.error("mail2dataverse: cannot start: %s", _describe(exc))
        return _combine([], error=_describe(exc))
    entries = []
    for mailbox in mailboxes:
        try:
            report = runner.run(mailbox)
        except Exception as exc:  # noqa: BLE001 - reported per mailbox, the others still run
            if isinstance(exc, Mail2DataverseError):
                log.error("mail2dataverse: mailbox %s failed: %s", mailbox.label, exc)
            else:
                log.exception("mail2dataverse: mailbox %s failed unexpectedly", mailbox.label)
            entries.append({"mailbox": mailbox.label, "ok": False, "error": _describe(exc)})
            continue
        data = report.to_dict()
        if runner.state is None:
            data["warnings"].append("MAIL2DATAVERSE_STATE is not set: state kept in memory, every run relies on lookups")
        entries.append({"mailbox": mailbox.label, "ok": report.ok, "report": data})
    result = _combine(entries)
    log.info("mail2dataverse: %s", result["summary"].replace("\n", "; "))
    return result


def _describe(exc: BaseException) -> str:
    """A one-line error naming its kind; engine errors never format secrets (see errors.py)."""
    text = str(exc).splitlines()[0] if str(exc) else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _combine(entries: list[dict[str, Any]], *, error: str | None = None) -> dict[str, Any]:
    entities = {e: dict.fromkeys(OUTCOMES, 0) for e in ENTITIES}
    for entry in entries:
        for name, counts in entry.get("report", {}).get("entities", {}).items():
            for outcome in OUTCOMES:
                entities.setdefault(name, dict.fromkeys(OUTCOMES, 0))[outcome] += counts.get(outcome, 0)
    totals = {
        "mailboxes": len(entries),
        "mailboxes_failed": sum(1 for e in entries if "error" in e),
        "records_failed": sum(c["failed"] for c in entities.values()),
        "entities": entities,
    }
    result: dict[str, Any] = {"ok": error is None and all(e["ok"] for e in entries), "mailboxes": entries, "totals": totals}
    if error is not None:
        result["error"] = error
    result["status"] = http_status(result)
    result["summary"] = _summary(result)
    return result


def _summary(result: dict[str, Any]) -> str:
    """A few lines for a notification e-mail or a log line: one per mailbox."""
    if "error" in result:
        return f"not started: {result['error']}"
    lines = []
    for entry in result["mailboxes"]:
        if "error" in entry:
            lines.append(f"{entry['mailbox']}: FAILED {entry['error']}")
            continue
        counts = entry["report"]["entities"]
        done = ", ".join(
            f"{name} {c['created']} created/{c['updated']} updated/{c['unchanged']} unchanged"
            + (f"/{c['failed']} failed" if c["failed"] else "")
            for name, c in counts.items()
        )
        lines.append(f"{entry['mailbox']}: {'ok' if entry['ok'] else 'records failed'}: {done}")
    return "\n".join(lines)


def http_status(result: Mapping[str, Any]) -> int:
    """The HTTP status for a combined result: 200 all ok, 207 some records failed, 500 a
    mailbox failed entirely (or the settings are unusable)."""
    entries = result.get("mailboxes", [])
    if "error" in result or any("error" in e for e in entries):
        return 500
    if any(not e.get("ok") for e in entries):
        return 207
    return 200


# ---------------------------------------------------------------------------------------------
# queue fan-out
# ---------------------------------------------------------------------------------------------


def queue_messages(mailboxes: Iterable[Mailbox]) -> list[str]:
    """One queue message (JSON text) per mailbox, for the fan-out function's output binding."""
    return [json.dumps(m.to_dict(), ensure_ascii=False) for m in mailboxes]


def sync_queue_message(
    body: bytes | str, dequeue_count: int | None, env: Mapping[str, str] = os.environ, *, auth: Any = None
) -> dict[str, Any]:
    """Sync the one mailbox a queue message names; decide between retry and poison.

    - Success (even with some records failed, which the next run retries): the mailbox entry
      ``{"mailbox", "ok", "report", "poison": false}``.
    - A permanent failure (bad message, settings, config or export) or any failure on the last
      attempt (``dequeue_count >= MAIL2DATAVERSE_MAX_DEQUEUE``): a poison report (see
      :func:`poison_report`), logged as an error, returned for the caller to write to the poison
      queue. The caller then returns normally, so the runtime deletes the message: the report,
      which carries the original message, is its only copy.
    - Any other failure before the last attempt: the exception propagates, and the Functions
      runtime makes the message visible again for another attempt.
    """
    attempt = int(dequeue_count or 1)
    text = body.decode("utf-8", "replace") if isinstance(body, (bytes, bytearray)) else str(body)
    try:
        max_dequeue = max_dequeue_setting(env)
        try:
            item = json.loads(text)
        except ValueError:
            item = text.strip()  # a bare grant id is a valid message too
        mailbox = Mailbox.parse(item, "queue message")
    except ConfigError as exc:
        return poison_report(text, attempt, exc, permanent=True)
    try:
        report = _Runner(env, auth).run(mailbox)
    except Exception as exc:
        if is_permanent(exc):
            return poison_report(text, attempt, exc, permanent=True, mailbox=mailbox)
        if attempt >= max_dequeue:
            return poison_report(text, attempt, exc, permanent=False, mailbox=mailbox)
        log.warning(
            "mail2dataverse: mailbox %s attempt %d of %d failed, will retry: %s",
            mailbox.label, attempt, max_dequeue, _describe(exc),
        )
        raise
    data = report.to_dict()
    if report.failed:
        log.warning("mail2dataverse: mailbox %s: %d records failed (the next run retries them)", mailbox.label, report.failed)
    else:
        log.info("mail2dataverse: mailbox %s synced", mailbox.label)
    return {"mailbox": mailbox.label, "ok": report.ok, "report": data, "poison": False}


def is_permanent(exc: BaseException) -> bool:
    """True when no retry can fix ``exc``: a :data:`PERMANENT_ERRORS` error not marked
    ``transient``. A failing ``nylas`` run (network, rate limit, timeout, output cut short) is a
    SourceError marked transient, so the queue retries it instead of giving the mailbox up on
    its first attempt; a missing CLI or a damaged export file is permanent."""
    return isinstance(exc, PERMANENT_ERRORS) and not getattr(exc, "transient", False)


def max_dequeue_setting(env: Mapping[str, str]) -> int:
    """``MAIL2DATAVERSE_MAX_DEQUEUE`` (default 5); keep it equal to host.json's maxDequeueCount."""
    raw = env.get("MAIL2DATAVERSE_MAX_DEQUEUE") or str(DEFAULT_MAX_DEQUEUE)
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"MAIL2DATAVERSE_MAX_DEQUEUE: expected a whole number, got {raw!r}") from None
    if value < 1:
        raise ConfigError("MAIL2DATAVERSE_MAX_DEQUEUE must be at least 1")
    return value


def poison_report(
    message: str, dequeue_count: int, error: BaseException, *, permanent: bool, mailbox: Mailbox | None = None
) -> dict[str, Any]:
    """The record of a queue message given up on, logged as an error.

    ``{"poison": true, "mailbox", "message", "dequeue_count", "permanent", "error", "reported_at"}``;
    ``message`` is the original message text, so re-queueing it re-runs the mailbox.
    """
    report = {
        "poison": True,
        "ok": False,
        "mailbox": mailbox.label if mailbox else None,
        "message": message[:8000],
        "dequeue_count": dequeue_count,
        "permanent": permanent,
        "error": _describe(error),
        "reported_at": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    log.error(
        "mail2dataverse: poison message for mailbox %s after %d attempt(s)%s: %s",
        report["mailbox"] or "(unreadable message)", dequeue_count, " (permanent error)" if permanent else "", report["error"],
    )
    return report


# ---------------------------------------------------------------------------------------------
# certificates from Key Vault references or platform-loaded .p12 files
# ---------------------------------------------------------------------------------------------

_materialised: dict[str, str] = {}


def certificate_env(env: Mapping[str, str]) -> Mapping[str, str]:
    """``env`` with ``AZURE_CLIENT_CERTIFICATE_PATH`` pointing at a PEM file msal can use.

    - ``AZURE_CLIENT_CERTIFICATE`` holds the certificate itself: what a Key Vault reference app
      setting (``@Microsoft.KeyVault(SecretUri=...)`` on a certificate's secret) resolves to,
      either PEM text or base64 PKCS#12.
    - ``AZURE_CLIENT_CERTIFICATE_PATH`` ends in ``.p12``/``.pfx``: e.g. the file App Service
      writes for ``WEBSITE_LOAD_CERTIFICATES`` (``/var/ssl/private/<thumbprint>.p12``).

    Either is converted once per process into a PEM file (certificate and key) readable by this
    user only, in a private temporary folder removed at exit. Other settings pass unchanged.
    """
    content = env.get("AZURE_CLIENT_CERTIFICATE")
    path = env.get("AZURE_CLIENT_CERTIFICATE_PATH")
    password = env.get("AZURE_CLIENT_CERTIFICATE_PASSWORD") or None
    if content and not path:
        try:
            data = content.encode() if "-----BEGIN" in content else base64.b64decode("".join(content.split()), validate=True)
        except ValueError:
            raise ConfigError("AZURE_CLIENT_CERTIFICATE: expected PEM text or base64 PKCS#12") from None
    elif path and Path(path).suffix.lower() in (".p12", ".pfx"):
        data = Path(path).read_bytes()
    else:
        return env
    # The password is part of the key: a wrong one must fail even after a right one succeeded.
    key = hashlib.sha256(data + b"\0" + (password or "").encode()).hexdigest()
    if key not in _materialised:
        pem = data if data.lstrip().startswith(b"-----BEGIN") else _pkcs12_to_pem(data, password)
        folder = tempfile.mkdtemp(prefix="m2d-cert-")  # mode 0700
        atexit.register(shutil.rmtree, folder, True)
        target = Path(folder, "client.pem")
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(pem)
        _materialised[key] = str(target)
    merged = dict(env)
    merged["AZURE_CLIENT_CERTIFICATE_PATH"] = _materialised[key]
    if not data.lstrip().startswith(b"-----BEGIN"):
        merged.pop("AZURE_CLIENT_CERTIFICATE_PASSWORD", None)  # the PEM written is not encrypted
    return merged


def _pkcs12_to_pem(data: bytes, password: str | None) -> bytes:
    # cryptography is already installed as msal's dependency.
    from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat, pkcs12

    try:
        key, cert, _ = pkcs12.load_key_and_certificates(data, password.encode() if password else None)
    except ValueError:
        raise ConfigError("the client certificate (PKCS#12) cannot be read: wrong password or not a certificate") from None
    if key is None or cert is None:
        raise ConfigError("the client certificate (PKCS#12) must hold both the certificate and its private key")
    return key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()) + cert.public_bytes(Encoding.PEM)


__all__ = [
    "BadRequest",
    "ConfigError",
    "Mailbox",
    "certificate_env",
    "http_status",
    "is_permanent",
    "mailboxes_from_settings",
    "max_dequeue_setting",
    "poison_report",
    "queue_messages",
    "state_path_for",
    "sync_mailboxes",
    "sync_queue_message",
]
