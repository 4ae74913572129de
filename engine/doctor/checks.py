"""The doctor's checks against an org, in the order a sync meets them.

Every query here is a read the sync itself makes, or one of the documented metadata and
privilege queries; none writes. A check that cannot run because an earlier one failed (no
token, so no ``WhoAmI``) is ``skip``, not a second failure.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from ..errors import AuthError, ConfigError, MappingError
from ..operations import Operation
from ..preflight import MAPPED_TABLES, column_problems, read_columns
from . import privileges
from .model import Check

#: (table, message) pairs a sync sends as bulk operations
BULK = (("contact", "CreateMultiple"), ("contact", "UpdateMultiple"), ("contact", "UpsertMultiple"),
        ("account", "CreateMultiple"), ("account", "UpdateMultiple"))
_FIX_METADATA = "give the application user's security role read access to customizations (prvReadEntity...)"


def describe_auth(kind: str | None, env: Mapping[str, str], provider: Any = None) -> str:
    """Which auth kind, tenant and client id a run uses (never the secret, the certificate key or token)."""
    kind = kind or env.get("MAIL2DATAVERSE_AUTH") or ("certificate" if env.get("AZURE_CLIENT_CERTIFICATE_PATH") else "secret")
    if kind == "none":
        return "no Entra ID (--auth none): " + ("DATAVERSE_TOKEN from the environment" if env.get("DATAVERSE_TOKEN")
                                                 else "the emulator's placeholder token")
    what = (f"client secret (AZURE_CLIENT_SECRET {'set' if env.get('AZURE_CLIENT_SECRET') else 'not set'})"
            if kind == "secret" else f"certificate {env.get('AZURE_CLIENT_CERTIFICATE_PATH') or '(not set)'}")
    thumb = (getattr(provider, "thumbprints", None) or {}).get("sha1")
    return (f"{kind}: tenant {env.get('AZURE_TENANT_ID') or '(not set)'}, client id "
            f"{env.get('AZURE_CLIENT_ID') or '(not set)'}, {what}" + (f", thumbprint {thumb}" if thumb else ""))


class _Org:
    """The read-only calls of the checks, on one client (no retries: the org answered already)."""

    def __init__(self, client: Any):
        self.client = client

    def get(self, path: str) -> Any:
        return self.client.send(Operation("GET", path))


def _service_error(res: Any) -> str:
    return f"HTTP {res.status} {res.error_code or ''} {res.error_message or ''}".strip()


def _nav_names(org: _Org, table: str) -> tuple[set[str] | None, str]:
    res = org.get(f"EntityDefinitions(LogicalName='{table}')/ManyToOneRelationships"
                  "?$select=ReferencingEntityNavigationPropertyName,ReferencedEntity")
    if not res.ok:
        return None, _service_error(res)
    return {r.get("ReferencingEntityNavigationPropertyName") for r in (res.body or {}).get("value", [])}, ""


def needed_navigation(mappings: Any, config: Any) -> dict[str, list[str]]:
    """Navigation properties a sync binds, per table: contact→account, parties, regarding."""
    out: dict[str, list[str]] = {}
    for table, attr in MAPPED_TABLES:
        mapping = getattr(mappings, attr, None)
        for column in getattr(mapping, "columns", ()):
            if column.name.endswith("@odata.bind"):
                out.setdefault(table, []).append(column.name[: -len("@odata.bind")])
        bind = getattr(mapping, "bind", None)
        if bind is not None and bind.name.endswith("@odata.bind"):
            out.setdefault(table, []).append(bind.name[: -len("@odata.bind")])
    out["activityparty"] = [f"partyid_{t}" for t in config.party_precedence]
    regarding = {"sales": "opportunity", "service": "incident"}.get(config.profile)
    if regarding:
        out.setdefault("email", []).append(f"regardingobjectid_{regarding}_email")
    return {t: list(dict.fromkeys(v)) for t, v in out.items()}


def org_checks(org: _Org, user_id: str | None, config: Any, mappings: Any) -> list[Check]:
    """Privileges, columns, navigation properties, keys and bulk messages."""
    checks = _privilege_checks(org, user_id, config, mappings)
    checks += _column_checks(org, mappings)
    checks += _navigation_checks(org, mappings, config)
    checks += _key_checks(org)
    checks += _bulk_checks(org)
    return checks


def _privilege_checks(org: _Org, user_id: str | None, config: Any, mappings: Any) -> list[Check]:
    needs = privileges.required(config.profile, tuple(config.party_precedence))
    groups: dict[str, list[privileges.Need]] = {}
    for n in needs:
        groups.setdefault(n.check, []).append(n)
    if not user_id:
        return [Check(cid, f"privileges on {g[0].tables}", "skip", "WhoAmI gave no user id") for cid, g in groups.items()]
    held, why = privileges.read(org.get, user_id)
    if held is None:
        return [Check("privileges", "the application user's privileges", "fail", why,
                      "the user may lack the privileges to read its own roles (prvReadUser, prvReadRole): add them to its security role")]
    checks = []
    for cid, group in groups.items():
        missing, shallow = privileges.evaluate(group, held)
        title = f"privileges on {group[0].tables}"
        if missing:
            checks.append(Check(cid, title, "fail", f"missing {', '.join(missing)} ({group[0].why})",
                                "add them to the application user's security role (Power Platform admin center → "
                                "Environments → Settings → Security roles), at Organization level"))
        elif shallow:
            checks.append(Check(cid, title, "warn", f"below Organization level: {', '.join(shallow)}",
                                "raise them to Organization: at a lower level the sync cannot see records owned "
                                "elsewhere and creates duplicates of them"))
        else:
            checks.append(Check(cid, title, "pass", ", ".join(n.privilege for n in group)))
    writes_date = any(c.name == "overriddencreatedon" for c in getattr(mappings.email, "columns", ()))
    if privileges.OVERRIDE_CREATED_ON in held:
        checks.append(Check("privileges.overriddencreatedon", "setting an email's original date (overriddencreatedon)",
                            "pass", privileges.OVERRIDE_CREATED_ON))
    else:
        checks.append(Check("privileges.overriddencreatedon", "setting an email's original date (overriddencreatedon)",
                            "fail" if writes_date else "warn", f"{privileges.OVERRIDE_CREATED_ON} is not held"
                            + (": the email mapping writes overriddencreatedon" if writes_date else
                               ": emails show the day they were synced as their created date"),
                            f"add {privileges.OVERRIDE_CREATED_ON} (Security role → Miscellaneous Privileges → "
                            "Override Created on or Created by for Records during Data Import)"))
    return checks


def _column_checks(org: _Org, mappings: Any) -> list[Check]:
    checks = []
    for table, _attr in MAPPED_TABLES:
        cache: dict[str, Any] = {}

        def attributes(t: str, table: str = table) -> Any:
            if t != table:
                return {}  # another table: checked on its own row
            if t not in cache:
                cache[t] = read_columns(org.get, t)
            return cache[t]

        problems, warnings = column_problems(_OneTable(mappings, table), attributes)
        title = f"{table} mapping columns in the org"
        if warnings:
            checks.append(Check(f"columns.{table}", title, "warn", warnings[0], _FIX_METADATA))
        elif problems:
            checks.append(Check(f"columns.{table}", title, "fail", "; ".join(str(p) for p in problems[:5])
                                + (f" (and {len(problems) - 5} more)" if len(problems) > 5 else ""),
                                "fix the mapping at the file:line:col above, or add the column to the org"))
        else:
            n = sum(1 for c in getattr(getattr(mappings, table), "columns", ()) if "@" not in c.name)
            checks.append(Check(f"columns.{table}", title, "pass", f"{n} columns exist with compatible types and lengths"))
    return checks


class _OneTable:
    """A view of a mapping set with one table's mapping (the others None), for per-table rows."""

    def __init__(self, mappings: Any, table: str):
        for t, attr in MAPPED_TABLES:
            setattr(self, attr, getattr(mappings, attr) if t == table else None)


