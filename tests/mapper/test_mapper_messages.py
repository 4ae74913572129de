"""map_message on the Nylas reference messages and on the shapes real exports contain."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fuzz_profiles import examples
from hypothesis import given, settings
from hypothesis import strategies as st

from mail2dataverse.mapper.functions import synthetic_message_id
from mail2dataverse.model import MappedEmail, Party, RecordRef, Skip

GRANT = "5a1e7c2d-3b4f-4e6a-9c8d-0f1e2d3c4b5a"


def _ref(i: int = 0, rid: str | None = None) -> RecordRef:
    return RecordRef("messages.json", i, rid)


def test_reference_message_1_columns_and_parties(mappings, messages):
    out = mappings.map_message(messages[0], _ref(0, messages[0]["id"]))
    assert isinstance(out, MappedEmail)
    ident = f"<nylas.{GRANT}.18f3a9c2b7d41e05@mail2dataverse.invalid>"
    assert out.identity == ident
    assert out.columns == {
        "subject": "Re: Q3 renewal – pricing for 40 seats",
        "description": messages[0]["body"],
        "actualstart": "2025-03-04T14:05:09Z",
        "actualend": "2025-03-04T14:05:09Z",
        "sortdate": "2025-03-04T14:05:09Z",
        "directioncode": False,
        "messageid": ident,
    }
    assert out.parties == [
        Party(1, "zoe.angstrom@northwind-traders.example", "Zoë Ångström"),
        Party(2, "dana@acme-widgets.example", "Dana Whitfield"),
        Party(3, "o'brien@harbor-logistics.example", "Siobhán O'Brien"),
        Party(3, "procurement@northwind-traders.example", None),
    ]
    assert out.outgoing is False
    assert out.date == datetime(2025, 3, 4, 14, 5, 9, tzinfo=UTC)
    assert out.mailbox == GRANT


def test_reference_message_2_is_outgoing_with_bcc(mappings, messages):
    out = mappings.map_message(messages[1], _ref(1))
    assert out.outgoing is True
    assert out.columns["directioncode"] is True
    assert [p.mask for p in out.parties] == [1, 2, 4]
    assert out.parties[2] == Party(4, "crm-archive@acme-widgets.example", "Acme CRM Archive")


def test_outgoing_by_sent_folder_without_owner(messages):
    from mail2dataverse.config import RunConfig
    from mail2dataverse.mapper import load_mappings

    from mapper_fakes import FakePlugins

    ms = load_mappings(plugins=FakePlugins(RunConfig()))
    assert ms.map_message(messages[1], _ref()).outgoing is True  # folders: [SENT]
    assert ms.map_message(messages[0], _ref()).outgoing is False


def test_outgoing_by_owner_address_case_insensitive(mappings, messages):
    m = copy.deepcopy(messages[2])
    m["folders"] = ["INBOX"]
    m["from"] = [{"email": "  Dana@ACME-widgets.example "}]
    assert mappings.map_message(m, _ref()).outgoing is True


def test_identity_from_message_id_header(mappings, messages, headers):
    m = dict(messages[0], headers=headers)
    out = mappings.map_message(m, _ref())
    assert out.identity == "<CAH7x2Lw9f3Q@mail.northwind-traders.example>"
    assert out.columns["messageid"] == out.identity


def test_identity_header_name_is_case_insensitive(mappings, messages):
    m = dict(messages[0], headers=[{"name": "message-id", "value": " <a.b@c> "}])
    assert mappings.map_message(m, _ref()).identity == "<a.b@c>"


def test_identity_fallback_when_headers_lack_message_id(mappings, messages):
    m = dict(messages[0], headers=[{"name": "In-Reply-To", "value": "<x@y>"}])
    assert mappings.map_message(m, _ref()).identity == f"<nylas.{GRANT}.18f3a9c2b7d41e05@mail2dataverse.invalid>"


def test_synthetic_identity_is_deterministic_and_bounded():
    long_id = "A" * 400
    a = synthetic_message_id("g", long_id)
    assert a == synthetic_message_id("g", long_id)
    assert len(a) <= 320 and a.startswith("<nylas.sha256.") and a.endswith("@mail2dataverse.invalid>")
    # Characters a Message-ID cannot hold (a space, '@', brackets) switch to the hashed form.
    assert synthetic_message_id("g", "a b@c").startswith("<nylas.sha256.")
    # Microsoft ids are base64-like: +, / and = are RFC 5322 atext and kept.
    assert synthetic_message_id("g", "AAMk+/=") == "<nylas.g.AAMk+/=@mail2dataverse.invalid>"
    assert synthetic_message_id("g", None) is None


def test_no_identity_at_all_is_skipped(mappings, messages):
    m = {k: v for k, v in messages[0].items() if k != "id"}
    out = mappings.map_message(m, _ref())
    assert out == Skip(_ref(), "no message identity (no Message-ID header and no Nylas message id)")


def test_missing_to_cc_bcc_and_null_from(mappings, messages):
    m = {k: v for k, v in messages[2].items() if k not in ("to", "cc", "bcc")}
    m["from"] = None
    out = mappings.map_message(m, _ref())
    assert isinstance(out, MappedEmail)
    assert out.parties == []
    assert out.outgoing is False


def test_empty_from_list_and_empty_addresses_are_skipped(mappings, messages):
    m = dict(messages[2], **{"from": []}, to=[{"name": "Nobody", "email": "  "}, {"name": "X"}, {"email": "A+Tag@X.Example"}])
    out = mappings.map_message(m, _ref())
    assert out.parties == [Party(2, "a+tag@x.example", None)]


def test_description_falls_back_to_snippet(mappings, messages):
    m = dict(messages[2], body="")
    assert mappings.map_message(m, _ref()).columns["description"] == messages[2]["snippet"]


def test_empty_subject_is_omitted_not_blanked(mappings, messages):
    m = dict(messages[2], subject="")
    assert "subject" not in mappings.map_message(m, _ref()).columns


def test_subject_truncated_to_800(mappings, messages):
    m = dict(messages[2], subject="x" * 900)
    assert len(mappings.map_message(m, _ref()).columns["subject"]) == 800


@pytest.mark.parametrize(
    ("date", "expected"),
    [
        ("2025-03-04T09:05:09-05:00", "2025-03-04T14:05:09Z"),
        ("2025-03-04T19:35:09+05:30", "2025-03-04T14:05:09Z"),
        ("2025-03-04T14:05:09Z", "2025-03-04T14:05:09Z"),
        (1741097109, "2025-03-04T14:05:09Z"),
    ],
)
def test_dates_with_offsets_and_unix_seconds(mappings, messages, date, expected):
    out = mappings.map_message(dict(messages[0], date=date), _ref())
    assert out.columns["actualstart"] == expected == out.columns["actualend"]
    assert out.date == datetime(2025, 3, 4, 14, 5, 9, tzinfo=UTC)


def test_naive_date_skips_with_a_located_reason(mappings, messages):
    out = mappings.map_message(dict(messages[0], date="2025-03-04T14:05:09"), _ref(4, "m5"))
    assert isinstance(out, Skip)
    assert out.reason.startswith("$.let.date: date-time '2025-03-04T14:05:09' has no UTC offset")
    lines = (Path(__file__).parents[2] / "mappings" / "email.yaml").read_text("utf-8").splitlines()
    entry = lines.index("  date:") + 2  # the entry's first key, on the line after `date:`
    assert out.reason.endswith(f"(mapping mappings/email.yaml:{entry}:5)")


def test_missing_date_leaves_columns_out(mappings, messages):
    m = {k: v for k, v in messages[0].items() if k != "date"}
    out = mappings.map_message(m, _ref())
    assert out.date is None and "actualstart" not in out.columns


@pytest.mark.parametrize(
    ("field", "value", "where", "why"),
    [
        ("to", 5, "$.parties[1]", "expected an array of participants, got number 5"),
        ("cc", ["x@y"], "$.parties[2]", "expected a participant object {name, email}, got string 'x@y'"),
        ("to", [{"email": 7}], "$.parties[1]", "participant email must be a string, got number 7"),
        ("from", "a@b", "$.let.outgoing", "from: expected an array, got string 'a@b'"),
        ("subject", 12, "$.columns.subject", "truncate expects a string, got number 12"),
        ("headers", "x", "$.let.identity", "header() expects array or null, got string 'x'"),
        ("date", True, "$.let.date", "expected an RFC 3339 date-time or Unix seconds, got boolean True"),
    ],
)
def test_wrong_types_become_located_skips(mappings, messages, field, value, where, why):
    out = mappings.map_message(dict(messages[0], **{field: value}), _ref(0, "m1"))
    assert isinstance(out, Skip)
    assert out.ref == _ref(0, "m1")
    assert out.reason.startswith(f"{where}: {why}")  # the record is out.ref, not repeated
    assert "(mapping mappings/email.yaml:" in out.reason
    assert "\n" not in out.reason


@pytest.mark.parametrize("record", [[], "text", 5, None])
def test_non_object_record_is_skipped(mappings, record):
    out = mappings.map_message(record, _ref(2))
    assert isinstance(out, Skip)
    assert "not a JSON object" in out.reason and "mappings/email.yaml" in out.reason


def test_regarding_context(mappings, plugins, messages):
    out = mappings.map_message(messages[0], _ref())
    contexts = [c for name, c in plugins.calls if name == "regarding_target"]
    assert len(contexts) == 1
    ctx = contexts[0]
    assert ctx["profile"] == "sales"
    assert ctx["owner_addresses"] == ("dana@acme-widgets.example",)
    # dana is the owner; harbor-logistics and northwind appear once each, in order.
    assert ctx["external_domains"] == ["northwind-traders.example", "harbor-logistics.example"]
    assert ctx["config"] is plugins.config
    assert out.regarding.value == "northwind-traders.example"


def test_regarding_skips_freemail_and_owners(mappings, plugins, messages):
    out = mappings.map_message(messages[2], _ref())  # gmail.com → dana (owner)
    assert out.regarding is None
    ctx = [c for name, c in plugins.calls if name == "regarding_target"][-1]
    assert ctx["external_domains"] == []


def test_non_ascii_and_apostrophe_names_survive(mappings, messages):
    out = mappings.map_message(messages[0], _ref())
    assert out.parties[0].name == "Zoë Ångström"
    assert out.parties[2].address == "o'brien@harbor-logistics.example"


def test_record_is_not_mutated(mappings, messages):
    before = copy.deepcopy(messages)
    for i, m in enumerate(messages):
        mappings.map_message(m, _ref(i))
    assert messages == before


def test_colleagues_on_the_owners_domain_are_not_external(mappings, plugins, messages):
    # message 2 of the reference: dana (owner) → marcus (gmail), bcc crm-archive@acme-widgets
    out = mappings.map_message(messages[1], _ref())
    ctx = [c for name, c in plugins.calls if name == "regarding_target"][-1]
    assert "acme-widgets.example" not in ctx["external_domains"]
    assert ctx["external_domains"] == []
    assert out.regarding is None


class _Address(str):
    """A source handing on its own string type (sys.intern refuses str subclasses)."""


def test_the_party_cache_gives_every_message_its_parties_and_its_warnings(mappings, messages):
    # The second message with the same participant entries is answered from the cache: the
    # same parties, and a refused address is still noted, on every message that has it.
    m = copy.deepcopy(messages[0])
    m["cc"] = [{"name": "Eve", "email": "eve@x.example\r\nBcc: all@x.example"}, {"email": "a@x.example, b@y.example"},
               {"name": "", "email": _Address("Ana@X.example")}, {"name": None, "email": "ana@x.example"}]
    first, second = (mappings.map_message(copy.deepcopy(m), _ref(i)) for i in range(2))
    assert first.parties == second.parties
    assert [p for p in first.parties if p.mask == 3] == [
        Party(3, "a@x.example", None), Party(3, "b@y.example", None), Party(3, "ana@x.example", None),
        Party(3, "ana@x.example", None)]
    assert first.warnings == second.warnings and len(first.warnings) == 1
    assert "control character" in first.warnings[0]


def test_a_cached_participant_of_the_wrong_type_still_fails(mappings, messages):
    good = dict(messages[0], cc=[{"name": "Ana", "email": "ana@x.example"}])
    assert isinstance(mappings.map_message(good, _ref(0)), MappedEmail)
    for bad, why in (({"name": 5, "email": "ana@x.example"}, "participant name must be a string"),
                     ({"name": "Ana", "email": ["ana@x.example"]}, "participant email must be a string"),
                     ("ana@x.example", "expected a participant object")):
        out = mappings.map_message(dict(messages[0], cc=[bad]), _ref(1))
        assert isinstance(out, Skip) and why in out.reason


@settings(max_examples=examples(200), deadline=None)
@given(grant=st.one_of(st.none(), st.text(alphabet="aZ09-._~!<> @é\n", max_size=12)),
       nylas_id=st.one_of(st.none(), st.text(alphabet="aZ09-._~!<> @é\n", max_size=12)))
def test_synthetic_ids_are_plain_exactly_when_both_parts_are_atext(grant, nylas_id):
    atext = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!#$%&'*+-/=?^_`{|}~.")
    out = synthetic_message_id(grant, nylas_id)
    if not nylas_id:
        assert out is None
    elif set(grant or "-") <= atext and set(nylas_id) <= atext:
        assert out == f"<nylas.{grant or '-'}.{nylas_id}@mail2dataverse.invalid>"
    else:
        assert out.startswith("<nylas.sha256.")
