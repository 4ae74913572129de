"""Whatever a record holds, map_* answers a mapped record or a Skip with a one-line reason."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mail2dataverse.mapper import load_mappings
from mail2dataverse.model import MappedContact, MappedEmail, RecordRef, Skip

from mapper_fakes import FakePlugins

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True), st.text(max_size=12),
    st.sampled_from(["2025-03-04T09:05:09-05:00", "2025-03-04T14:05:09", "a@b.example", "<id@x>", "SENT", ""]),
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


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(record=st.one_of(json_values, st.dictionaries(st.sampled_from(MESSAGE_KEYS), json_values)))
def test_any_message_maps_or_skips(record):
    out = MAPPINGS.map_message(record, RecordRef("fuzz.json", 0))
    assert isinstance(out, (MappedEmail, Skip))
    if isinstance(out, Skip):
        assert out.reason and "\n" not in out.reason
    else:
        assert all(v is not None and v != "" for v in out.columns.values())


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(record=st.one_of(json_values, st.dictionaries(st.sampled_from(CONTACT_KEYS), json_values)))
def test_any_contact_maps_or_skips(record):
    out = MAPPINGS.map_contact(record, RecordRef("fuzz.json", 0))
    assert isinstance(out, (MappedContact, Skip))
    if isinstance(out, Skip):
        assert out.reason and "\n" not in out.reason
    else:
        assert out.emails and all(isinstance(e, str) and e for e in out.emails)
