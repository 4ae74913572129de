"""Whatever a record holds, map_* answers a mapped record or a Skip with a one-line reason."""

from __future__ import annotations

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from fuzz_profiles import examples

from mail2dataverse.errors import MAX_REASON_CHARS
from mail2dataverse.mapper import load_mappings
from mail2dataverse.model import MappedContact, MappedEmail, RecordRef, Skip

from mapper_fakes import FakePlugins

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True), st.text(max_size=12),
    st.sampled_from(["2025-03-04T09:05:09-05:00", "2025-03-04T14:05:09", "a@b.example", "<id@x>", "SENT", "",
                     "\n", "a\r\nb", "\u2028", "x" * 5000, "0001-01-01T00:00:00Z"]),
)
json_values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.dictionaries(st.sampled_from(["name", "email", "value", "number", "x"]), inner, max_size=3),
    ),
    max_leaves=10,
)
MESSAGE_KEYS = ["id", "grant_id", "subject", "from", "to", "cc", "bcc", "body", "snippet", "date", "folders", "headers"]
CONTACT_KEYS = ["id", "given_name", "surname", "nickname", "emails", "phone_numbers", "job_title", "middle_name"]

MAPPINGS = load_mappings(plugins=FakePlugins())


@settings(max_examples=examples(300), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(record=st.one_of(json_values, st.dictionaries(st.sampled_from(MESSAGE_KEYS), json_values)))
# issue 15: a fresh clone's `make test` drew this one; the reason quoted the raw newline
@example(record={"headers": "\n"})
@example(record={"folders": "a\nb", "id": "m", "grant_id": "g", "date": "2025-03-04T09:05:09-05:00"})
@example(record={"headers": "h" * 1_000_000})
def test_any_message_maps_or_skips(record):
    out = MAPPINGS.map_message(record, RecordRef("fuzz.json", 0))
    assert isinstance(out, (MappedEmail, Skip))
    if isinstance(out, Skip):
        assert out.reason and out.reason.isprintable() and len(out.reason) <= MAX_REASON_CHARS
    else:
        assert all(v is not None and v != "" for v in out.columns.values())


@settings(max_examples=examples(300), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(record=st.one_of(json_values, st.dictionaries(st.sampled_from(CONTACT_KEYS), json_values)))
@example(record={"given_name": ["\n" * 1000], "emails": [{"email": "a@b.example"}]})
def test_any_contact_maps_or_skips(record):
    out = MAPPINGS.map_contact(record, RecordRef("fuzz.json", 0))
    assert isinstance(out, (MappedContact, Skip))
    if isinstance(out, Skip):
        assert out.reason and out.reason.isprintable() and len(out.reason) <= MAX_REASON_CHARS
    else:
        assert out.emails and all(isinstance(e, str) and e for e in out.emails)
