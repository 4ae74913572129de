"""``mail2dataverse doctor``: flags, rendering (text or JSON) and the exit status."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence

from .model import Check

_MARK = {"pass": "ok  ", "warn": "WARN", "fail": "FAIL", "skip": "skip"}


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Declare the doctor's flags on ``p``."""
    p.add_argument("--url", help="the org (env DATAVERSE_URL or DYNAMICS_ORG)")
    p.add_argument("--auth", choices=["secret", "certificate", "none"], help="as for sync")
    p.add_argument("--config", metavar="FILE", help="the run configuration the sync will use")
    p.add_argument("--mappings", metavar="DIR", action="append", default=[], help="mapping folders the sync will use")
    p.add_argument("--from-nylas", nargs="?", const="", metavar="GRANT",
                   help="also check the Nylas CLI: installed, version, authenticated, the grant reachable")
    p.add_argument("--ca-file", metavar="PEM", help="trust this CA (e.g. the emulator's --tls CA)")
    p.add_argument("--format", choices=["text", "json"], default="text", help="the checks as text (default) or JSON")


def render_text(checks: Sequence[Check]) -> str:
    """One line per check, its hint indented below it when it did not pass."""
    lines = []
    for c in checks:
        lines.append(f"[{_MARK[c.status]}] {c.title}: {c.detail}".rstrip(": "))
        if c.hint and c.status in ("fail", "warn"):
            lines.append(f"       fix: {c.hint}")
    failed = sum(c.status == "fail" for c in checks)
    warned = sum(c.status == "warn" for c in checks)
    lines.append(f"{len(checks)} checks: {failed} failed, {warned} warnings"
                 + ("; ready to sync" if not failed else "; fix the failures above before the first sync"))
    return "\n".join(lines)


def exit_status(checks: Sequence[Check]) -> int:
    """0 when no check failed (warnings allowed), 1 otherwise."""
    return 1 if any(c.status == "fail" for c in checks) else 0


def run(args: argparse.Namespace) -> int:
    """Run every check and print them; returns the exit status."""
    from ..config import load_config
    from ..errors import ConfigError
    from .checks import run_checks

    config = load_config(args.config)
    try:
        from ..config import org_url_from

        url = org_url_from(os.environ, args.url, flag="--url")
    except ConfigError:
        url = None  # reported as the failed `url` check, with its hint
    checks = run_checks(url=url, auth_kind=args.auth, config=config, mappings_dirs=args.mappings,
                        verify=args.ca_file or True, nylas_grant=args.from_nylas)
    if args.format == "json":
        print(json.dumps({"ok": exit_status(checks) == 0, "checks": [c.to_dict() for c in checks]}, indent=2))
    else:
        print(render_text(checks))
    sys.stdout.flush()
    return exit_status(checks)
