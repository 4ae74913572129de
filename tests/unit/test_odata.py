"""OData text helpers: the places where apostrophes and plus-addressing break integrations."""

import json
import re

from hypothesis import given, settings
from hypothesis import strategies as st
from fuzz_profiles import examples

from mail2dataverse import odata


def unquote_literal(text: str) -> str:
    """Parse an OData string literal the way the service does."""
    assert text[0] == "'" and text[-1] == "'"
    inner = text[1:-1]
    # every quote inside must come doubled
    assert re.fullmatch(r"(?:[^']|'')*", inner), text
    return inner.replace("''", "'")


def test_literal_doubles_single_quotes():
    assert odata.literal("o'brien@x.com") == "'o''brien@x.com'"
    assert odata.literal("") == "''"


@settings(max_examples=examples(100))
@given(st.text())
def test_literal_round_trips_any_string(value):
    assert unquote_literal(odata.literal(value)) == value


def test_key_segment_rejects_plus_addressing_and_the_documented_characters():
    assert odata.key_segment_ok("o'brien@x.com")
    for bad in ["a+tag@x.com", "a/b", "a<b", "a>b", "a*b", "a%b", "a&b", "a:b", "a\\b", "a?b", "a#b"]:
        assert not odata.key_segment_ok(bad), bad


def test_key_path_quotes_the_value():
    assert odata.key_path("contacts", "emailaddress1", "o'brien@x.com") == "contacts(emailaddress1='o''brien@x.com')"


def test_in_filter_uses_json_quoted_values():
    text = odata.in_filter("emailaddress1", ["a@x.com", "o'brien@y.com", 'q"uote@z.com'])
    assert text == (
        "Microsoft.Dynamics.CRM.In(PropertyName='emailaddress1',"
        'PropertyValues=["a@x.com","o\'brien@y.com","q\\"uote@z.com"])'
    )


@settings(max_examples=examples(100))
@given(st.lists(st.text(), max_size=5))
def test_in_filter_values_round_trip_through_json(values):
    text = odata.in_filter("col", values)
    array = text[text.index("PropertyValues=") + len("PropertyValues=") : -1]
    assert json.loads(array) == values


def test_query_joins_select_filter_and_orderby():
    q = odata.query("opportunities", select=["opportunityid", "createdon"], filter="statecode eq 0", orderby="createdon desc")
    assert q == "opportunities?$select=opportunityid,createdon&$filter=statecode eq 0&$orderby=createdon desc"
