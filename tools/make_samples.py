"""Write the bundled sample mailbox (engine/samples/) in the Nylas CLI's exact JSON shape.

Kept as a script so the sample can be regenerated after an edit: Go's encoder escapes <, > and &
as \\u003c, \\u003e, \\u0026 and writes non-ASCII raw, which this reproduces.
"""

import json
from pathlib import Path

GRANT = "5a1e7c2d-3b4f-4e6a-9c8d-0f1e2d3c4b5a"


def p(email, name=None):
    return {"name": name, "email": email} if name else {"email": email}


def msg(id, subject, frm, date, body, snippet, folders, to=None, cc=None, bcc=None, reply_to=None,
        thread_id=None, unread=False, starred=False, attachments=None, headers=None):
    m = {"id": id, "grant_id": GRANT}
    m["thread_id"] = thread_id or id
    m["subject"] = subject
    m["from"] = frm
    if to:
        m["to"] = to
    if cc:
        m["cc"] = cc
    if bcc:
        m["bcc"] = bcc
    if reply_to:
        m["reply_to"] = reply_to
    m["body"] = body
    m["snippet"] = snippet
    m["date"] = date
    m["unread"] = unread
    m["starred"] = starred
    if folders:
        m["folders"] = folders
    if attachments:
        m["attachments"] = attachments
    if headers:
        m["headers"] = headers
    m["created_at"] = date
    m["object"] = "message"
    return m


DANA = p("dana@acme-widgets.example", "Dana Whitfield")
ZOE = p("zoe.angstrom@northwind-traders.example", "Zoë Ångström")
SIOBHAN = p("o'brien@harbor-logistics.example", "Siobhán O'Brien")
MARCUS = p("marcus.webb87@gmail.com", "Marcus Webb")
PRIYA = p("priya+pilot@mail.bluefin-robotics.co.uk", "Priya Raman")
TOMAS = p("tomas@herrera-hijos.example", "Tomás Herrera")

messages = [
    msg("18f3a9c2b7d41e05", "Re: Q3 renewal – pricing for 40 seats", [ZOE], "2025-03-04T14:05:09Z",
        '<div dir="ltr">Hi Dana,<br><br>Attached is the revised quote for 40 seats &amp; the SLA addendum. Can we lock this in by Friday?<br><br>Thanks,<br>Zoë</div>',
        "Hi Dana, Attached is the revised quote for 40 seats & the SLA addendum. Can we lock this in by Friday? Thanks, Zoë",
        ["INBOX", "CATEGORY_PERSONAL"], to=[DANA],
        cc=[SIOBHAN, p("procurement@northwind-traders.example")], reply_to=[ZOE], unread=True,
        attachments=[{"id": "att-7d3e91c0b2", "filename": "quote-q3.pdf", "content_type": "application/pdf", "size": 248576}],
        headers=[{"name": "Message-ID", "value": "<CAH7x2Lw9f3Q@mail.northwind-traders.example>"},
                 {"name": "In-Reply-To", "value": "<20250303101533.4471@acme-widgets.example>"}]),
    msg("18f39b7e55a20c91", "Re: Intro: warehouse automation pilot", [DANA], "2025-03-03T10:02:51Z",
        "<div>Thanks Marcus, Tuesday 10:00 works. Invite to follow.</div><div><br></div><div>-- <br>Dana Whitfield | Acme Widgets</div>",
        "Thanks Marcus, Tuesday 10:00 works. Invite to follow. -- Dana Whitfield | Acme Widgets",
        ["SENT"], to=[MARCUS], bcc=[p("crm-archive@acme-widgets.example", "Acme CRM Archive")],
        thread_id="18f3a4d01c9e7b22"),
    msg("18f3a4d01c9e7b22", "Intro: warehouse automation pilot", [MARCUS], "2025-03-03T09:41:27Z",
        "<p>Hi Dana — Priya suggested I reach out about the pilot. Free for a 20-minute call next week?</p><p>Marcus</p>",
        "Hi Dana — Priya suggested I reach out about the pilot. Free for a 20-minute call next week? Marcus",
        ["INBOX", "IMPORTANT"], to=[DANA], starred=True),
    msg("18f3b01d44c2a7e8", "[CAS-01234-A1B2C3] Forklift sensor fault on line 2", [TOMAS], "2025-03-05T08:17:44+01:00",
        "<p>Hola Dana,</p><p>The sensor on line 2 stopped again this morning. Photos attached.</p><p>Tomás</p>",
        "Hola Dana, The sensor on line 2 stopped again this morning. Photos attached. Tomás",
        ["INBOX"], to=[DANA], cc=[p("soporte@herrera-hijos.example")],
        attachments=[{"id": "att-1c2d3e4f5a", "filename": "sensor.jpg", "content_type": "image/jpeg", "size": 91234}]),
    msg("18f3b2aa90d1c4f3", "Re: [CAS-01234-A1B2C3] Forklift sensor fault on line 2", [DANA], "2025-03-05T10:30:00Z",
        "<p>Hi Tomás, a technician will be on site tomorrow at 9.</p>",
        "Hi Tomás, a technician will be on site tomorrow at 9.",
        ["SENT"], to=[TOMAS], thread_id="18f3b01d44c2a7e8"),
    msg("18f3c4e0b9a2d611", "Pilot scope & timeline", [PRIYA], "2025-03-06T16:45:12+05:30",
        "<div>Dana, sharing the scope doc for the Bluefin pilot. <b>Key dates</b> are in section 3.</div>",
        "Dana, sharing the scope doc for the Bluefin pilot. Key dates are in section 3.",
        ["INBOX"], to=[DANA], cc=[MARCUS]),
    msg("18f3c7f2a1e0b955", "Re: Pilot scope & timeline", [DANA], "2025-03-06T09:02:00-05:00",
        "<div>Thanks Priya — looks good. Looping in Zoë for the hardware quote.</div>",
        "Thanks Priya — looks good. Looping in Zoë for the hardware quote.",
        ["SENT"], to=[PRIYA], cc=[ZOE], thread_id="18f3c4e0b9a2d611"),
    msg("18f3d1b6c3f7a802", "Your March invoice", [p("billing@newsletter-tools.example", "NewsletterTools Billing")],
        "2025-03-07T06:00:00Z",
        "<table><tr><td>Invoice INV-2291</td><td>$49.00</td></tr></table>",
        "Invoice INV-2291 $49.00", ["INBOX", "CATEGORY_UPDATES"], to=[DANA]),
]

