"""Built-in plugin ``mbox``: read mbox archives and ``.eml`` files as Nylas-shaped messages.

Registers two sources through ``register_sources`` (exactly as an external plugin would):

- ``mbox``: one mbox file (Google Takeout ``All mail Including Spam and Trash.mbox``,
  Thunderbird's extension-less ``Inbox`` / ``Sent`` files, mutt), read with :mod:`mailbox`,
  which indexes the file by offsets and reads one message at a time;
- ``eml``: one ``.eml`` file or a folder of them (searched recursively, in name order).

Every message becomes the dict ``nylas email list --json`` would print, plus the ``headers`` that
``email read --headers`` adds, so everything downstream is unchanged:

=============== ===========================================================================
``id``          sha1 of the Message-ID (when there is none, of the raw bytes without the
                status headers clients rewrite), 16 hex digits
``grant_id``    ``options["grant"]``, else the mbox file name / EML folder name
``thread_id``   ``X-GM-THRID`` (Takeout), else sha1 of the thread's root Message-ID
                (first of ``References``, else ``In-Reply-To``, else its own)
``subject``     RFC 2047 decoded
``from`` ...    ``[{"name"?, "email"}]``; ``to``/``cc``/``bcc``/``reply_to`` omitted when
                empty, ``from`` always present (``[]`` when missing), as the CLI does
``body``        the HTML part; a text-only message is escaped and wrapped
                (``<div>line<br>line</div>``) the way Nylas up-converts plain text
``snippet``     first 100 characters of the text, tags stripped, whitespace collapsed
``date``        RFC 3339 with the header's own offset (``Z`` for UTC), from ``Date``; when it
                is missing or unparsable: the newest ``Received`` hop, then the mbox
                ``From_`` line, then the file's modification time. Never omitted: the
                incremental sync orders mailboxes by it.
``unread``      Takeout label ``Unread``, or Thunderbird ``X-Mozilla-Status`` without the read
                bit; else false
``starred``     Takeout label ``Starred`` or Thunderbird's flagged bit; else false
``folders``     Takeout ``X-Gmail-Labels`` as Gmail label ids (``Inbox`` → ``INBOX``,
                ``Sent`` → ``SENT``, ``Category Personal`` → ``CATEGORY_PERSONAL``, user labels
                as written); else the mbox file / EML folder name when it is a well-known
                folder (``Sent``, ``Sent Items`` → ``SENT`` ...); else ``["INBOX"]``
``attachments`` ``{filename, content_type, size, content_id?, is_inline?, m2d_part}``, omitted
                when none; ``m2d_part`` says where the part lies in the archive, so the sync
                can cut its content out again (:func:`extract_attachment`)
``headers``     every header ``{name, value}`` as written (unfolded, not decoded), so the real
                ``Message-ID`` is there
``created_at``  same as ``date``; ``object`` is ``"message"``
=============== ===========================================================================

Contacts cannot be read from mail archives: asking for ``contacts`` raises ``SourceError``.
"""

from __future__ import annotations

import hashlib
import html
import mailbox
import os
import re
from collections.abc import Iterator, Mapping
from datetime import datetime, timezone
from email import policy
from email.header import decode_header, make_header
from email.message import Message
from email.parser import BytesParser
from email.utils import getaddresses, parsedate_to_datetime
from pathlib import Path
from typing import Any

from ..errors import SourceError
from ..hookspecs import hookimpl

__all__ = ["detect_eml", "detect_mbox", "extract_attachment", "message_to_record", "open_eml", "open_mbox",
           "register_sources"]

# compat32, not policy.default: the default policy re-parses Content-Type on every access (29
# parses per message in a profile) and converts at ~300 messages/s; compat32 plus explicit
# RFC 2047 / RFC 2231 decoding below gives the same fields at ~2,000 messages/s.
_PARSER = BytesParser(policy=policy.compat32)
SNIPPET_LENGTH = 100

#: Gmail system labels as Takeout names them → the label ids Nylas prints in ``folders``.
GMAIL_LABELS = {
    "inbox": "INBOX", "sent": "SENT", "important": "IMPORTANT", "starred": "STARRED",
    "spam": "SPAM", "trash": "TRASH", "draft": "DRAFT", "drafts": "DRAFT", "chat": "CHAT",
    "category personal": "CATEGORY_PERSONAL", "category social": "CATEGORY_SOCIAL",
    "category promotions": "CATEGORY_PROMOTIONS", "category updates": "CATEGORY_UPDATES",
    "category forums": "CATEGORY_FORUMS",
}
#: Takeout labels that are message state, not folders.
_STATE_LABELS = {"unread", "opened", "archived"}
#: Folder names of desktop clients (Thunderbird files, EML folder names) → Nylas-style ids.
KNOWN_FOLDERS = {
    "inbox": "INBOX", "sent": "SENT", "sent items": "SENT", "sent mail": "SENT",
    "sent messages": "SENT", "drafts": "DRAFT", "trash": "TRASH", "deleted items": "TRASH",
    "junk": "SPAM", "spam": "SPAM", "archive": "ARCHIVE", "archives": "ARCHIVE",
}

