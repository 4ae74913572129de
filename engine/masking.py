"""The one place secrets are masked, in every encoding a library or an endpoint may echo.

:func:`register` is called by :mod:`mail2dataverse.auth` with each client secret, certificate
password and access token it handles. From then on:

* :func:`scrub` replaces every registered secret with ``***`` in a text — the raw value and its
  URL-encoded (``%2B``/``%2b``, ``+`` for a space, as a form body holds it), JSON-escaped,
  base64 (standard and URL-safe, at any alignment inside a longer encoded value, e.g. a Basic
  ``Authorization`` header) and hex forms;
* every log record of every logger is scrubbed when it is created (a log-record factory), so no
  handler — the CLI's stderr, the Functions host's, a library user's — can print one. An
  identity endpoint that echoes the token request (``client_secret=abc%2Bdef%3D``) in an error
  that msal or requests logs is masked too.

Error messages built from library exceptions (:class:`AuthError`, the CLI's last line) pass
through :func:`scrub` as well.
"""

from __future__ import annotations

import base64
import json
import logging
import re
import threading
import urllib.parse

MASK = "***"
#: Shorter base64/hex fragments of a secret are left alone: they would match ordinary text.
_MIN_FRAGMENT = 6

_lock = threading.Lock()
_secrets: set[str] = set()
_pattern: re.Pattern[str] | None = None
_factory_installed = False


def _base64_cores(raw: bytes) -> set[str]:
    """The base64 characters that depend only on ``raw``, for each of the three alignments it may
    have inside a longer value (the first and last characters also hold neighbouring bits)."""
    cores: set[str] = set()
    for pad in range(3):
        start = -(-pad * 8 // 6)  # first character made only of raw's bits: ceil(8·pad/6)
        end = (pad + len(raw)) * 8 // 6  # one past the last such character
        for encode in (base64.b64encode, base64.urlsafe_b64encode):
            core = encode(b"\0" * pad + raw + b"\0\0").decode("ascii")[start:end]
            if len(core) >= _MIN_FRAGMENT:
                cores.add(core)
    return cores


def variants(secret: str) -> set[str]:
    """Every form of ``secret`` :func:`scrub` masks (see the module docstring)."""
    forms = {secret}
    forms.add(urllib.parse.quote(secret, safe=""))
    forms.add(urllib.parse.quote_plus(secret, safe=""))
    forms.add(urllib.parse.quote(secret))  # "/" kept, as in a URL path
    forms.add(json.dumps(secret)[1:-1])
    forms.add(json.dumps(secret, ensure_ascii=False)[1:-1])
    forms.add(json.dumps(secret)[1:-1].replace("/", "\\/"))  # JSON's optional escaped solidus
    raw = secret.encode("utf-8")
    forms |= _base64_cores(raw)
    if len(raw) * 2 >= _MIN_FRAGMENT:
        forms.add(raw.hex())
    return {f for f in forms if f}


def register(secret: str | None) -> None:
    """Mask ``secret`` from now on in :func:`scrub` and in every log record. Idempotent."""
    global _pattern, _factory_installed
    if not secret or secret in _secrets:
        return
    with _lock:
        _secrets.add(secret)
        forms = set().union(*(variants(s) for s in _secrets))
        # longest first, so a secret's encoded form is masked whole, not in pieces; percent
        # escapes and hex in either case: over-masking a differently-cased value is harmless
        _pattern = re.compile("|".join(re.escape(f) for f in sorted(forms, key=len, reverse=True)), re.IGNORECASE)
        if not _factory_installed:
            _install_record_factory()
            _factory_installed = True


def scrub(text: str) -> str:
    """``text`` with every form of every registered secret replaced by ``***``."""
    pattern = _pattern
    if pattern is None or not text:
        return text
    return pattern.sub(MASK, text)


def _install_record_factory() -> None:
    previous = logging.getLogRecordFactory()
    formatter = logging.Formatter()

    def factory(*args, **kwargs) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a bad format string: logging reports it on emit
            return record
        record.msg, record.args = scrub(message), None
        if record.exc_info and not record.exc_text:
            # formatted now so the traceback text (which may quote a request) is scrubbed too
            record.exc_text = scrub(formatter.formatException(record.exc_info))
        return record

    logging.setLogRecordFactory(factory)
