"""Rules of email attachments, conversation threads and historical dates (issue 16).

What the service does, modelled from ``reference/email-attachments-threads.md``:

- ``activitymimeattachment`` rows: ``objectid`` and ``objecttypecode`` are SystemRequired; the
  Base64 ``body`` is measured against the organization's ``maxuploadfilesize``
  (``0x80044a02`` "Attachment file size is too big."); a file name whose extension is in
  ``blockedattachments`` is refused (``0x80043e09``), and so is a MIME type in
  ``blockedmimetypes`` (``0x80072522``) or, when ``allowedmimetypes`` is set, one outside it
  (``0x80072521``). ``attachmentid@odata.bind`` to an existing attachment row reuses its file
  (the official sample's form), with no body of its own.
- Thread lookups (``parentactivityid``, ``correlatedactivityid``, ``conversationtrackingid``)
  are create-only: an update that carries them leaves them as they were.
- ``overriddencreatedon`` counts on create only, must not lie in the future, and is swapped:
  afterwards ``createdon`` holds the given date and ``overriddencreatedon`` the insert time. It
  needs ``prvOverrideCreatedOnCreatedBy`` (``AttachmentRules.privileges``, which
  :mod:`.security` also reads when it answers the privilege functions).

Choices where the reference says UNCONFIRMED (docs/emulator.md, "Attachments, threads, dates"):
a future ``overriddencreatedon`` is refused with ``0x80040203``; without the privilege the column
is ignored (createdon = insert time); an attachment added to a completed email is refused by
default (:attr:`AttachmentRules.attach_to_closed`); the errors are HTTP 400.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from . import errors
from .schema import Table
from .values import now_utc

OVERRIDE_PRIVILEGE = "prvOverrideCreatedOnCreatedBy"
ORGANIZATION_ID = "0f6c9a44-5a8b-4c0e-8a9e-2f4d5c6b7a80"  # WhoAmI's OrganizationId
DEFAULT_MAX_UPLOAD = 5_242_880
#: the documented default of ``blockedattachments`` (file-column pages, "Block certain types of files")
DEFAULT_BLOCKED = ("ade;adp;app;asa;ashx;asmx;asp;bas;bat;cdx;cer;chm;class;cmd;com;config;cpl;crt;csh;dll;exe;fxp;"
                   "hlp;hta;htr;htw;ida;idc;idq;inf;ins;isp;its;jar;js;jse;ksh;lnk;mad;maf;mag;mam;maq;mar;mas;mat;"
                   "mau;mav;maw;mda;mdb;mde;mdt;mdw;mdz;msc;msh;msh1;msh1xml;msh2;msh2xml;mshxml;msi;msp;mst;ops;pcd;"
                   "pif;prf;prg;printer;pst;reg;rem;scf;scr;sct;shb;shs;shtm;shtml;soap;stm;tmp;url;vb;vbe;vbs;vsmacros;"
                   "vss;vst;vsw;ws;wsc;wsf;wsh;svg")


@dataclass
class AttachmentRules:
    """The org settings and switches these rules read (set through the :class:`Emulator`)."""

    privileges: set[str] = field(default_factory=lambda: {OVERRIDE_PRIVILEGE})
    attach_to_closed: str = "reject"  # or "allow" (UNCONFIRMED, see the module docstring)

    def on_create(self, table: Table, values: dict[str, Any], rows: dict[str, dict[str, dict]]) -> None:
        """Apply the create rules of ``table`` to ``values`` (raises the service's error)."""
        if "overriddencreatedon" in values and values["overriddencreatedon"] is not None:
            check_override(values, self.privileges)
        if table.logical == "activitymimeattachment":
            self._attachment(values, rows)

    def _attachment(self, values: dict[str, Any], rows: dict[str, dict[str, dict]]) -> None:
        if not values.get("objectid") or not values.get("objecttypecode"):
            raise errors.ODataError(400, "0x80040203", "ActivityMimeAttachment ObjectId and ObjectTypeCode are "
                                                       "SystemRequired.")
        if values["objecttypecode"] != "email":
            raise errors.ODataError(400, "0x80040203", f"objecttypecode '{values['objecttypecode']}' does not match "
                                                       "the attachment's object.")
        parent = rows["email"].get(values["objectid"])
        if parent is not None and parent.get("statecode") not in (None, 0) and self.attach_to_closed == "reject":
            raise errors.ODataError(400, "0x80040203", "Cannot update Closed or Cancelled Activity")
        shared = values.get("attachmentid")
        if shared:
            first = rows["activitymimeattachment"][shared]
            if values.get("body"):
                raise errors.ODataError(400, "0x80040203", "An attachment that reuses a file cannot carry a body.")
            # One file, two rows: the reusing row points at the first row's file.
            values["attachmentid"] = first["attachmentid"]
            for col in ("body", "filesize"):
                values[col] = first[col]
            values.setdefault("filename", first.get("filename"))
            values.setdefault("mimetype", first.get("mimetype"))
            return
        org = organization(rows)
        body = values.get("body") or ""
        if len(body) > (org.get("maxuploadfilesize") or DEFAULT_MAX_UPLOAD):
            raise errors.ODataError(400, "0x80044a02", "Attachment file size is too big.")
        name = str(values.get("filename") or "")
        ext = name.rsplit(".", 1)[-1].lower() if "." in name else ""
        if ext and ext in split_list(org.get("blockedattachments")):
            raise errors.ODataError(400, "0x80043e09", "The attachment is either not a valid type or is too large. "
                                                       "It cannot be uploaded or downloaded.")
        mime = str(values.get("mimetype") or "").lower()
        allowed = split_list(org.get("allowedmimetypes"))
        if allowed and mime not in allowed:
            raise errors.ODataError(400, "0x80072521", f"The MIME type '{mime}' is not in the list of allowed "
                                                       "MIME types.")
        if not allowed and mime and mime in split_list(org.get("blockedmimetypes")):
            raise errors.ODataError(400, "0x80072522", f"The MIME type '{mime}' is blocked.")
        values["attachmentid"] = str(uuid.uuid5(uuid.NAMESPACE_OID, f"file:{values['activitymimeattachmentid']}"))
        pad = body.count("=", max(0, len(body) - 2))
        values["filesize"] = len(body) // 4 * 3 - pad


def check_override(values: dict[str, Any], privileges: set[str]) -> None:
    """``overriddencreatedon`` on create: not in the future; ignored without the privilege."""
    if OVERRIDE_PRIVILEGE not in privileges:
        values.pop("overriddencreatedon")
        return
    text = values["overriddencreatedon"]
    if len(text) == 20 and text[10] == "T" and text[19] == "Z" and text[:4].isdigit() and text[0] != "0":
        # The stored form with a four-digit year orders like the time it names; the current
        # time in that form is its whole second, and a whole-second date later than that
        # second is later than now.
        future = text > now_utc()
    else:
        when = datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)
        future = when > datetime.now(timezone.utc)
    if future:
        raise errors.ODataError(400, "0x80040203", "overriddencreatedon cannot be set to a date in the future")