_WS = re.compile(r"\s+")
_TAGS = re.compile(r"<[^>]*>")
_INVISIBLE = re.compile(r"<(script|style|head|title)\b.*?</\1\s*>", re.IGNORECASE | re.DOTALL)
_MSGID = re.compile(r"<[^<>\s]+>")


# ---------------------------------------------------------------------------------------------
# Hook
# ---------------------------------------------------------------------------------------------


@hookimpl(trylast=True)
def register_sources(register: Any) -> None:
    """Register the ``mbox`` and ``eml`` sources."""
    register("mbox", open_mbox, detect_mbox)
    register("eml", open_eml, detect_eml)


def detect_mbox(path: Path) -> bool:
    """True for a ``.mbox``/``.mbx`` file or any file starting with an mbox ``From `` line."""
    path = Path(path)
    if not path.is_file():
        return False
    if path.suffix.lower() in (".mbox", ".mbx"):
        return True
    try:
        with open(path, "rb") as f:
            return f.read(5) == b"From "
    except OSError:
        return False


def detect_eml(path: Path) -> bool:
    """True for a ``.eml`` file or a directory that contains one (at any depth)."""
    path = Path(path)
    if path.is_file():
        return path.suffix.lower() == ".eml"
    if path.is_dir():
        return next(_eml_files(path), None) is not None
    return False


def _eml_files(folder: Path) -> Iterator[Path]:
    for root, dirs, files in os.walk(folder):
        dirs.sort()  # deterministic record order
        for name in sorted(files):
            if name.lower().endswith(".eml"):
                yield Path(root, name)


# ---------------------------------------------------------------------------------------------
# Openers
# ---------------------------------------------------------------------------------------------


def _messages_only(path: Path, kind: str) -> None:
    if kind != "messages":
        raise SourceError(f"{path}: mail archives hold messages, not {kind}; give contacts as a Nylas export")


def open_mbox(path: Path, kind: str, options: Mapping[str, Any] | None = None) -> Iterator[dict[str, Any]]:
    """Yield one Nylas-shaped message per mbox entry, reading one message at a time."""
    path = Path(path)
    _messages_only(path, kind)
    options = options or {}
    grant = str(options.get("grant") or path.name)
    folder = KNOWN_FOLDERS.get(path.stem.lower())
    try:
        box = mailbox.mbox(path, factory=None, create=False)
    except (OSError, mailbox.Error) as exc:
        raise SourceError(f"{path}: cannot open mbox: {exc}") from exc
    try:
        # iterkeys() scans the file once for offsets; get_bytes() then reads a single message.
        for number, key in enumerate(box.iterkeys(), 1):
            raw = box.get_bytes(key, from_=True)
            from_line, _, raw = raw.partition(b"\n")
            # Where the message lies in the file, so an attachment can be cut out again when
            # it is written (mailbox keeps no public accessor for its table of contents).
            start, stop = box._toc[key]
            try:
                yield message_to_record(raw, grant=grant, folder=folder,
                                        fallback_date=_from_line_date(from_line), fallback_mtime=path,
                                        locator={"file": str(path.resolve()), "start": start, "stop": stop})
            except SourceError:
                raise
            except Exception as exc:  # name the message instead of a bare traceback
                raise SourceError(f"{path}: message {number}: cannot be read: {exc}") from exc
    finally:
        box.close()


def open_eml(path: Path, kind: str, options: Mapping[str, Any] | None = None) -> Iterator[dict[str, Any]]:
    """Yield one Nylas-shaped message per ``.eml`` file (``path`` a file or a folder)."""
    path = Path(path)
    _messages_only(path, kind)
    options = options or {}
    grant = str(options.get("grant") or path.name)
    files = [path] if path.is_file() else _eml_files(path)
    for file in files:
        try:
            raw = file.read_bytes()
        except OSError as exc:
            raise SourceError(f"{file}: cannot read: {exc.strerror or exc}") from exc
        try:
            yield message_to_record(raw, grant=grant, folder=KNOWN_FOLDERS.get(file.parent.name.lower()),
                                    fallback_mtime=file, locator={"file": str(file.resolve()), "start": 0, "stop": None})
        except SourceError:
            raise
        except Exception as exc:
            raise SourceError(f"{file}: cannot be read: {exc}") from exc


