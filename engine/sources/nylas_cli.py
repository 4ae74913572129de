"""Run the ``nylas`` CLI and read its JSON output as a :class:`~.files.RecordSource`.

The CLI prints a bare JSON array (or ``null`` when a paginated call found nothing) on stdout,
progress and errors on stderr, and exits 1 with nothing on stdout when it fails
(``../shared/reference/nylas-cli-json.md``). Its stdout goes straight to an anonymous temporary
file, never into memory, and is validated completely before the source is returned: a failed,
killed or truncated export raises :class:`~mail2dataverse.errors.SourceError` and yields nothing,
so it can never look like a complete (smaller) export.

``NYLAS_API_TIMEOUT`` bounds the *whole* command, every page included (default 120 s in the CLI,
far too short for 18 months of mail). The CLI parses it with Go's ``time.ParseDuration`` and
silently falls back to the default on a value it cannot parse (a bare ``3600`` is such a value),
so it is always passed with a unit: ``"3600s"``.
"""

from __future__ import annotations

import collections
import json
import os
import re
import subprocess
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import IO, Any

from ..errors import ConfigError, SourceError
from .files import RecordSource, open_spooled

INSTALL_HINT = "the nylas CLI is not installed or not on PATH; see https://cli.nylas.com"
CONTACTS_ALL = 1_000_000  # `contacts list` has no --all: a huge --limit paginates to the end
MAX_WARNINGS = 100  # keep the report readable when thousands of header fetches fail
_SECRET_ENV = ("NYLAS_API_KEY", "NYLAS_CLIENT_SECRET")
_PROGRESS = re.compile(r"^\s*Fetching\b", re.IGNORECASE)
_AUTH_WORDS = re.compile(r"api key|unauthori[sz]ed|\b401\b|not configured|no grant|grant not found|"
                         r"authenticat|credentials|keyring", re.IGNORECASE)


CONTACT_SOURCES = ("address_book", "inbox", "domain")


def cli_error(message: str, *, transient: bool) -> SourceError:
    """A :class:`SourceError` about running the CLI, marked ``transient`` when a later attempt
    may succeed (a non-zero exit, a timeout, output cut short: network, rate limits, an expired
    login being fixed) and not when it cannot (the CLI is missing or not executable). Hosts use
    the mark to retry a queued mailbox instead of giving it up at once; it stays a plain
    ``SourceError`` for everyone else."""
    error = SourceError(message)
    error.transient = transient  # type: ignore[attr-defined]
    return error


def contact_sources(source: str | Sequence[str] | None) -> list[str | None]:
    """``None`` → the CLI's default (address book); ``"address_book,inbox"`` or a list → each.

    :raises ConfigError: an unknown source name.
    """
    if source is None or source == "":
        return [None]
    names = source.split(",") if isinstance(source, str) else list(source)
    names = list(dict.fromkeys(n.strip() for n in names if n and n.strip()))
    unknown = [n for n in names if n not in CONTACT_SOURCES]
    if unknown:
        raise ConfigError(f"unknown contacts source {unknown[0]!r}: expected {', '.join(CONTACT_SOURCES)}")
    return list(names) or [None]


def build_command(kind: str, *, grant: str | None = None, executable: str = "nylas",
                  limit: int | None = None, all_folders: bool = True,
                  source: str | None = None) -> list[str]:
    """The argv for one export, e.g. ``nylas email list GRANT --json --all-folders --all``.

    Messages: every folder (``--all-folders``, otherwise only INBOX is listed and sent mail is
    missed) and every page (``--all``) unless ``limit`` caps it (``--limit N`` auto-paginates
    above 200); ``source`` is ignored. Contacts: ``--limit 1000000`` (the command has no
    ``--all``) and optionally ``--source address_book|inbox|domain``.
    """
    if kind == "messages":
        # ``source`` is ignored here: one option set can serve both exports of a sync.
        cmd = [executable, "email", "list", *([grant] if grant else []), "--json"]
        if all_folders:
            cmd.append("--all-folders")
        cmd += ["--limit", str(limit)] if limit else ["--all"]
        return cmd
    if kind == "contacts":
        cmd = [executable, "contacts", "list", *([grant] if grant else []), "--json",
               "--limit", str(limit or CONTACTS_ALL)]
        if source:
            cmd += ["--source", source]
        return cmd
    raise ConfigError(f"unknown record kind {kind!r}: expected messages or contacts")