def _navigation_checks(org: _Org, mappings: Any, config: Any) -> list[Check]:
    checks = []
    for table, navs in needed_navigation(mappings, config).items():
        names, why = _nav_names(org, table)
        title = f"{table} navigation properties"
        if names is None:
            checks.append(Check(f"navigation.{table}", title, "warn", f"could not read them: {why}", _FIX_METADATA))
            continue
        missing = [n for n in navs if n not in names]
        if missing:
            checks.append(Check(f"navigation.{table}", title, "fail", f"the org has no {', '.join(missing)}",
                                "install the app the profile needs (Sales for opportunity, Customer Service for "
                                "incident), or set `profile` in the config to match the org"))
        else:
            checks.append(Check(f"navigation.{table}", title, "pass", ", ".join(navs)))
    return checks


def _key_checks(org: _Org) -> list[Check]:
    checks = []
    for table in ("contact", "account"):
        res = org.get(f"EntityDefinitions(LogicalName='{table}')/Keys?$select=SchemaName,KeyAttributes,EntityKeyIndexStatus")
        title = f"{table} alternate keys"
        if not res.ok:
            checks.append(Check(f"keys.{table}", title, "warn", f"could not read them: {_service_error(res)}", _FIX_METADATA))
            continue
        keys = (res.body or {}).get("value", [])
        shown = [f"{k.get('SchemaName')} ({'+'.join(k.get('KeyAttributes', []))}: {k.get('EntityKeyIndexStatus')})"
                 for k in keys]
        bad = [s for s, k in zip(shown, keys) if k.get("EntityKeyIndexStatus") != "Active"]
        if bad:
            checks.append(Check(f"keys.{table}", title, "warn", f"not usable yet: {', '.join(bad)}",
                                "a key is used once its index is Active; a Failed one must be deleted and created "
                                "again (Power Apps → Tables → Keys)"))
        elif not keys:
            note = " (contacts are matched by lookups and written by id, which works)" if table == "contact" else ""
            checks.append(Check(f"keys.{table}", title, "pass", "none" + note))
        else:
            checks.append(Check(f"keys.{table}", title, "pass", ", ".join(shown)))
    return checks