# ---------------------------------------------------------------------------------------------
# One message → one Nylas record
# ---------------------------------------------------------------------------------------------


def message_to_record(raw: bytes, *, grant: str, folder: str | None = None,
                      fallback_date: datetime | None = None,
                      fallback_mtime: Path | None = None, locator: dict[str, Any] | None = None) -> dict[str, Any]:
    """Convert one RFC 5322 message (bytes) to the Nylas message shape (see module docstring).

    With ``locator`` (where the message lies in its file), each attachment also carries
    ``m2d_part`` = the locator plus its index, which :func:`extract_attachment` reads back.
    """
    msg: Message = _PARSER.parsebytes(raw)
    message_id = _first_msgid(_header(msg, "message-id"))
    record: dict[str, Any] = {
        "id": _hash(message_id.encode() if message_id else _stable_bytes(raw)),
        "grant_id": grant,
    }
    thread = _header(msg, "x-gm-thrid")
    if not thread:
        root = _first_msgid(_header(msg, "references")) or _first_msgid(_header(msg, "in-reply-to")) or message_id
        thread = _hash(root.encode()) if root else ""
    if thread:
        record["thread_id"] = thread
    record["subject"] = _WS.sub(" ", _decoded(msg, "subject")).strip()
    record["from"] = _participants(msg, "from")
    for field, header in (("to", "to"), ("cc", "cc"), ("bcc", "bcc"), ("reply_to", "reply-to")):
        people = _participants(msg, header)
        if people:
            record[field] = people

    html_part, text_part, attachments, _parts = _walk(msg)
    if locator is not None:
        for index, entry in enumerate(attachments):
            entry["m2d_part"] = {**locator, "index": index}
    html_text = _content(html_part) if html_part is not None else None
    plain_text = _content(text_part) if text_part is not None else None
    if html_text is not None:
        record["body"] = html_text
    elif plain_text is not None:
        record["body"] = _up_convert(plain_text)
    else:
        record["body"] = ""
    source_text = plain_text if plain_text is not None else _strip_tags(html_text or "")
    record["snippet"] = _WS.sub(" ", source_text).strip()[:SNIPPET_LENGTH]

    date = _message_date(msg, fallback_date, fallback_mtime)
    record["date"] = date
    labels = _gmail_labels(_header(msg, "x-gmail-labels"))
    unread, starred = False, False
    if labels is not None:
        lowered = {label.lower() for label in labels}
        unread, starred = "unread" in lowered, "starred" in lowered
    mozilla = _header(msg, "x-mozilla-status")
    if mozilla:
        try:
            flags = int(mozilla, 16)
            unread, starred = not flags & 0x1, bool(flags & 0x4)
        except ValueError:
            pass
    record["unread"] = unread
    record["starred"] = starred
    if labels:
        folders = [GMAIL_LABELS.get(label.lower(), label) for label in labels
                   if label.lower() not in _STATE_LABELS]
        record["folders"] = list(dict.fromkeys(folders)) or ["INBOX"]
    else:
        record["folders"] = [folder or "INBOX"]
    if attachments:
        record["attachments"] = attachments
    record["headers"] = [{"name": name, "value": _clean(_unfold(value))} for name, value in msg.raw_items()]
    record["created_at"] = date
    record["object"] = "message"
    return record


def _clean(text: str) -> str:
    """Repair raw 8-bit header bytes (RFC 6532 UTF-8, or legacy Latin-1) the parser kept as
    surrogate escapes; such strings cannot even be written as JSON."""
    if not any("\udc80" <= ch <= "\udcff" for ch in text):
        return text
    data = text.encode("utf-8", "surrogateescape")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("cp1252", "replace")


#: Headers mail clients rewrite in place when a message is read, flagged or relabelled.
_VOLATILE_HEADERS = frozenset({
    b"status", b"x-status", b"x-keywords", b"x-uid", b"content-length", b"lines",
    b"x-mozilla-status", b"x-mozilla-status2", b"x-mozilla-keys", b"x-gmail-labels",
})


