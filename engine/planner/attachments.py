"""Attachments: one ``activitymimeattachment`` row per attachment, inside its email's change set.

The change set of a new email becomes ``POST emails`` (Content-ID 1), one ``POST
activitymimeattachments`` per attachment bound with ``"objectid_email@odata.bind": "$1"`` and
``objecttypecode: "email"``, then ``PATCH $1`` to mark it completed: an email never completes
without its attachments (whether one can be added to a completed email is unconfirmed), and a
refused attachment rolls the email back with it.

The policy (config ``attachments``, :class:`~mail2dataverse.config.AttachmentPolicy`) is checked
before anything is fetched, with the org's own limits read once from its organization row:
``maxuploadfilesize`` (measured, as the service measures it, on the Base64 text: 4 bytes per 3),
``blockedattachments`` (extensions), ``blockedmimetypes`` / ``allowedmimetypes``. A skipped
attachment is listed in the report with its reason, and its email gets ``notifications = 1``,
the value server-side synchronization sets when "not all the attachments could be saved".

Content comes from the source's :class:`~mail2dataverse.sources.attachment_content.AttachmentContent`
one file at a time and is never read into memory: the body is a :class:`~mail2dataverse.operations.Base64File`
that the ``$batch`` encoder streams from the file. With ``reuse`` on, content already stored
(same SHA-256, by this run or an earlier one, kept in the state store) is bound by
``attachmentid@odata.bind`` to the first row instead of being stored again.
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path
from typing import Any

from ..model import MappedEmail, deterministic_id
from ..operations import Base64File, Operation
from .context import RunContext

log = logging.getLogger("mail2dataverse.planner")

#: the service's default maxuploadfilesize (5 MB of Base64 text), used when the org cannot be read
DEFAULT_MAX_UPLOAD = 5_242_880
ORG_COLUMNS = ("maxuploadfilesize", "blockedattachments", "blockedmimetypes", "allowedmimetypes")
#: what :meth:`AttachmentPlanner.plan` answers for an email that must wait for the next wave
POSTPONED = object()
NO_CONTENT = ("no content: a plain JSON export carries attachment metadata only "
              "(use --from-nylas, or an mbox/EML export)")


def base64_length(size: int) -> int:
    """Bytes of the Base64 text of ``size`` bytes (what the service compares with its limit)."""
    return 4 * ((size + 2) // 3)


def _split(value: Any) -> set[str]:
    if not value:
        return set()
    return {p.strip().lower().lstrip(".") for p in str(value).replace(",", ";").split(";") if p.strip()}


class AttachmentPlanner:
    """Plans the attachment rows of each new email and settles them after its change set."""

    def __init__(self, ctx: RunContext):
        self.ctx = ctx
        self.policy = ctx.config.attachments
        self.content: Any = None  # the source's AttachmentContent, or None (plain JSON)
        self._org: dict[str, Any] | None = None
        self._total = 0
        self._first_copy: dict[str, str] = {}  # sha256 → activitymimeattachmentid stored by this run
        self._in_wave: set[str] = set()  # sha256 of content a change set of the current wave stores
        # id(operation) → (kind, sha256, attachment id, Base64 bytes, file)
        self._notes: dict[int, tuple[str, str | None, str, int, Path]] = {}
        self.stats: dict[str, Any] = {"written": 0, "reused": 0, "skipped": 0, "base64_bytes": 0,
                                      "skip_reasons": {}}

    # -- the org's limits ---------------------------------------------------------------------

    def org(self) -> dict[str, Any]:
        """The org's attachment settings (read once; the documented defaults when unreadable)."""
        if self._org is None:
            self._org = {"maxuploadfilesize": DEFAULT_MAX_UPLOAD}
            if not self.ctx.executor.dry_run:
                res = self.ctx.executor.run([Operation("GET", "organizations?$select=" + ",".join(ORG_COLUMNS))],
                                            phase=0)[0]
                rows = (res.body or {}).get("value", []) if res.ok and isinstance(res.body, dict) else []
                if rows:
                    self._org.update({k: rows[0].get(k) for k in ORG_COLUMNS if rows[0].get(k) is not None})
                else:
                    self.ctx.report.warnings.append(
                        "attachments: the organization's limits could not be read; assuming the default "
                        f"maxuploadfilesize {DEFAULT_MAX_UPLOAD} and no blocked types")
        return self._org

    def limit(self) -> int:
        """The largest Base64 body this run writes: the config's ``max_size``, else the org's."""
        org_max = int(self.org().get("maxuploadfilesize") or DEFAULT_MAX_UPLOAD)
        return min(self.policy.max_size, org_max) if self.policy.max_size else org_max

    def refusal(self, att: dict[str, Any], size: int) -> str | None:
        """Why the policy or the org refuses ``att`` of ``size`` bytes, or None."""
        name = str(att.get("filename") or "")
        if att.get("is_inline") and not self.policy.inline_images:
            return "inline image: attachments.inline_images is false"
        ext = name.rsplit(".", 1)[-1].lower() if "." in name else ""
        org = self.org()
        if ext and ext in _split(org.get("blockedattachments")):
            return f"blocked extension: .{ext} is in the organization's blockedattachments"
        if ext and ext in self.policy.blocked_extensions:
            return f"blocked extension: .{ext} is in attachments.blocked_extensions"
        mime = str(att.get("content_type") or "").lower()
        allowed = _split(org.get("allowedmimetypes"))
        if allowed and mime not in allowed:
            return f"blocked MIME type: {mime or 'none'} is not in the organization's allowedmimetypes"
        if not allowed and mime in _split(org.get("blockedmimetypes")):
            return f"blocked MIME type: {mime} is in the organization's blockedmimetypes"
        encoded, limit = base64_length(size), self.limit()
        if encoded > limit:
            return f"too large: {encoded} bytes as Base64, the limit is {limit} (maxuploadfilesize or attachments.max_size)"
        if self.policy.total_max is not None and self._total + encoded > self.policy.total_max:
            return f"run total reached: attachments.total_max is {self.policy.total_max} bytes of Base64"
        return None

    # -- one email ---------------------------------------------------------------------------

    def plan(self, e: MappedEmail, email_ref: str) -> Any:
        """The attachment operations of new email ``e`` (bound to ``email_ref``, its ``$n``) and
        whether one was skipped (lost), or :data:`POSTPONED` when ``e`` reuses content that a
        change set of the current wave stores first (it is planned again in the next wave)."""
        ops: list[Operation] = []
        lost = False
        for index, att in enumerate(e.attachments):
            where = f"{e.ref} attachment {index + 1} ({str(att.get('filename') or '')[:80]!r})"
            if not self.policy.include:
                self._skip(where, "not included: attachments.include is false")
                continue
            size = att.get("size") if isinstance(att.get("size"), int) else 0
            why = self.refusal(att, size)
            path: Path | None = None
            if why is None:
                if self.content is None:
                    why = NO_CONTENT
                else:
                    try:
                        path = self.content.fetch(e.ref.id, e.mailbox, att)
                    except Exception as exc:  # one attachment's failure must not stop the run
                        why = str(exc) or type(exc).__name__
            if path is not None:
                size = path.stat().st_size
                why = self.refusal(att, size)  # the real size may differ from the metadata
                if why is not None:
                    self.content.release(path)
            if why is not None:
                self._skip(where, why)
                lost = lost or not why.startswith("inline image")
                continue
            assert path is not None
            op = self._operation(e, index, att, path, size, email_ref)
            if op is POSTPONED:
                self._forget(ops + [path])
                return POSTPONED
            ops.append(op)
        for op in ops:
            kind, digest = self._notes[id(op)][:2]
            if kind == "written" and digest:
                self._in_wave.add(digest)
        return ops, lost

    def _operation(self, e: MappedEmail, index: int, att: dict[str, Any], path: Path, size: int,
                   email_ref: str) -> Any:
        name = str(att.get("filename") or "attachment")[:255]
        aid = deterministic_id("attachment", f"{e.identity}\0{index}\0{att.get('id') or name}")
        body: dict[str, Any] = {"activitymimeattachmentid": aid, "objectid_email@odata.bind": email_ref,
                                "objecttypecode": "email", "subject": name, "attachmentnumber": index + 1}
        if att.get("content_id"):
            body["attachmentcontentid"] = str(att["content_id"]).strip("<>")[:250]
        digest = _sha256(path) if self.policy.reuse else None
        first = self._first_copy.get(digest) if digest else None
        if digest and first is None:
            if digest in self._in_wave:
                return POSTPONED  # stored by a change set in flight: reuse it once it is there
            if not self.ctx.executor.dry_run:
                stored = self.ctx.state.get_many("attachment", [digest]).get(digest)
                first = stored.dataverse_id if stored else None
        encoded = base64_length(size)
        if first:
            # The same file is already stored: point at it instead of storing it again.
            body["attachmentid@odata.bind"] = f"/activitymimeattachments({first})"
            kind = "reused"
        else:
            body.update({"filename": name, "mimetype": str(att.get("content_type") or "application/octet-stream")[:256],
                         "body": Base64File(str(path), size)})
            self._total += encoded
            kind = "written"
        op = Operation("POST", "activitymimeattachments", body, tag=e)
        self._notes[id(op)] = (kind, digest, aid, encoded, path)
        return op

    def _forget(self, items: list[Any]) -> None:
        """Drop planned operations (and release their files) of an email that was postponed."""
        for item in items:
            if isinstance(item, Operation):
                kind, _digest, _aid, encoded, path = self._notes.pop(id(item))
                if kind == "written":
                    self._total -= encoded
            else:
                path = item
            if self.content is not None:
                self.content.release(path)

    def new_wave(self) -> None:
        """The change sets planned so far are about to be sent: a new wave starts planning."""
        self._in_wave.clear()

    def settle(self, ops: list[Operation], ok: bool) -> None:
        """Count an email's attachments after its change set; remember stored content; release files."""
        for op in ops:
            kind, digest, aid, encoded, path = self._notes.pop(id(op))
            if ok:
                self.stats[kind] += 1
                if kind == "written":
                    self.stats["base64_bytes"] += encoded
                    if digest:
                        self._first_copy.setdefault(digest, aid)
                        self.ctx.remember("attachment", digest, aid, {}, op.tag.ref)
            elif kind == "written":
                self._total -= encoded
            if self.content is not None:
                self.content.release(path)

    def _skip(self, where: str, reason: str) -> None:
        self.stats["skipped"] += 1
        kind = reason.split(": ", 1)[0]
        self.stats["skip_reasons"][kind] = self.stats["skip_reasons"].get(kind, 0) + 1
        self.ctx.report.skip_detail("attachment", where, reason)

    def summary(self) -> dict[str, Any]:
        """The report's ``attachments`` section."""
        return dict(self.stats, skip_reasons=dict(sorted(self.stats["skip_reasons"].items())))


def _sha256(path: Path) -> str:
    """SHA-256 of a file, read in blocks (the content is never held whole)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()