def _bulk_checks(org: _Org) -> list[Check]:
    by_table: dict[str, list[str]] = {}
    missing: dict[str, list[str]] = {}
    errors: dict[str, str] = {}
    for table, message in BULK:
        res = org.get(f"sdkmessagefilters?$select=sdkmessagefilterid&$filter=primaryobjecttypecode eq '{table}' "
                      f"and sdkmessageid/name eq '{message}'")
        if not res.ok:
            errors[table] = _service_error(res)
            continue
        (by_table if (res.body or {}).get("value") else missing).setdefault(table, []).append(message)
    checks = []
    for table in ("contact", "account"):
        title = f"bulk messages on {table}"
        if table in errors:
            checks.append(Check(f"bulk.{table}", title, "warn", f"could not read sdkmessagefilters: {errors[table]}",
                                "give the application user read access to SDK messages (prvReadSdkMessage...)"))
        elif missing.get(table):
            checks.append(Check(f"bulk.{table}", title, "fail", f"not supported: {', '.join(missing[table])}",
                                "CreateMultiple/UpdateMultiple reach every org with the 2023 release wave; "
                                "update the environment"))
        else:
            checks.append(Check(f"bulk.{table}", title, "pass", ", ".join(by_table.get(table, []))))
    return checks


def run_checks(
    *,
    url: str | None,
    auth_kind: str | None,
    config: Any,
    mappings_dirs: Sequence[str | Path] = (),
    env: Mapping[str, str] | None = None,
    verify: bool | str = True,
    nylas_grant: str | None = None,
    nylas_executable: str = "nylas",
    client_factory: Callable[..., Any] | None = None,
) -> list[Check]:
    """Every check, in order (see :mod:`mail2dataverse.doctor`).

    :param nylas_grant: ``None`` skips the Nylas CLI checks; ``""`` checks the default grant.
    :param client_factory: ``(url, auth, **options) → WebApiClient`` (tests pass their own).
    """
    from ..auth import auth_from_env
    from ..probe import OrgUnreachable, probe, reachable
    from ..sync import build_runtime
    from .nylas import nylas_checks

    env = os.environ if env is None else env
    checks: list[Check] = []
    mappings = None
    try:
        _plugins, mappings = build_runtime(config, mappings_dirs)
        checks.append(Check("mappings", "mapping files compile", "pass", "contact, account, email"))
    except MappingError as exc:
        checks.append(Check("mappings", "mapping files compile", "fail", "; ".join(str(p) for p in exc.problems[:3]),
                            "run `mail2dataverse validate` and fix every problem it prints"))
    org_ready = False
    if not url:
        checks.append(Check("url", "the org URL answers", "fail", "no URL", "give --url or set DATAVERSE_URL"))
    else:
        try:
            checks.append(Check("url", "the org URL answers and is a Dataverse org", "pass",
                                f"{url} {reachable(url, verify=verify)}"))
            org_ready = True
        except OrgUnreachable as exc:
            checks.append(Check("url", "the org URL answers and is a Dataverse org", "fail", str(exc).split("; ")[0],
                                exc.hint))
    auth = None
    try:
        auth = auth_from_env(auth_kind, url or "", env)
        auth.token()
        checks.append(Check("token", "a token can be had", "pass", describe_auth(auth_kind, env, auth)))
    except (ConfigError, AuthError) as exc:
        checks.append(Check("token", "a token can be had", "fail", f"{describe_auth(auth_kind, env)}: {exc}",
                            "set the variables named above (docs/sync.md lists them); for an expired secret, "
                            "create a new one in the app registration"))
        auth = None
    identity = None
    if org_ready and auth is not None:
        try:
            identity = probe(url, auth, verify=verify)
            checks.append(Check("whoami", "WhoAmI", "pass", f"user {identity.user_id}, business unit "
                                f"{identity.business_unit_id}, organization {identity.organization_id}"))
        except (OrgUnreachable, AuthError) as exc:
            checks.append(Check("whoami", "WhoAmI", "fail", str(exc).split("; ")[0], getattr(exc, "hint", "")))
    else:
        checks.append(Check("whoami", "WhoAmI", "skip", "needs a reachable org and a token"))
    if identity is not None and mappings is not None:
        from ..writers.webapi import WebApiClient

        factory = client_factory or WebApiClient
        with factory(url, auth, max_retries=1, verify=verify) as client:
            checks += org_checks(_Org(client), identity.user_id, config, mappings)
    else:
        checks.append(Check("org", "privileges, columns, keys and bulk messages", "skip",
                            "needs WhoAmI and compiled mappings"))
    if nylas_grant is not None:
        checks += nylas_checks(nylas_grant or None, executable=nylas_executable)
    return checks