def _redact(text: str, env: Mapping[str, str]) -> str:
    """Remove secret values the CLI might echo (it should not, but an error must never leak one)."""
    for key in _SECRET_ENV:
        value = env.get(key)
        if value and len(value) >= 4:
            text = text.replace(value, "***")
    return re.sub(r"(?i)(bearer\s+)\S+", r"\1***", text)


def _stderr_lines(spool: IO[bytes], env: Mapping[str, str], keep: int = 3) -> list[str]:
    """The last ``keep`` meaningful stderr lines (progress counters dropped, secrets redacted)."""
    spool.seek(0, os.SEEK_END)
    size = spool.tell()
    spool.seek(max(0, size - 16384))
    text = spool.read().decode("utf-8", "replace")
    lines = [ln.strip() for ln in re.split(r"[\r\n]+", text)]
    lines = [ln for ln in lines if ln and not _PROGRESS.match(ln)]
    return [_redact(ln, env) for ln in lines[-keep:]]


def _run(cmd: list[str], env: Mapping[str, str], timeout: float | None,
         stdout: IO[bytes], stderr: IO[bytes]) -> int:
    """Run ``cmd`` with output to the spools; kill it at ``timeout``. Returns the exit status."""
    try:
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=stdout, stderr=stderr, env=dict(env))
    except FileNotFoundError:
        raise cli_error(INSTALL_HINT, transient=False) from None
    except PermissionError:
        raise cli_error(f"cannot run {cmd[0]}: permission denied", transient=False) from None
    except OSError as exc:
        raise cli_error(f"cannot run {cmd[0]}: {exc.strerror or exc}", transient=False) from None
    try:
        return proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        raise cli_error(
            f"`{' '.join(cmd[1:3])}` timed out after {timeout:g} s and was stopped; "
            "raise the timeout or export a narrower range", transient=True
        ) from None
    except BaseException:  # Ctrl-C: do not leave the CLI running behind us
        proc.kill()
        proc.wait()
        raise


def _cli_version(executable: str, env: Mapping[str, str]) -> str | None:
    """``nylas --version`` (first line), recorded with the export; None when it cannot be read."""
    try:
        out = subprocess.run([executable, "--version"], capture_output=True, env=dict(env),
                             timeout=15, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired):
        return None
    lines = out.stdout.decode("utf-8", "replace").strip().splitlines()
    return lines[0].strip() if out.returncode == 0 and lines else None


