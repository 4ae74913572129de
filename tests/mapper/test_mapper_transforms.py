"""Every built-in transform, its argument checks, and plugin transforms."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from mail2dataverse.errors import PluginError
from mail2dataverse.mapper.transforms import (
    TransformArgumentError,
    builtin_transform_docs,
    parse_instant,
    transform_registry,
)

from mapper_fakes import FakePlugins


@pytest.fixture(scope="module")
def registry():
    return transform_registry(FakePlugins())


def t(registry, name, *args):
    return registry[name].instantiate(args)


def test_every_builtin_is_tested_here():
    tested = {
        "lower", "upper", "strip", "truncate", "default", "utc_iso", "utc_datetime", "split_name", "domain",
        "local_part", "registrable_domain", "join", "first_non_empty", "html_to_text", "item", "compact", "unique",
        "format",
    }
    assert {spec.name for spec in builtin_transform_docs()} == tested


@pytest.mark.parametrize(
    ("name", "args", "value", "expected"),
    [
        ("lower", (), "ZoË@X.Example", "zoë@x.example"),
        ("lower", (), ["A", None, "B"], ["a", None, "b"]),
        ("lower", (), None, None),
        ("upper", (), "abc", "ABC"),
        ("strip", (), "  a b \n", "a b"),
        ("strip", (), [" a ", ""], ["a", ""]),
        ("truncate", (3,), "abcdef", "abc"),
        ("truncate", (10,), "abc", "abc"),
        ("truncate", (2,), ["abc", "d"], ["ab", "d"]),
        # UTF-16 code units, as the service counts MaxLength: an emoji is 2, never cut in half
        ("truncate", (5,), "ab😀😀", "ab😀"),
        ("truncate", (4,), "ab😀c", "ab😀"),
        ("truncate", (3,), "ab😀", "ab"),
        ("truncate", (4,), "ab😀", "ab😀"),
        ("truncate", (2,), "ééé", "éé"),
        ("default", ("(unknown)",), None, "(unknown)"),
        ("default", ("(unknown)",), "", "(unknown)"),
        ("default", ("(unknown)",), [], "(unknown)"),
        ("default", ("(unknown)",), "x", "x"),
        ("default", (0,), False, False),  # false is a value, not "missing"
        ("split_name", ("first",), "Zoë Ångström", "Zoë"),
        ("split_name", ("last",), "Zoë Ångström", "Ångström"),
        ("split_name", ("last",), "Ludwig van Beethoven", "van Beethoven"),
        ("split_name", ("first",), "O'Brien, Siobhán", "Siobhán"),
        ("split_name", ("last",), "O'Brien, Siobhán", "O'Brien"),
        ("split_name", ("first",), "Madonna", None),
        ("split_name", ("last",), "Madonna", "Madonna"),
        ("split_name", ("last",), "   ", None),
        ("domain", (), "o'brien@Harbor-Logistics.example", "harbor-logistics.example"),
        ("domain", (), "no-at", None),
        ("local_part", (), "priya+pilot@x.example", "priya+pilot"),
        ("local_part", (), "@x.example", None),
        ("registrable_domain", (), "priya@mail.bluefin-robotics.co.uk", "bluefin-robotics.co.uk"),
        ("registrable_domain", (), "Mail.Acme.example", "acme.example"),
        ("join", (", ",), ["a", None, "", "b", 3], "a, b, 3"),
        ("join", (), ["a", "b"], "a b"),
        ("join", (", ",), None, None),
        ("first_non_empty", (), [None, "", "  ", "x", "y"], "x"),
        ("first_non_empty", (), [None, []], None),
        ("first_non_empty", (), "solo", "solo"),
        ("html_to_text", (), "<div>Hi&nbsp;Dana,<br>40 seats &amp; SLA</div><style>p{}</style>", "Hi Dana,\n40 seats & SLA"),
        ("html_to_text", (), "<p>a</p>\n\n\n<p>b</p>", "a\n\nb"),
        ("item", (0,), ["a", "b"], "a"),
        ("item", (-1,), ["a", "b"], "b"),
        ("item", (2,), ["a", "b"], None),
        ("item", (0,), None, None),
        ("compact", (), [None, "", "a", [], {}, 0, False], ["a", 0, False]),
        ("unique", (), ["a", "b", "a", {"x": 1}, {"x": 1}], ["a", "b", {"x": 1}]),
        ("format", ("https://{}",), "acme.example", "https://acme.example"),
        ("format", ("{1} <{0}>",), ["a@x", "A"], "A <a@x>"),
        ("format", ("https://{}",), None, None),
    ],
)
def test_transform(registry, name, args, value, expected):
    assert t(registry, name, *args)(value) == expected


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("lower", 5, "lower expects a string, got number 5"),
        ("strip", {"a": 1}, "strip expects a string, got object {'a': 1}"),
        ("strip", ["a", 1], "strip expects strings, got number 1 in the array"),
        ("join", "ab", "join expects an array, got string 'ab'"),
        ("join", [["a"]], "join expects an array of strings, got array ['a'] in it"),
        ("item", "ab", "item expects an array, got string 'ab'"),
        ("compact", 1, "compact expects an array, got number 1"),
        ("unique", "x", "unique expects an array, got string 'x'"),
    ],
)
def test_wrong_value_types_raise_value_error(registry, name, value, message):
    args = {"item": (0,), "join": (", ",)}.get(name, ())
    with pytest.raises(ValueError, match="^" + message.replace("[", r"\[").replace("{", r"\{") + "$"):
        t(registry, name, *args)(value)


@pytest.mark.parametrize(
    ("name", "args", "message"),
    [
        ("truncate", (), "transform truncate(n) cannot take no arguments"),
        ("truncate", (0,), "transform truncate expects an integer >= 1, got 0"),
        ("truncate", ("10",), "transform truncate expects an integer >= 1, got '10'"),
        ("truncate", (True,), "transform truncate expects an integer >= 1, got True"),
        ("truncate", (1, 2), "transform truncate(n) cannot take 1, 2"),
        ("lower", (1,), "transform lower cannot take 1"),
        ("split_name", ("middle",), "transform split_name expects 'first' or 'last', got 'middle'"),
        ("join", (1,), "transform join expects the separator to be a string, got 1"),
        ("item", (1.5,), "transform item expects an integer, got 1.5"),
        ("format", ("{0.__class__}",), "transform format expects a template with {} or {0}, {1} placeholders, got '{0.__class__}'"),
        ("format", ("no placeholder",), "transform format expects a template with {} or {0}, {1} placeholders, got 'no placeholder'"),
    ],
)
def test_bad_arguments_fail_at_load_time(registry, name, args, message):
    with pytest.raises(TransformArgumentError) as err:
        t(registry, name, *args)
    assert str(err.value) == message


# -- dates ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        "2025-03-04T14:05:09Z",
        "2025-03-04T09:05:09-05:00",
        "2025-03-04T19:35:09+05:30",
        "2025-03-04T15:05:09+01:00",
        "2025-03-04t14:05:09z",  # RFC 3339 allows lower-case t and z
        " 2025-03-04T14:05:09Z ",
        1741097109,
        1741097109.0,
        "1741097109",
        datetime(2025, 3, 4, 9, 5, 9, tzinfo=timezone(timedelta(hours=-5))),
    ],
)
def test_utc_iso_and_utc_datetime(registry, value):
    assert t(registry, "utc_iso")(value) == "2025-03-04T14:05:09Z"
    assert t(registry, "utc_datetime")(value) == datetime(2025, 3, 4, 14, 5, 9, tzinfo=UTC)


def test_fractional_seconds_are_dropped(registry):
    assert t(registry, "utc_iso")("2025-03-04T14:05:09.987+00:00") == "2025-03-04T14:05:09Z"


def test_date_crossing_midnight(registry):
    assert t(registry, "utc_iso")("2025-03-04T23:30:00-05:00") == "2025-03-05T04:30:00Z"


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("2025-03-04T14:05:09", "has no UTC offset"),
        ("2025-03-04", "has no UTC offset"),
        ("yesterday", "not an RFC 3339 date-time: 'yesterday'"),
        ("", "not an RFC 3339 date-time: ''"),
        (True, "expected an RFC 3339 date-time or Unix seconds, got boolean True"),
        ([1], "expected an RFC 3339 date-time or Unix seconds, got array [1]"),
        (10**20, "Unix timestamp out of range"),
        (datetime(2025, 3, 4), "has no UTC offset"),
    ],
)
def test_invalid_dates(value, message):
    with pytest.raises(ValueError, match=message.replace("[", r"\[")):
        parse_instant(value)


def test_none_dates_pass_through(registry):
    assert t(registry, "utc_iso")(None) is None
    assert t(registry, "utc_datetime")(None) is None


# -- plugin transforms ------------------------------------------------------------------------


def test_plugin_transform_arguments_checked_against_its_signature():
    def initials(value, sep="."):
        """Initials of a name."""
        return None if value is None else sep.join(w[0] for w in value.split()) + sep

    reg = transform_registry(FakePlugins(extra_transforms={"initials": initials}))
    assert reg["initials"].instantiate(())("Zoë Ångström") == "Z.Å."
    assert reg["initials"].instantiate(("",))("Zoë Ångström") == "ZÅ"
    with pytest.raises(TransformArgumentError, match="transform initials: too many positional arguments"):
        reg["initials"].instantiate(("a", "b"))
    assert reg["initials"].doc == "Initials of a name."
    assert not reg["initials"].builtin


def test_plugin_cannot_shadow_a_builtin():
    with pytest.raises(PluginError, match="a plugin registers transform 'lower', which is built in"):
        transform_registry(FakePlugins(extra_transforms={"lower": str.lower}))