def _stable_bytes(raw: bytes) -> bytes:
    """``raw`` without the headers clients rewrite (see :data:`_VOLATILE_HEADERS`).

    A message without a Message-ID is identified by a hash of its bytes; Thunderbird rewrites
    ``X-Mozilla-Status`` when it is read and Takeout's ``X-Gmail-Labels`` change with its labels,
    so hashing them would give the same message a new id, and a new email in the org, after
    the user merely opened it.
    """
    end = raw.find(b"\n\n")
    end_crlf = raw.find(b"\r\n\r\n")
    if end_crlf != -1 and (end == -1 or end_crlf < end):
        end = end_crlf
    head, body = (raw, b"") if end == -1 else (raw[:end], raw[end:])
    kept: list[bytes] = []
    skipping = False
    for line in head.splitlines(keepends=True):
        if line[:1] in (b" ", b"\t"):  # a folded continuation belongs to the header above
            if not skipping:
                kept.append(line)
            continue
        skipping = line.split(b":", 1)[0].strip().lower() in _VOLATILE_HEADERS
        if not skipping:
            kept.append(line)
    return b"".join(kept) + body


def _hash(data: bytes) -> str:
    return hashlib.sha1(data).hexdigest()[:16]


def _header(msg: Message, name: str) -> str:
    """The raw (undecoded, unfolded) value of the first ``name`` header, or ``""``."""
    for key, value in msg.raw_items():
        if key.lower() == name:
            return _clean(_unfold(str(value)))
    return ""


def _unfold(value: Any) -> str:
    return re.sub(r"\r?\n[ \t]*", " ", str(value)).strip()


def _first_msgid(value: str) -> str:
    match = _MSGID.search(value or "")
    return match.group(0) if match else ""


def _decode_words(value: str) -> str:
    """Decode RFC 2047 encoded words (``=?UTF-8?Q?Zo=C3=AB?=``); the raw text if they lie."""
    value = _clean(value)
    if "=?" not in value:
        return value
    try:
        return str(make_header(decode_header(value)))
    except (LookupError, UnicodeError, ValueError, AssertionError):
        return value


def _decoded(msg: Message, name: str) -> str:
    """The RFC 2047-decoded value of a header, or ``""``."""
    return _decode_words(_header(msg, name.lower()))


def _participants(msg: Message, name: str) -> list[dict[str, str]]:
    values = [_clean(_unfold(v)) for k, v in msg.raw_items() if k.lower() == name]
    people: list[dict[str, str]] = []
    for display, address in getaddresses(values):
        address = (address or "").strip()
        if not address or "@" not in address:
            continue  # group syntax ("undisclosed-recipients:;") or garbage
        display = _WS.sub(" ", _decode_words(display or "")).strip()
        entry = {"name": display} if display else {}
        entry["email"] = address
        people.append(entry)
    return people


def _walk(msg: Message) -> tuple[Message | None, Message | None, list[dict[str, Any]], list[Message]]:
    """One pass over the MIME tree: the first HTML and text body parts, and the attachments
    (metadata, and the parts themselves in the same order)."""
    found: dict[str, Message] = {}
    attachments: list[dict[str, Any]] = []
    parts: list[Message] = []

    def visit(part: Message, top: bool) -> None:
        ctype = part.get_content_type()
        if ctype == "message/rfc822" and not top:  # a forwarded message is one attachment
            inner = part.get_payload()
            inner = inner[0] if isinstance(inner, list) and inner else inner
            size = len(inner.as_bytes()) if isinstance(inner, Message) else 0
            attachments.append(_attachment(part, ctype, size, default_name="message.eml"))
            parts.append(part)
            return
        if part.is_multipart():
            for sub in part.get_payload():
                visit(sub, False)
            return
        disposition = part.get_content_disposition()
        if ctype in ("text/html", "text/plain") and disposition != "attachment" and not part.get_filename():
            key = "html" if ctype == "text/html" else "plain"
            if key not in found:
                found[key] = part
            return  # a further alternative body is not a file
        payload = part.get_payload(decode=True)
        attachments.append(_attachment(part, ctype, len(payload) if isinstance(payload, bytes) else 0))
        parts.append(part)

    visit(msg, True)
    return found.get("html"), found.get("plain"), attachments, parts


def extract_attachment(locator: dict[str, Any], dest: Path) -> None:
    """Write the content of the attachment ``locator`` names (an ``m2d_part``) to ``dest``.

    The message is read again from its file (mbox: its byte range, without the ``From_`` line;
    EML: the whole file) and walked exactly as :func:`message_to_record` walked it.

    :raises ValueError: the file no longer holds that part.
    """
    with open(locator["file"], "rb") as f:
        f.seek(int(locator.get("start") or 0))
        stop = locator.get("stop")
        raw = f.read() if stop is None else f.read(int(stop) - int(locator.get("start") or 0))
    if raw.startswith(b"From "):
        raw = raw.partition(b"\n")[2]
    parts = _walk(_PARSER.parsebytes(raw))[3]
    index = int(locator["index"])
    if not 0 <= index < len(parts):
        raise ValueError(f"{locator['file']}: the message has no attachment {index + 1} any more")
    part = parts[index]
    if part.get_content_type() == "message/rfc822":
        inner = part.get_payload()
        inner = inner[0] if isinstance(inner, list) and inner else inner
        data = inner.as_bytes() if isinstance(inner, Message) else b""
    else:
        payload = part.get_payload(decode=True)
        data = payload if isinstance(payload, bytes) else b""
    del raw, parts, part
    with open(dest, "wb") as out:
        out.write(data)


