"""Doctor checks for the Nylas CLI: installed, its version, authenticated, the grant reachable.

Each runs the real command with a timeout and reads only its exit status and first lines (never
the API key: ``NYLAS_API_KEY`` is redacted from anything shown):

* installed: ``nylas`` on ``PATH`` (or the executable given);
* version: ``nylas --version``;
* authenticated: ``nylas auth list`` exits 0 and lists a grant;
* grant reachable: ``nylas email list [GRANT] --json --limit 1`` exits 0 and prints a JSON array.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Callable

from ..sources.nylas_cli import INSTALL_HINT, _redact
from .model import Check

TIMEOUT = 60.0


def _run(cmd: list[str], timeout: float = TIMEOUT) -> tuple[int, str, str]:
    try:
        out = subprocess.run(cmd, capture_output=True, timeout=timeout, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        return -1, "", f"no answer within {timeout:g} s"
    except OSError as exc:
        return -1, "", str(exc.strerror or exc)
    env = os.environ
    return (out.returncode, _redact(out.stdout.decode("utf-8", "replace"), env),
            _redact(out.stderr.decode("utf-8", "replace"), env))


def _first(text: str) -> str:
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    return lines[0][:200] if lines else ""


def nylas_checks(grant: str | None, *, executable: str = "nylas", run: Callable[..., tuple[int, str, str]] = _run
                 ) -> list[Check]:
    """The Nylas CLI checks, in order; later ones are skipped when an earlier one fails."""
    checks: list[Check] = []
    path = shutil.which(executable)
    if path is None:
        checks.append(Check("nylas.installed", "Nylas CLI installed", "fail", f"{executable!r} is not on PATH",
                            INSTALL_HINT))
        for cid, title in (("nylas.version", "Nylas CLI version"), ("nylas.auth", "Nylas CLI authenticated"),
                           ("nylas.grant", "mailbox (grant) reachable")):
            checks.append(Check(cid, title, "skip", "the Nylas CLI is not installed"))
        return checks
    checks.append(Check("nylas.installed", "Nylas CLI installed", "pass", path))
    code, out, err = run([path, "--version"])
    checks.append(Check("nylas.version", "Nylas CLI version", "pass" if code == 0 else "warn",
                        _first(out) or _first(err) or f"exit status {code}",
                        "" if code == 0 else "upgrade the Nylas CLI (https://cli.nylas.com)"))
    code, out, err = run([path, "auth", "list"])
    if code != 0 or not out.strip():
        checks.append(Check("nylas.auth", "Nylas CLI authenticated", "fail",
                            _first(err) or _first(out) or f"`nylas auth list` exit status {code}",
                            "set NYLAS_API_KEY (or run `nylas init --api-key KEY`), then connect the mailbox "
                            "with `nylas auth login`"))
        checks.append(Check("nylas.grant", "mailbox (grant) reachable", "skip", "the Nylas CLI is not authenticated"))
        return checks
    checks.append(Check("nylas.auth", "Nylas CLI authenticated", "pass", _first(out)))
    code, out, err = run([path, "email", "list", *([grant] if grant else []), "--json", "--limit", "1"])
    ok = code == 0
    if ok:
        try:
            ok = isinstance(json.loads(out or "null"), list)
        except ValueError:
            ok = False
    who = f"grant {grant}" if grant else "the default grant"
    checks.append(Check("nylas.grant", "mailbox (grant) reachable", "pass" if ok else "fail",
                        f"{who}: `nylas email list --limit 1` " + ("answered" if ok else
                                                                  f"failed: {_first(err) or _first(out) or code}"),
                        "" if ok else "check the grant id (`nylas auth list`), or NYLAS_GRANT_ID; reconnect the "
                                      "mailbox with `nylas auth login` if its grant expired"))
    return checks