contacts = [
    {"id": "c4f1a8e2d3b5076a", "grant_id": GRANT, "object": "contact", "given_name": "Siobhán",
     "middle_name": "Niamh", "surname": "O'Brien", "nickname": "Shiv", "birthday": "1986-07-19",
     "company_name": "Harbor Logistics", "job_title": "Head of Procurement", "manager_name": "Declan Byrne",
     "notes": "Met at LogiMAT 2024. Prefers email over phone.",
     "picture_url": "https://photos.example.com/contacts/c4f1a8e2d3b5076a.jpg",
     "emails": [{"email": "o'brien@harbor-logistics.example", "type": "work"},
                {"email": "siobhan.obrien@gmail.com", "type": "home"}],
     "phone_numbers": [{"number": "+353 1 555 0142", "type": "work"}, {"number": "+353 87 555 0199", "type": "mobile"}],
     "web_pages": [{"url": "https://harbor-logistics.example/team/siobhan", "type": "work"}],
     "physical_addresses": [{"type": "work", "street_address": "12 Quay Street", "city": "Dublin", "postal_code": "D02 X285", "country": "Ireland"}],
     "groups": [{"id": "grp-2b7f04c1"}], "source": "address_book"},
    {"id": "c7d29e0b81f4a3c5", "grant_id": GRANT, "object": "contact", "given_name": "Zoë", "surname": "Ångström",
     "company_name": "Northwind Traders", "job_title": "Account Executive",
     "emails": [{"email": "zoe.angstrom@northwind-traders.example", "type": "work"}], "source": "address_book"},
    {"id": "c0b8e6f1a2d9473e", "grant_id": GRANT, "object": "contact", "given_name": "Tomás", "surname": "Herrera",
     "company_name": "Herrera & Hijos Construcción", "job_title": "Site Manager",
     "phone_numbers": [{"number": "+34 612 555 017", "type": "mobile"}],
     "physical_addresses": [{"type": "work", "street_address": "Calle Mayor 8", "city": "Valencia", "state": "Valencia", "postal_code": "46001", "country": "Spain"}],
     "source": "address_book"},
    {"id": "c1e5d7a9b3f24c86", "grant_id": GRANT, "object": "contact", "given_name": "Tomás", "surname": "Herrera",
     "company_name": "Herrera & Hijos Construcción",
     "emails": [{"email": "Tomas@Herrera-Hijos.example", "type": "work"}], "source": "inbox"},
    {"id": "c9a3f5e7d1b24a60", "grant_id": GRANT, "object": "contact", "given_name": "Priya", "surname": "Raman",
     "company_name": "Bluefin Robotics", "job_title": "Operations Lead",
     "emails": [{"email": "priya+pilot@mail.bluefin-robotics.co.uk", "type": "work"}],
     "phone_numbers": [{"number": "+44 20 7946 0018", "type": "work"}], "source": "address_book"},
    {"id": "c2b4d6f8a0c14e3b", "grant_id": GRANT, "object": "contact", "given_name": "Marcus", "surname": "Webb",
     "emails": [{"email": "marcus.webb87@gmail.com", "type": "home"}], "source": "address_book"},
    {"id": "c5e7a9c1e3a54f2d", "grant_id": GRANT, "object": "contact", "nickname": "Procurement desk",
     "company_name": "Northwind Traders",
     "emails": [{"email": "procurement@northwind-traders.example", "type": "work"}], "source": "inbox"},
]


# The CLI lists newest first; the dates carry different offsets, so sort on the instant.
from datetime import datetime

messages.sort(key=lambda m: datetime.fromisoformat(m["date"]), reverse=True)


def go_json(data):
    text = json.dumps(data, indent=2, ensure_ascii=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026") + "\n"


out = Path(__file__).resolve().parent.parent / "engine" / "samples"
(out / "messages.json").write_text(go_json(messages), encoding="utf-8")
(out / "contacts.json").write_text(go_json(contacts), encoding="utf-8")
print(f"wrote {len(messages)} messages and {len(contacts)} contacts to {out}")
