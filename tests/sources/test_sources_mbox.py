"""The built-in mbox/EML source plugin: registration, detection and the Nylas message shape."""

from __future__ import annotations

import json
import mailbox
from email.message import EmailMessage
from pathlib import Path

import pytest

from mail2dataverse.errors import SourceError
from mail2dataverse.pluginmanager import Plugins, make_plugin_manager
from mail2dataverse.plugins import mbox as mbox_module
from mail2dataverse.sources import open_source

FIXTURES = Path(__file__).parent / "fixtures"
TAKEOUT = FIXTURES / "takeout.mbox"
EML_DIR = FIXTURES / "eml"


@pytest.fixture
def plugins():
    return Plugins(make_plugin_manager(autoload=False, extra=[mbox_module]))


def records(spec, plugins, **kwargs) -> list[dict]:
    with open_source(spec, "messages", plugins=plugins, **kwargs) as src:
        count = src.validate()
        out = [r for _, r in src]
    assert len(out) == count
    return out


def test_registers_through_the_sources_hook():
    pm = make_plugin_manager(autoload=False, extra=[mbox_module])
    seen = {}
    pm.hook.register_sources(register=lambda name, opener, detect: seen.setdefault(name, (opener, detect)))
    assert seen["mbox"] == (mbox_module.open_mbox, mbox_module.detect_mbox)
    assert seen["eml"] == (mbox_module.open_eml, mbox_module.detect_eml)
    # the engine's wrapper sees the same thing, and so does open_source given a bare manager
    assert set(Plugins(pm).sources()) >= {"mbox", "eml"}
    with open_source(TAKEOUT, "messages", plugins=pm) as src:
        assert src.format == "mbox"


def test_takeout_multipart_message_in_nylas_shape(plugins):
    first, sent, bare = records(TAKEOUT, plugins)
    assert list(first) == ["id", "grant_id", "thread_id", "subject", "from", "to", "cc", "reply_to", "body",
                           "snippet", "date", "unread", "starred", "folders", "attachments", "headers",
                           "created_at", "object"]
    assert first["grant_id"] == "takeout.mbox"
    assert first["thread_id"] == "1792538455551437824"
    assert first["subject"] == "Re: Q3 renewal – pricing for 40 seats"  # RFC 2047, non-ASCII
    assert first["from"] == [{"name": "Zoë Ångström", "email": "zoe.angstrom@northwind-traders.example"}]
    assert first["cc"] == [{"name": "Siobhán O'Brien", "email": "o'brien@harbor-logistics.example"},
                           {"email": "procurement@northwind-traders.example"}]
    assert first["body"].startswith('<div dir="ltr">Hi Dana,<br><br>')  # the HTML alternative
    assert first["snippet"] == "Hi Dana, Attached is the revised quote for 40 seats & the SLA addendum. Thanks, Zoë"
    assert first["date"] == "2025-03-04T15:05:09+01:00" == first["created_at"]  # the header's offset
    assert first["unread"] is True and first["starred"] is False
    assert first["folders"] == ["INBOX", "IMPORTANT", "CATEGORY_PERSONAL", "Clients, 2025"]
    assert metadata(first["attachments"]) == [{"filename": "quote-q3.pdf", "content_type": "application/pdf", "size": 78}]
    # ... and where its content lies, so the sync can cut it out again (issue 16)
    assert first["attachments"][0]["m2d_part"]["index"] == 0
    assert {"name": "Message-ID", "value": "<CAH7x2Lw9f3Q@mail.northwind-traders.example>"} in first["headers"]
    assert first["object"] == "message"
    json.dumps(first)


def test_text_only_message_is_up_converted(plugins):
    _, sent, _ = records(TAKEOUT, plugins)
    assert sent["body"].startswith("<div>Thanks Marcus, Tuesday 10:00 works. &lt;Invite&gt; to follow &amp; more.<br>")
    assert sent["body"].endswith("<br>-- <br>Dana Whitfield | Acme Widgets</div>")
    assert sent["snippet"].startswith("Thanks Marcus, Tuesday 10:00 works. <Invite> to follow & more.")
    assert len(sent["snippet"]) == 100
    assert sent["folders"] == ["SENT", "STARRED"] and sent["starred"] is True and sent["unread"] is False
    assert "to" in sent and "cc" not in sent and sent["bcc"][0]["email"] == "crm-archive@acme-widgets.example"
    assert sent["date"] == "2025-03-03T05:02:51-05:00"


def test_missing_date_and_message_id_fall_back(plugins):
    *_, bare = records(TAKEOUT, plugins)
    assert bare["date"] == "2025-03-02T08:00:00Z"  # from the mbox From_ line
    assert "thread_id" not in bare and "to" not in bare  # undisclosed-recipients has no address
    assert bare["from"] == [{"name": "Büro", "email": "buero@example.de"}]  # raw 8-bit UTF-8 header
    assert bare["body"] == "<div>Grüße aus München</div>"  # iso-8859-1 quoted-printable
    assert bare["folders"] == ["INBOX"]


def test_ids_are_stable_and_grant_option(plugins):
    a = records(TAKEOUT, plugins)
    b = records(TAKEOUT, plugins, options={"grant": "dana@acme-widgets.example"})
    assert [r["id"] for r in a] == [r["id"] for r in b]
    assert len({r["id"] for r in a}) == 3
    assert {r["grant_id"] for r in b} == {"dana@acme-widgets.example"}


def metadata(attachments: list[dict]) -> list[dict]:
    """The Nylas-shaped attachment metadata, without the archive locator (``m2d_part``)."""
    return [{k: v for k, v in a.items() if k != "m2d_part"} for a in attachments]