def nylas_export(kind: str, *, grant: str | None = None, executable: str = "nylas",
                 limit: int | None = None, all_folders: bool = True,
                 source: str | Sequence[str] | None = None, contacts_limit: int | None = None,
                 timeout: float | None = 3600, env: Mapping[str, str] | None = None,
                 with_headers: bool = False, header_workers: int = 4, header_timeout: float = 120,
                 header_filter: Callable[[dict[str, Any]], bool] | None = None) -> RecordSource:
    """Run ``nylas email list`` / ``nylas contacts list`` and return its validated output.

    A sync passes one option set to both exports, so each option applies to one kind only and
    the other kind ignores it: ``limit``, ``all_folders`` and the header options are for
    messages, ``source`` and ``contacts_limit`` for contacts.

    :param kind: ``"messages"`` or ``"contacts"``.
    :param grant: grant id (or address known to the CLI); ``None`` uses the CLI's default grant
        (``NYLAS_GRANT_ID`` or ``nylas auth switch``).
    :param executable: the CLI to run (a name looked up on ``PATH`` or a path).
    :param limit: messages: the newest N only (``--limit N``); ``None`` exports all of them.
        Contacts are not capped by it (``mail2dataverse sync --limit`` says "at most N messages").
    :param all_folders: messages from every folder, sent mail included (``--all-folders``).
    :param source: contacts: ``address_book``, ``inbox`` or ``domain``, or several
        (``"address_book,inbox"`` or a list), each exported in turn and read as one source;
        ``None`` is the CLI's default, the address book.
    :param contacts_limit: contacts: cap per source (default: 1,000,000, i.e. all).
    :param timeout: seconds before the CLI is killed (per command); also passed as
        ``NYLAS_API_TIMEOUT`` (``"<N>s"``) unless ``env`` sets it. ``None``: no limit, CLI default.
    :param env: extra environment for the CLI (on top of ``os.environ``).
    :param with_headers: messages: fetch each message's headers with
        ``nylas email read ID [GRANT] --headers --json`` while iterating (``header_workers`` in
        parallel, ``header_timeout`` seconds each) and merge them as ``headers``, so the real
        Message-ID becomes the email's identity. A failed fetch keeps the record without
        headers and adds an entry to ``warnings``.
    :param header_filter: with ``with_headers``, fetch only for records where it returns True
        (e.g. messages newer than the last sync, to avoid one API call per old message).
    :returns: a validated :class:`RecordSource` (``count`` set) named ``nylas:<grant>/<kind>``.
    :raises SourceError: CLI missing, non-zero exit (status and the last stderr lines, never a
        secret), timeout, or output that is not a complete JSON array / ``null``; its
        ``transient`` attribute says whether running it again may help (see :func:`cli_error`).
    """
    with_headers = with_headers and kind == "messages"
    if header_workers < 1:
        raise ConfigError("header_workers must be at least 1")
    if kind == "messages":
        commands = [build_command(kind, grant=grant, executable=executable, limit=limit,
                                  all_folders=all_folders)]
    else:
        commands = [build_command(kind, grant=grant, executable=executable, limit=contacts_limit,
                                  source=name) for name in contact_sources(source)]
    full_env = dict(os.environ)
    full_env.update(env or {})
    if timeout is not None and "NYLAS_API_TIMEOUT" not in (env or {}):
        full_env["NYLAS_API_TIMEOUT"] = f"{max(1, int(round(timeout)))}s"
    name = f"nylas:{grant or 'default'}/{kind}"

    spools: list[IO[bytes]] = []
    tails: list[str] = []
    try:
        for cmd in commands:
            what = _describe_command(cmd, several=len(commands) > 1)
            stdout = tempfile.TemporaryFile(prefix="mail2dataverse-nylas-")
            spools.append(stdout)
            with tempfile.TemporaryFile(prefix="mail2dataverse-nylas-err-") as stderr:
                status = _run(cmd, full_env, timeout, stdout, stderr)
                tail = _stderr_lines(stderr, full_env)
            if status != 0:
                detail = ": " + " | ".join(tail) if tail else " (nothing on stderr)"
                hint = ""
                if tail and _AUTH_WORDS.search(" ".join(tail)):
                    hint = (" — is the CLI authenticated? set NYLAS_API_KEY and NYLAS_GRANT_ID, "
                            "or run `nylas auth config` and `nylas auth login`")
                raise cli_error(f"{what} failed with exit status {status}{detail}{hint}", transient=True)
            tails += [f"{what}: {line}" for line in tail]
        meta: dict[str, Any] = {"command": [os.path.basename(commands[0][0]), *commands[0][1:]],
                                "cli_version": _cli_version(executable, full_env)}
        if len(commands) > 1:
            meta["commands"] = [[os.path.basename(c[0]), *c[1:]] for c in commands]
        src = open_spooled(spools, name, kind, meta=meta)
    except BaseException:
        for spool in spools:
            spool.close()
        raise
    try:
        src.validate()
    except SourceError as exc:
        src.close()
        what = _describe_command(commands[0], several=False)
        # Exit status 0 with a cut-off array (the process was killed, a pipe broke): running
        # it again may well give the whole export.
        raise cli_error(f"{what} printed output that is not a complete JSON array: {exc}",
                        transient=True) from None
    src.warnings.extend(tails)
    if kind == "messages":
        from .attachment_content import NylasDownloads

        src.attachment_content = NylasDownloads(executable, grant, full_env, redact=lambda t: _redact(t, full_env))
    if with_headers:
        src._enrich = _HeaderMerger(src, executable, grant, full_env, header_workers,
                                    header_timeout, header_filter)
    return src