def swap_created_on(row: dict[str, Any], stamp: str) -> None:
    """The service's swap on create: ``createdon`` = the given date, ``overriddencreatedon`` = now."""
    given = row.get("overriddencreatedon")
    if given:
        row["createdon"], row["overriddencreatedon"] = given, stamp
    else:
        row["createdon"] = stamp


def split_list(value: Any) -> set[str]:
    """A semicolon (or comma) separated org setting as a set of lower-case entries."""
    if not value:
        return set()
    return {p.strip().lower().lstrip(".") for p in str(value).replace(",", ";").split(";") if p.strip()}


def organization(rows: dict[str, dict[str, dict]]) -> dict[str, Any]:
    """The org's one organization row (empty when none is seeded)."""
    return next(iter(rows.get("organization", {}).values()), {})


def organization_row(max_upload: int = DEFAULT_MAX_UPLOAD, blocked: str = DEFAULT_BLOCKED,
                     blocked_mime: str = "", allowed_mime: str = "") -> dict[str, Any]:
    """The organization row a new emulated org starts with (the documented defaults)."""
    return {"organizationid": ORGANIZATION_ID, "name": "Emulated org", "maxuploadfilesize": max_upload,
            "blockedattachments": blocked, "blockedmimetypes": blocked_mime or None,
            "allowedmimetypes": allowed_mime or None}