def test_extracted_parts_hold_the_attachment_bytes(plugins, tmp_path):
    from mail2dataverse.plugins.mbox import extract_attachment

    with open_source(EML_DIR, "messages", plugins=plugins) as src:
        news = next(r for _, r in src)
    extract_attachment(news["attachments"][0]["m2d_part"], tmp_path / "out")
    assert (tmp_path / "out").stat().st_size == news["attachments"][0]["size"]


def test_eml_folder(plugins):
    with open_source(EML_DIR, "messages", plugins=plugins) as src:
        assert src.format == "eml"
        news, reply = [r for _, r in src]
    assert news["subject"] == "Café update"  # ISO-8859-1 encoded word
    assert news["snippet"] == "Hello Dana & team"  # style dropped, entities decoded
    assert metadata(news["attachments"]) == [{"filename": "logo.png", "content_type": "image/png", "size": 8,
                                              "content_id": "logo@x", "is_inline": True}]
    assert news["to"] == [{"email": "dana@acme-widgets.example"}]
    assert reply["subject"] == "Re: Café update"
    assert reply["folders"] == ["SENT"]  # the EML's folder name
    assert reply["date"] == "2025-03-02T09:30:00-08:00"
    assert reply["grant_id"] == "eml"


def test_single_eml_file(plugins):
    [reply] = records(EML_DIR / "Sent" / "reply.eml", plugins)
    assert reply["body"] == "<div>Thanks!</div>"


def _thunderbird_mbox(path: Path) -> None:
    box = mailbox.mbox(path)
    msg = EmailMessage()
    msg["From"] = "Dana <dana@acme-widgets.example>"
    msg["To"] = "=?UTF-8?Q?Zo=C3=AB?= <zoe@northwind-traders.example>"
    msg["Subject"] = "Thunderbird"
    msg["Date"] = "not a date"
    msg["Received"] = "from mx by mail.example; Wed, 05 Mar 2025 10:00:00 +0200"
    msg["X-Mozilla-Status"] = "0005"  # read + flagged
    msg["Message-ID"] = "<tb-1@acme-widgets.example>"
    msg.set_content("Hello Zoë")
    msg.add_alternative("<p>Hello <b>Zoë</b></p>", subtype="html")
    box.add(msg)
    box.flush()
    box.close()


def test_thunderbird_file_without_extension_is_detected(plugins, tmp_path):
    path = tmp_path / "Sent"
    _thunderbird_mbox(path)
    [record] = records(path, plugins)
    assert record["to"] == [{"name": "Zoë", "email": "zoe@northwind-traders.example"}]
    assert record["body"] == "<p>Hello <b>Zoë</b></p>\n"
    assert record["snippet"] == "Hello Zoë"
    assert record["date"] == "2025-03-05T10:00:00+02:00"  # invalid Date: the Received hop
    assert record["folders"] == ["SENT"]
    assert record["unread"] is False and record["starred"] is True


def test_contacts_are_refused(plugins):
    with pytest.raises(SourceError, match="mail archives hold messages, not contacts"):
        open_source(TAKEOUT, "contacts", plugins=plugins).validate()


def test_explicit_format_and_stdin_refusal(plugins, tmp_path):
    path = tmp_path / "archive.txt"
    path.write_bytes(TAKEOUT.read_bytes())
    assert len(records(path, plugins, fmt="mbox")) == 3
    with pytest.raises(SourceError, match="reads files, not stdin"):
        open_source("-", "messages", plugins=plugins, fmt="mbox")


def test_detect():
    assert mbox_module.detect_mbox(TAKEOUT)
    assert not mbox_module.detect_mbox(FIXTURES / "messages.json")
    assert mbox_module.detect_eml(EML_DIR) and mbox_module.detect_eml(EML_DIR / "newsletter.eml")
    assert not mbox_module.detect_eml(FIXTURES / "messages.json")
    assert not mbox_module.detect_eml(Path(__file__).parent / "__pycache__" / "nope")


def test_a_message_without_message_id_keeps_its_id_when_a_client_marks_it_read(plugins, tmp_path):
    # Its identity is a hash of the message; Thunderbird rewrites X-Mozilla-Status when the
    # user opens it and Takeout's X-Gmail-Labels change with its labels: same message, same id.
    def mbox_with(status_headers: str) -> Path:
        path = tmp_path / "Inbox"
        path.write_bytes(
            b"From - Sat May  3 10:00:00 2025\n"
            + status_headers.encode()
            + b"From: =?UTF-8?Q?B=C3=BCro?= <buero@example.de>\nTo: dana@acme-widgets.example\n"
              b"Subject: ohne Message-ID\nDate: Sat, 3 May 2025 10:00:00 +0200\n\nHallo\n\n"
        )
        return path

    unread = records(mbox_with("X-Mozilla-Status: 0000\nX-Mozilla-Status2: 00000000\n"
                               "X-Gmail-Labels: Inbox,Unread\n"), plugins)[0]
    read = records(mbox_with("X-Mozilla-Status: 0001\nX-Mozilla-Status2: 10000000\n"
                             "X-Gmail-Labels: Inbox,\n Opened\n"), plugins)[0]
    assert (unread["unread"], read["unread"]) == (True, False)
    assert unread["id"] == read["id"]
    assert records(mbox_with(""), plugins)[0]["id"] == unread["id"]  # no status headers at all
    # the rest of the message still counts: a different body is a different message
    path = mbox_with("")
    path.write_bytes(path.read_bytes().replace(b"Hallo", b"Tschuess"))
    assert records(path, plugins)[0]["id"] != unread["id"]