def _describe_command(cmd: list[str], *, several: bool) -> str:
    """``nylas email list``, or ``nylas contacts list --source inbox`` when several run."""
    what = f"nylas {' '.join(cmd[1:3])}"
    if several and "--source" in cmd:
        what += f" --source {cmd[cmd.index('--source') + 1]}"
    return what


class _HeaderMerger:
    """Fetch ``headers`` for each message while the source is iterated, in bounded parallel.

    Records keep their order; at most ``4 × workers`` are in flight, so memory stays bounded.
    """

    def __init__(self, src: RecordSource, executable: str, grant: str | None, env: Mapping[str, str],
                 workers: int, timeout: float, wanted: Callable[[dict[str, Any]], bool] | None):
        self._src = src
        self._executable = executable
        self._grant = grant
        self._env = dict(env)
        self._workers = workers
        self._timeout = timeout
        self._wanted = wanted
        self.failures = 0

    def _fetch(self, message_id: str) -> list[dict[str, Any]]:
        cmd = [self._executable, "email", "read", message_id, *([self._grant] if self._grant else []),
               "--headers", "--json"]
        try:
            out = subprocess.run(cmd, capture_output=True, env=self._env, timeout=self._timeout,
                                 stdin=subprocess.DEVNULL)
        except FileNotFoundError:
            raise RuntimeError(INSTALL_HINT) from None
        except subprocess.TimeoutExpired:
            raise RuntimeError(f"timed out after {self._timeout:g} s") from None
        if out.returncode != 0:
            lines = [ln.strip() for ln in out.stderr.decode("utf-8", "replace").splitlines() if ln.strip()]
            last = _redact(lines[-1], self._env) if lines else "nothing on stderr"
            raise RuntimeError(f"exit status {out.returncode}: {last}")
        try:
            message = json.loads(out.stdout)
        except ValueError as exc:
            raise RuntimeError(f"invalid JSON from nylas email read: {exc}") from None
        headers = message.get("headers") if isinstance(message, dict) else None
        if not isinstance(headers, list) or not headers:
            raise RuntimeError("the answer has no headers (EWS and IMAP grants may not return them)")
        return headers

    def _warn(self, text: str) -> None:
        self.failures += 1
        if self.failures <= MAX_WARNINGS:
            self._src.warnings.append(text)

    def __call__(self, records: Iterator[Any]) -> Iterator[Any]:
        pool = ThreadPoolExecutor(self._workers, thread_name_prefix="nylas-headers")
        window: collections.deque[tuple[Any, Future[list[dict[str, Any]]] | None]] = collections.deque()
        self.failures = 0
        try:
            for record in records:
                future = None
                if (isinstance(record, dict) and isinstance(record.get("id"), str) and record["id"]
                        and not record.get("headers")
                        and (self._wanted is None or self._wanted(record))):
                    future = pool.submit(self._fetch, record["id"])
                window.append((record, future))
                if len(window) >= self._workers * 4:
                    yield self._finish(*window.popleft())
            while window:
                yield self._finish(*window.popleft())
            if self.failures > MAX_WARNINGS:
                self._src.warnings.append(
                    f"headers could not be fetched for {self.failures - MAX_WARNINGS} more messages")
        finally:
            pool.shutdown(wait=True, cancel_futures=True)

    def _finish(self, record: Any, future: Future[list[dict[str, Any]]] | None) -> Any:
        if future is None:
            return record
        try:
            record["headers"] = future.result()
        except Exception as exc:  # one message's failure must not stop the export
            self._warn(f"message {record['id']}: headers not fetched ({exc}); "
                       "its identity falls back to the Nylas id")
        return record