# The engine finds the extractor on the opener (the source registry passes openers only).
open_mbox.extract_attachment = extract_attachment  # type: ignore[attr-defined]
open_eml.extract_attachment = extract_attachment  # type: ignore[attr-defined]


def _content(part: Message) -> str:
    """Decoded text of a part; an unknown or lying charset degrades to replacement characters."""
    payload = part.get_payload(decode=True)
    if not isinstance(payload, bytes):
        return ""
    charset = part.get_content_charset() or "utf-8"
    if charset in ("us-ascii", "ascii"):
        charset = "utf-8"  # undeclared 8-bit text is far more often UTF-8 than garbage
    try:
        return payload.decode(charset, "replace")
    except LookupError:
        return payload.decode("utf-8", "replace")


def _up_convert(text: str) -> str:
    """Plain text → HTML like Nylas does for text-only mail: escaped, lines joined by ``<br>``."""
    lines = text.replace("\r\n", "\n").rstrip("\n").split("\n")
    return "<div>" + "<br>".join(html.escape(line, quote=False) for line in lines) + "</div>"


def _strip_tags(markup: str) -> str:
    markup = _INVISIBLE.sub(" ", markup)
    return html.unescape(_TAGS.sub(" ", re.sub(r"(?i)<br\s*/?>", " ", markup)))


def _rfc3339(value: datetime) -> str:
    if value.tzinfo is None:  # "-0000" (unknown zone) and From_ lines: taken as UTC
        value = value.replace(tzinfo=timezone.utc)
    text = value.replace(microsecond=0).isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def _parse_date(value: str) -> datetime | None:
    if not value:
        return None
    try:
        return parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None


def _message_date(msg: Message, fallback: datetime | None, mtime_of: Path | None) -> str:
    parsed = _parse_date(_header(msg, "date"))
    if parsed is None:
        received = _header(msg, "received")  # the newest hop is the first Received header
        if ";" in received:
            parsed = _parse_date(received.rsplit(";", 1)[1].strip())
    if parsed is None:
        parsed = fallback
    if parsed is None and mtime_of is not None:
        parsed = datetime.fromtimestamp(mtime_of.stat().st_mtime, timezone.utc)
    if parsed is None:
        parsed = datetime.fromtimestamp(0, timezone.utc)
    return _rfc3339(parsed)


def _from_line_date(line: bytes) -> datetime | None:
    """The asctime date of an mbox ``From sender Thu Jan  1 00:00:00 2025`` line."""
    parts = line.decode("latin-1").split()
    for start in range(2, max(3, len(parts) - 3)):
        for width, fmt in ((5, "%a %b %d %H:%M:%S %Y"), (6, "%a %b %d %H:%M:%S %z %Y")):
            try:  # classic asctime, or Takeout's variant with a zone before the year
                return datetime.strptime(" ".join(parts[start:start + width]), fmt)
            except ValueError:
                continue
    return None


def _gmail_labels(value: str) -> list[str] | None:
    """Split ``X-Gmail-Labels`` (comma-separated; labels with commas are double-quoted)."""
    if not value:
        return None
    labels, current, quoted = [], [], False
    for char in value:
        if char == '"':
            quoted = not quoted
        elif char == "," and not quoted:
            labels.append("".join(current).strip())
            current = []
        else:
            current.append(char)
    labels.append("".join(current).strip())
    return [label for label in labels if label]


def _attachment(part: Message, ctype: str, size: int, default_name: str = "") -> dict[str, Any]:
    try:  # RFC 2231 (filename*=) is handled by get_filename; RFC 2047 words are common too
        filename = _decode_words(part.get_filename() or "") or default_name
    except Exception:
        filename = default_name
    entry: dict[str, Any] = {"filename": filename, "content_type": ctype, "size": size}
    content_id = _header(part, "content-id").strip("<> ")
    if content_id:
        entry["content_id"] = content_id
    if part.get_content_disposition() == "inline":
        entry["is_inline"] = True  # printed only when true, like the CLI
    return entry
