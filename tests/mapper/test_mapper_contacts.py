"""map_contact and map_account on the Nylas reference contacts and malformed variants."""

from __future__ import annotations

import pytest

from mail2dataverse.errors import RecordError
from mail2dataverse.model import DerivedAccount, MappedAccount, MappedContact, RecordRef, Skip


def _ref(i: int = 0, rid: str | None = None) -> RecordRef:
    return RecordRef("contacts.json", i, rid)


def test_reference_contact_1(mappings, contacts):
    out = mappings.map_contact(contacts[0], _ref(0, contacts[0]["id"]))
    assert isinstance(out, MappedContact)
    assert out.emails == ("o'brien@harbor-logistics.example", "siobhan.obrien@gmail.com")
    assert out.columns == {
        "firstname": "Siobhán",
        "middlename": "Niamh",
        "lastname": "O'Brien",
        "emailaddress1": "o'brien@harbor-logistics.example",
        "emailaddress2": "siobhan.obrien@gmail.com",
        "telephone1": "+353 1 555 0142",
        "telephone2": "+353 87 555 0199",
        "jobtitle": "Head of Procurement",
    }
    # The account comes from the first address, through the plugins, with the contact record.
    assert out.account == DerivedAccount(
        "harbor-logistics.example",
        {"domain": "harbor-logistics.example", "name": "Harbor Logistics", "website": "https://harbor-logistics.example"},
    )
    assert out.account_nav == "parentcustomerid_account"
    assert "parentcustomerid_account@odata.bind" not in out.columns


def test_reference_contact_2_minimal(mappings, contacts):
    out = mappings.map_contact(contacts[1], _ref(1))
    assert out.columns == {
        "firstname": "Zoë",
        "lastname": "Ångström",
        "emailaddress1": "zoe.angstrom@northwind-traders.example",
        "jobtitle": "Account Executive",
    }
    assert out.account.domain == "northwind-traders.example"


def test_reference_contact_3_without_emails_is_skipped(mappings, contacts):
    assert mappings.map_contact(contacts[2], _ref(2)) == Skip(_ref(2), "no email address")


def test_freemail_contact_has_no_account(mappings):
    out = mappings.map_contact({"emails": [{"email": "Marcus.Webb87@Gmail.com"}], "surname": "Webb"}, _ref())
    assert out.emails == ("marcus.webb87@gmail.com",)
    assert out.account is None and out.account_nav == "parentcustomerid_account"


@pytest.mark.parametrize(
    ("record", "lastname"),
    [
        ({"surname": "  Byrne "}, "Byrne"),
        ({"nickname": "Shiv"}, "Shiv"),
        ({"surname": "   ", "nickname": "Shiv"}, "Shiv"),
        ({}, "priya+pilot"),
        ({"surname": "x" * 80}, "x" * 50),
    ],
)
def test_lastname_fallbacks(mappings, record, lastname):
    record = {"emails": [{"email": "priya+pilot@bluefin.example"}], **record}
    assert mappings.map_contact(record, _ref()).columns["lastname"] == lastname


def test_lastname_unknown_when_nothing_usable(mappings):
    # `local_part` of an address without '@' gives nothing: the last fallback is "(unknown)".
    out = mappings.map_contact({"emails": [{"email": "no-at-sign"}]}, _ref())
    assert out.columns["lastname"] == "(unknown)"


def test_blank_and_duplicate_emails_are_dropped(mappings):
    record = {"emails": [{"email": "  "}, {"email": "A@X.example"}, {"type": "work"}, {"email": "a@x.example "}, {"email": "b@x.example"}]}
    out = mappings.map_contact(record, _ref())
    assert out.emails == ("a@x.example", "b@x.example")
    assert out.columns["emailaddress1"] == "a@x.example"
    assert out.columns["emailaddress2"] == "b@x.example"
    assert "emailaddress3" not in out.columns


def test_only_blank_emails_is_no_email(mappings):
    assert mappings.map_contact({"emails": [{"email": " "}]}, _ref()) == Skip(_ref(), "no email address")


def test_three_phones_and_truncation(mappings):
    record = {
        "emails": [{"email": "a@x.example"}],
        "phone_numbers": [{"number": " 1 "}, {"number": "2"}, {"number": "3" * 60}, {"number": "4"}],
        "job_title": "j" * 150,
    }
    out = mappings.map_contact(record, _ref())
    assert (out.columns["telephone1"], out.columns["telephone2"], out.columns["telephone3"]) == ("1", "2", "3" * 50)
    assert "telephone4" not in out.columns
    assert out.columns["jobtitle"] == "j" * 100


def test_long_email_truncated_in_column_not_identity(mappings):
    address = "a" * 120 + "@x.example"
    out = mappings.map_contact({"emails": [{"email": address}]}, _ref())
    assert out.emails == (address,)
    assert out.columns["emailaddress1"] == address[:100]


@pytest.mark.parametrize(
    ("field", "value", "where", "why"),
    [
        ("emails", "x", "$.let.emails", "emails: expected an array, got string 'x'"),
        ("emails", [{"email": 5}], "$.let.emails", "strip expects strings, got number 5 in the array"),
        ("emails", [5], "$.let.emails", "cannot read 'email' of number 5 (expected an object)"),
        ("given_name", ["Zoë"], "$.columns.firstname", "column firstname needs a string, number or boolean, got array ['Zoë']"),
        ("phone_numbers", {"number": "1"}, "$.columns.telephone1", "phone_numbers: expected an array, got object"),
    ],
)
def test_wrong_types_become_located_skips(mappings, contacts, field, value, where, why):
    out = mappings.map_contact(dict(contacts[1], **{field: value}), _ref(1, "c2"))
    assert isinstance(out, Skip)
    assert out.ref == _ref(1, "c2")
    assert out.reason.startswith(f"{where}: {why}")  # the record is out.ref, not repeated
    assert "(mapping mappings/contact.yaml:" in out.reason


@pytest.mark.parametrize("record", [["a"], "contact", 3, None, True])
def test_non_object_contact_is_skipped(mappings, record):
    out = mappings.map_contact(record, _ref(7))
    assert isinstance(out, Skip) and "not a JSON object" in out.reason


def test_map_account(mappings):
    derived = DerivedAccount("acme.co.uk", {"domain": "acme.co.uk", "name": "  Acme " + "x" * 200, "website": "https://acme.co.uk"})
    out = mappings.map_account(derived)
    assert isinstance(out, MappedAccount)
    assert out.domain == "acme.co.uk"
    assert out.columns == {"name": ("Acme " + "x" * 200)[:160], "websiteurl": "https://acme.co.uk"}


def test_map_account_name_falls_back_to_domain(mappings):
    out = mappings.map_account(DerivedAccount("acme.example", {"domain": "acme.example"}))
    assert out.columns == {"name": "acme.example"}


def test_map_account_wrong_type_raises_record_error(mappings):
    with pytest.raises(RecordError) as err:
        mappings.map_account(DerivedAccount("acme.example", {"domain": "acme.example", "name": 5}))
    assert str(err.value).startswith("account acme.example: $.columns.name: strip expects a string, got number 5 (mapping mappings/account.yaml:")


def test_contact_record_not_mutated(mappings, contacts):
    import copy

    before = copy.deepcopy(contacts)
    for i, c in enumerate(contacts):
        mappings.map_contact(c, _ref(i))
    assert contacts == before
