"""Run configuration: a YAML file (``--config``) validated by ``schemas/config.schema.json``.

Settings only, never secrets: credentials come from the environment (``AZURE_CLIENT_SECRET``,
``AZURE_CLIENT_CERTIFICATE_PATH``...) and are read by :mod:`mail2dataverse.auth` alone.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from .errors import ConfigError, MappingError, Problem, SourceLocation

PROFILES = ("sales", "service", "none")


@dataclass(frozen=True)
class AttachmentPolicy:
    """Which attachments a run writes (``attachments:`` in the config file).

    :ivar include: write attachments at all.
    :ivar max_size: largest attachment, in bytes of its Base64 text (what the service
        measures); ``None`` takes the org's ``maxuploadfilesize``.
    :ivar inline_images: write inline images (``is_inline``, a ``content_id``) too.
    :ivar total_max: bytes (Base64) of attachments one run may write; ``None`` is no cap.
    :ivar reuse: identical content in several emails reuses the first copy's file
        (``attachmentid``) instead of storing it again.
    :ivar blocked_extensions: extensions refused in addition to the org's ``blockedattachments``.
    :ivar mark_notifications: an email that lost an attachment gets ``notifications = 1``, as
        server-side synchronization marks it.
    :ivar max_batch_bytes: cap on the attachment bytes one ``$batch`` request carries.
    """

    include: bool = True
    max_size: int | None = None
    inline_images: bool = True
    total_max: int | None = None
    reuse: bool = True
    blocked_extensions: tuple[str, ...] = ()
    mark_notifications: bool = True
    max_batch_bytes: int = 32 * 1024 * 1024


@dataclass(frozen=True)
class AppUser:
    """One application user (an app registration mapped to an application user in the org).

    Never a secret here: ``client_secret_env`` names the environment variable that holds the
    client secret; ``certificate_path`` is a PEM file (``certificate_password_env`` names the
    variable with its password, if any). ``tenant_id`` defaults to ``AZURE_TENANT_ID``.
    """

    client_id: str
    client_secret_env: str | None = None
    certificate_path: str | None = None
    certificate_password_env: str | None = None
    tenant_id: str | None = None
    name: str | None = None


@dataclass(frozen=True)
class RunConfig:
    """Everything a run can be told besides its inputs and credentials.

    :ivar profile: which Dynamics app decides "regarding": ``sales`` (opportunity),
        ``service`` (incident/case) or ``none`` (no link).
    :ivar owner_addresses: the mailbox owners' addresses (lower case); mail from them is
        outgoing (Sent), other mail incoming (Received).
    :ivar sent_folders: folder ids/names that mark a message as sent (Gmail ``SENT``, ...).
    :ivar freemail_extra: domains to treat as freemail in addition to the maintained lists.
    :ivar freemail_exclude: domains never to treat as freemail (a company on a listed domain).
    :ivar party_precedence: which table an address binds to first when several match.
    :ivar case_number_pattern: regular expression of a case ticket number in a subject.
    :ivar opportunity_domains: registrable domain → opportunity GUID or name (Sales profile).
    :ivar plugins_disable: plugin (entry point) names to block, built-ins included.
    :ivar plugin_settings: free-form settings for external plugins, keyed by plugin name.
    :ivar batch_size: operations per ``$batch`` request (1..1000).
    :ivar max_parallel: cap on requests in flight per application user (the governor starts at
        the service's ``x-ms-dop-hint`` and ramps up until throttled; the service's limit is 52).
    :ivar batch_seconds: server seconds a ``$batch`` is sized to take once measured.
    :ivar keep_affinity: keep the org's affinity cookie (every request then goes to one web server).
    :ivar application_users: app registrations to spread the work over (:class:`AppUser`); empty
        means the one identity from the environment.
    :ivar lookup_chunk: values per ``In(...)`` lookup query.
    :ivar create_completed: mark emails Completed (Received/Sent) after creating them.
    :ivar original_dates: created emails carry the message date as ``overriddencreatedon``
        (Dataverse then stores it as ``createdon``); needs ``prvOverrideCreatedOnCreatedBy``.
    :ivar threads: link replies to the email they answer (``parentactivityid``, the correlated
        activity) and let them inherit its regarding link.
    :ivar attachments: the attachment policy (:class:`AttachmentPolicy`).
    :ivar path: the file this came from, or None for defaults.
    """

    profile: str = "none"
    owner_addresses: tuple[str, ...] = ()
    sent_folders: tuple[str, ...] = ("SENT", "Sent", "Sent Items", "Sent Mail", "[Gmail]/Sent Mail")
    freemail_extra: tuple[str, ...] = ()
    freemail_exclude: tuple[str, ...] = ()
    party_precedence: tuple[str, ...] = ("systemuser", "contact", "account", "lead")
    case_number_pattern: str = r"CAS-\d{5}-[A-Z0-9]{6}"
    opportunity_domains: dict[str, str] = field(default_factory=dict)
    plugins_disable: tuple[str, ...] = ()
    plugin_settings: dict[str, Any] = field(default_factory=dict)
    batch_size: int = 1000
    max_parallel: int = 52
    batch_seconds: float = 20.0
    keep_affinity: bool = False
    application_users: tuple[AppUser, ...] = ()
    lookup_chunk: int = 200
    create_completed: bool = True
    original_dates: bool = True
    threads: bool = True
    attachments: AttachmentPolicy = field(default_factory=lambda: AttachmentPolicy())
    path: str | None = None


#: Where the org's URL comes from when not given directly (``DYNAMICS_ORG`` is the Nylas guide's name).
ORG_URL_ENV = ("DATAVERSE_URL", "DYNAMICS_ORG")


def org_url_from(env: Any, given: str | None = None, *, flag: str | None = None) -> str:
    """The org URL: ``given``, else ``DATAVERSE_URL``, else ``DYNAMICS_ORG``; no trailing slash.

    :param flag: the command-line flag that gives it (``--url``), named in the error.
    :raises ConfigError: none is set.
    """
    url = given or next((env.get(name) for name in ORG_URL_ENV if env.get(name)), None)
    if not url:
        how = f"give {flag} or set" if flag else "set"
        raise ConfigError(f"no org URL: {how} DATAVERSE_URL (or DYNAMICS_ORG)")
    return url.rstrip("/")


def config_schema() -> dict[str, Any]:
    """Return the JSON Schema of the configuration file (shipped as package data)."""
    text = resources.files("mail2dataverse.schemas").joinpath("config.schema.json").read_text("utf-8")
    return json.loads(text)


def load_config(path: str | Path | None) -> RunConfig:
    """Load and validate a configuration file; ``None`` gives the defaults.

    :raises MappingError: the file is invalid; every problem is listed as
        ``file:line:col: $.path: message``.
    :raises ConfigError: the file cannot be read.
    """
    if path is None:
        return RunConfig()
    from .yamlio import load_yaml, schema_problems  # the loader that keeps line numbers

    p = Path(path)
    try:
        text = p.read_text("utf-8")
    except OSError as exc:
        raise ConfigError(f"{p}: cannot read configuration: {exc.strerror}") from exc
    data, node = load_yaml(text, str(p))
    if data is None:
        data = {}
    problems = schema_problems(data, node, config_schema(), str(p))
    if problems:
        raise MappingError(problems)
    return _from_dict(data, str(p), node)


def _from_dict(data: dict[str, Any], path: str, node: Any) -> RunConfig:
    import re

    from .yamlio import locate

    pattern = data.get("case_number_pattern", RunConfig.case_number_pattern)
    try:
        re.compile(pattern)
    except re.error as exc:
        line, col = locate(node, ["case_number_pattern"])
        raise MappingError(
            [Problem(SourceLocation(path, line, col, "$.case_number_pattern"), f"invalid regular expression: {exc}")]
        ) from None
    plugins = data.get("plugins", {})
    lower = lambda xs: tuple(x.strip().lower() for x in xs)  # noqa: E731
    return RunConfig(
        profile=data.get("profile", "none"),
        owner_addresses=lower(data.get("owner_addresses", ())),
        sent_folders=tuple(data.get("sent_folders", RunConfig.sent_folders)),
        freemail_extra=lower(data.get("freemail", {}).get("extra", ())),
        freemail_exclude=lower(data.get("freemail", {}).get("exclude", ())),
        party_precedence=tuple(data.get("party_precedence", RunConfig.party_precedence)),
        case_number_pattern=pattern,
        opportunity_domains={k.lower(): v for k, v in data.get("opportunity_domains", {}).items()},
        plugins_disable=tuple(plugins.get("disable", ())),
        plugin_settings=dict(plugins.get("settings", {})),
        batch_size=data.get("batch_size", 1000),
        max_parallel=data.get("max_parallel", 52),
        batch_seconds=float(data.get("batch_seconds", 20.0)),
        keep_affinity=bool(data.get("keep_affinity", False)),
        application_users=tuple(AppUser(**u) for u in data.get("application_users", ())),
        lookup_chunk=data.get("lookup_chunk", 200),
        create_completed=data.get("create_completed", True),
        original_dates=data.get("original_dates", True),
        threads=data.get("threads", True),
        attachments=_attachment_policy(data.get("attachments", {})),
        path=path,
    )


def _attachment_policy(data: dict[str, Any]) -> AttachmentPolicy:
    """The ``attachments:`` section (already schema-checked) as an :class:`AttachmentPolicy`."""
    d = AttachmentPolicy()
    return AttachmentPolicy(
        include=data.get("include", d.include),
        max_size=data.get("max_size", d.max_size),
        inline_images=data.get("inline_images", d.inline_images),
        total_max=data.get("total_max", d.total_max),
        reuse=data.get("reuse", d.reuse),
        blocked_extensions=tuple(x.strip().lower().lstrip(".") for x in data.get("blocked_extensions", ())),
        mark_notifications=data.get("mark_notifications", d.mark_notifications),
        max_batch_bytes=data.get("max_batch_bytes", d.max_batch_bytes),
    )
