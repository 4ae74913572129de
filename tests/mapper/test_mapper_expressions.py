"""JMESPath in mappings: compiled closures agree with the interpreter; engine functions; strictness."""

from __future__ import annotations

import jmespath
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from fuzz_profiles import examples

from mail2dataverse.config import RunConfig
from mail2dataverse.mapper.functions import (
    ExpressionTypeError,
    build_function_table,
    compile_expression,
    engine_functions,
    function_calls,
    make_interpreter,
)

from mapper_fakes import FakePlugins

EXPRESSIONS = [
    "a",
    "a.b",
    "a.b.c",
    "a[0]",
    "a[0].b",
    "a[-1]",
    "a[]",
    "a[].b",
    "a[*].b",
    "a || b",
    "a && b",
    "!a",
    "[a, b]",
    "{x: a, y: b}",
    "a | [0]",
    "length(a || `[]`)",
    "a[?b == `1`].c",
    "a[1:2]",
    "*.b",
    "`null` || a",
    "lower(b || '')",
    "header(a, 'Message-ID')",
    "is_owner(b)",
    "a[0].b || nylas_message_id(b, c)",
    "sort_by(a || `[]`, &to_string(@))",
    "@",
]

json_scalars = st.one_of(st.none(), st.booleans(), st.integers(-3, 3), st.sampled_from(["", "x", "Dana@Acme.Example", "1"]))
json_values = st.recursive(
    json_scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.dictionaries(st.sampled_from(["a", "b", "c", "name", "value"]), inner, max_size=3),
    ),
    max_leaves=8,
)
records = st.dictionaries(st.sampled_from(["a", "b", "c"]), json_values, max_size=3)


@pytest.fixture(scope="module")
def interp():
    plugins = FakePlugins(RunConfig(owner_addresses=("dana@acme.example",)))
    return make_interpreter(build_function_table(engine_functions(plugins)))


def _outcome(fn, record):
    try:
        return ("ok", fn(record))
    except Exception as exc:  # noqa: BLE001 - compare failures by type
        return ("error", type(exc).__name__)


@settings(max_examples=examples(150), deadline=None)
@given(record=records)
def test_closures_match_the_strict_interpreter(interp, record):
    for text in EXPRESSIONS:
        parsed = jmespath.compile(text).parsed
        closure = compile_expression(parsed, interp)
        assert _outcome(closure, record) == _outcome(lambda r: interp.visit(parsed, r), record), text


well_typed = st.fixed_dictionaries(
    {},
    optional={
        "a": st.lists(st.fixed_dictionaries({}, optional={"b": json_scalars, "c": json_scalars}), max_size=3),
        "b": st.one_of(st.none(), st.text(max_size=3)),
        "c": st.one_of(st.none(), st.text(max_size=3)),
    },
)


@settings(max_examples=examples(150), deadline=None)
@given(record=well_typed)
def test_on_well_typed_records_results_equal_plain_jmespath(interp, record):
    options = jmespath.Options(custom_functions=interp._functions)  # noqa: SLF001
    for text in ["a[0].b", "a[].b", "a[*].c", "b || c", "[b, c]", "length(a || `[]`)", "lower(b || '')"]:
        expected = jmespath.search(text, record, options=options)
        assert compile_expression(jmespath.compile(text).parsed, interp)(record) == expected


@pytest.mark.parametrize(
    ("text", "record", "message"),
    [
        ("to[0].email", {"to": 5}, "to: expected an array, got number 5"),
        ("to[].email", {"to": "x"}, "to: expected an array, got string 'x'"),
        ("to.email", {"to": [1]}, "cannot read 'email' of array [1] (expected an object)"),
        ("a.b", {"a": "s"}, "cannot read 'b' of string 's' (expected an object)"),
        ("a[?b]", {"a": {"b": 1}}, "expected an array, got object {'b': 1}"),
    ],
)
def test_wrong_types_raise_instead_of_null(interp, text, record, message):
    fn = compile_expression(jmespath.compile(text).parsed, interp)
    with pytest.raises(ExpressionTypeError) as err:
        fn(record)
    assert str(err.value) == message


@pytest.mark.parametrize("text", ["to[0].email", "to[].email", "a.b.c", "a[?b]", "x[0]"])
def test_missing_and_null_still_give_null(interp, text):
    fn = compile_expression(jmespath.compile(text).parsed, interp)
    assert fn({}) is None
    assert fn({"to": None, "a": None}) is None


def _call(interp, text, record):
    return compile_expression(jmespath.compile(text).parsed, interp)(record)


def test_engine_functions(interp):
    headers = [{"name": "Received", "value": "x"}, {"name": "MESSAGE-ID", "value": "<a@b>"}]
    assert _call(interp, "header(h, 'message-id')", {"h": headers}) == "<a@b>"
    assert _call(interp, "header(h, 'In-Reply-To')", {"h": headers}) is None
    assert _call(interp, "header(h, 'x')", {}) is None
    assert _call(interp, "is_owner(a)", {"a": " Dana@ACME.example "}) is True
    assert _call(interp, "is_owner(a)", {"a": None}) is False
    assert _call(interp, "in_sent_folder(f)", {"f": ["INBOX", "sent items"]}) is True
    assert _call(interp, "in_sent_folder(f)", {"f": ["INBOX"]}) is False
    assert _call(interp, "in_sent_folder(f)", {}) is False
    assert _call(interp, "local_part(a)", {"a": "priya+pilot@x.example"}) == "priya+pilot"
    assert _call(interp, "domain(a)", {"a": "x@Mail.Example"}) == "mail.example"
    assert _call(interp, "is_freemail(a)", {"a": "m@gmail.com"}) is True
    assert _call(interp, "is_freemail(a)", {"a": "acme.example"}) is False
    assert _call(interp, "lower(a)", {"a": "ÅB"}) == "åb"
    assert _call(interp, "upper(a)", {"a": "ab"}) == "AB"
    assert _call(interp, "trim(a)", {"a": " ab "}) == "ab"
    assert _call(interp, "nylas_message_id(g, i)", {"g": "G", "i": "I"}) == "<nylas.G.I@mail2dataverse.invalid>"


def test_function_type_errors_keep_jmespath_messages(interp):
    with pytest.raises(jmespath.exceptions.JMESPathTypeError, match=r"In function lower\(\), invalid type for value: 5"):
        _call(interp, "lower(a)", {"a": 5})


def test_plugin_functions_and_builtins_share_one_table():
    plugins = FakePlugins()
    functions = dict(engine_functions(plugins), shout=(lambda s: s.upper() + "!", [["string"]]))
    interp = make_interpreter(build_function_table(functions))
    assert _call(interp, "shout(a)", {"a": "hi"}) == "HI!"
    assert _call(interp, "length(a)", {"a": "hi"}) == 2  # JMESPath built-ins still work


def test_function_calls_walks_the_whole_tree():
    parsed = jmespath.compile("a || lowr(b[?upper(c) == 'X'] | [0].d, `1`)").parsed
    assert sorted(function_calls(parsed)) == [("lowr", 2), ("upper", 1)]
