"""Where the bytes of an attachment come from: one file at a time, in a private folder.

An export lists each message's attachments (Nylas shape: ``id``, ``filename``,
``content_type``, ``size``, ``content_id``, ``is_inline``) but, except for mail archives, not
their content. A source that can supply it hands the planner an :class:`AttachmentContent`
(``RecordSource.attachment_content``):

- ``--from-nylas``: :class:`NylasDownloads` runs ``nylas email attachments download <attachment-id>
  <message-id> [grant] -o <folder>/<file>``, the file named after a hash of the attachment id,
  never its original name (two ``image001.png`` would overwrite each other, and a name is not
  a safe path);
- mbox and EML: the plugin's records carry a locator of the MIME part (``m2d_part``) and
  :class:`MimeParts` cuts the part out of the archive again when it is needed (see
  :func:`mail2dataverse.plugins.mbox.extract_attachment`);
- plain JSON files have no content: no provider, and the report says so per attachment.

Files live in one folder per run, created with mode 0700 and removed when the run ends; each
file is removed as soon as its email's change set has been sent (:meth:`AttachmentContent.release`).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any


class ContentUnavailable(Exception):
    """The content of one attachment could not be obtained (the reason is the message)."""


class AttachmentContent:
    """Base: a private folder of attachment files; subclasses fetch into it."""

    def __init__(self) -> None:
        self._dir: str | None = None

    @property
    def folder(self) -> Path:
        """The run's private folder (created on first use, mode 0700)."""
        if self._dir is None:
            self._dir = tempfile.mkdtemp(prefix="mail2dataverse-attachments-")
            os.chmod(self._dir, 0o700)
        return Path(self._dir)

    def target(self, *parts: str) -> Path:
        """A file name in the folder derived from ``parts`` (ids), never from a file name."""
        digest = hashlib.sha256("\0".join(parts).encode("utf-8", "surrogatepass")).hexdigest()[:32]
        return self.folder / digest

    def fetch(self, message_id: str | None, grant: str | None, attachment: dict[str, Any]) -> Path:
        """Put the content of ``attachment`` (of message ``message_id``) in a file; its path.

        :raises ContentUnavailable: it cannot be had (the reason goes to the report).
        """
        raise NotImplementedError

    def release(self, path: Path) -> None:
        """Remove a fetched file once its email's change set has been sent."""
        try:
            path.unlink()
        except OSError:
            pass

    def close(self) -> None:
        """Remove the folder and whatever is left in it."""
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None


class NylasDownloads(AttachmentContent):
    """``nylas email attachments download`` into the private folder, one call per attachment."""

    def __init__(self, executable: str, grant: str | None, env: Mapping[str, str], timeout: float = 300,
                 redact: Callable[[str], str] = lambda s: s):
        super().__init__()
        self.executable = executable
        self.grant = grant
        self.env = dict(env)
        self.timeout = timeout
        self.redact = redact

    def fetch(self, message_id: str | None, grant: str | None, attachment: dict[str, Any]) -> Path:
        """Download one attachment; the CLI's error (secrets redacted) when it fails."""
        att_id = attachment.get("id")
        if not isinstance(att_id, str) or not att_id or not message_id:
            raise ContentUnavailable("no content: the export gives no attachment id to download it by")
        path = self.target("nylas", grant or "", message_id, att_id)
        cmd = [self.executable, "email", "attachments", "download", att_id, message_id,
               *([self.grant or grant] if (self.grant or grant) else []), "--output", str(path)]
        try:
            out = subprocess.run(cmd, capture_output=True, env=self.env, timeout=self.timeout, stdin=subprocess.DEVNULL)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise ContentUnavailable(f"download failed: {exc}") from None
        if out.returncode != 0 or not path.is_file():
            lines = [ln.strip() for ln in out.stderr.decode("utf-8", "replace").splitlines() if ln.strip()]
            detail = self.redact(lines[-1]) if lines else f"exit status {out.returncode}"
            raise ContentUnavailable(f"download failed: {detail}")
        return path


class MimeParts(AttachmentContent):
    """The attachments of mbox/EML messages, cut out of the archive by their ``m2d_part`` locator."""

    def __init__(self, extract: Callable[[dict[str, Any], Path], None]):
        super().__init__()
        self.extract = extract

    def fetch(self, message_id: str | None, grant: str | None, attachment: dict[str, Any]) -> Path:
        """Decode the MIME part the locator names into a file of the folder."""
        locator = attachment.get("m2d_part")
        if not isinstance(locator, dict):
            raise ContentUnavailable("no content: the record carries no MIME part for it")
        path = self.target("mime", str(locator.get("file")), str(locator.get("start")), str(locator.get("index")))
        try:
            self.extract(locator, path)
        except (OSError, ValueError, LookupError) as exc:
            raise ContentUnavailable(f"cannot read the MIME part: {exc}") from None
        return path
