"""JMESPath in mappings: compiled closures agree with the interpreter, the written-out source with the
closures; engine functions; strictness."""

from __future__ import annotations

import jmespath
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from fuzz_profiles import examples

from mail2dataverse.config import RunConfig
from mail2dataverse.mapper.closures import compile_expression
from mail2dataverse.mapper.evaluate import _Writer
from mail2dataverse.mapper.functions import (
    ExpressionTypeError,
    build_function_table,
    engine_functions,
    function_calls,
    make_interpreter,
)
from mail2dataverse.mapper.inline import write_expression, write_transforms
from mail2dataverse.mapper.transforms import transform_registry

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

json_scalars = st.one_of(st.none(), st.booleans(), st.integers(-3, 3), st.floats(-1, 1),
                         st.sampled_from(["", "x", "Dana@Acme.Example", "1"]))
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

# -- the same expressions written out as source (mapper.inline, in the generated evaluate) -----
# The generated evaluate function no longer calls the closure of every node; these hold the
# written-out form to the closure's values and to its exceptions, text included (a skipped
# record's reason quotes it).


def _outcome_text(fn, *args):
    try:
        return ("ok", fn(*args))
    except Exception as exc:  # noqa: BLE001 - compare failures by type and text
        return ("error", type(exc).__name__, str(exc))


WRITTEN_OUT = [
    "a", "a.b", "a.b.c", "a[0]", "a[0].b", "a[-1]", "a[-2].c", "a[3]", "a[0][1]", "a[0].b[0]",
    "a[]", "a[].b", "a[*].b", "a || b", "a && b", "a || b || c", "a && b || c", "!a", "!(a && b)",
    "!b.a", "[a, b]", "{x: a, y: b}", "a | [0]", "a | b", "@", "@.a", "a | @", "`5`", "'lit'",
    "`null` || a", "length(a || `[]`)", "length(@)", "a[?b == `1`].c", "a[1:2]", "*.b",
    "lower(b || '')", "lower(a)", "header(a, 'Message-ID')", "header(a, b)", "is_owner(b)",
    "is_owner(a[0].b)", "a[0].b || nylas_message_id(b, c)", "nylas_message_id(`1`, c)",
    "sort_by(a || `[]`, &to_string(@))", "max_by(a, &b)", "not_null(a, b)", "join(',', a)",
    "contains(a, 'x')", "to_string(a)", "abs(a)", "keys(a)", "in_sent_folder(a)", "is_freemail(b)",
    "upper(b)", "trim(c)", "local_part(a)", "domain(b)", "header(a.b, 'x')", "lower(a[0])",
]


def _written(lines_for, *params):
    """The function whose body ``lines_for(writer)`` writes, returning ``out``."""
    w = _Writer()
    w.line(0, f"def f({', '.join(params)}):")
    lines_for(w)
    w.line(1, "return out")
    namespace = dict(w.names)
    exec(compile("\n".join(w.lines) + "\n", "<test>", "exec"), namespace)  # noqa: S102 - our own source
    return namespace["f"]


@pytest.fixture(scope="module")
def pairs(interp):
    out = []
    for text in WRITTEN_OUT:
        parsed = jmespath.compile(text).parsed
        closure = compile_expression(parsed, interp)
        out.append((text, closure, _written(lambda w, p=parsed: write_expression(w, 1, "out", p, interp), "record")))
    return out


@settings(max_examples=examples(200), deadline=None)
@given(record=records)
def test_written_expressions_match_their_closures(pairs, record):
    for text, closure, written in pairs:
        assert _outcome_text(written, record) == _outcome_text(closure, record), text


def test_the_common_nodes_are_written_out_not_called(interp):
    parsed = jmespath.compile("is_owner(from[0].email) || in_sent_folder(folders)").parsed
    w = _Writer()
    write_expression(w, 0, "out", parsed, interp)
    source = "\n".join(w.lines)
    assert "record.get(" in source and not any(name.startswith("X_") for name in w.names), source


def test_an_index_deeper_than_the_source_allows_is_called_as_a_closure(interp):
    text = " || ".join(f"a[{i}]" for i in range(60))
    parsed = jmespath.compile(text).parsed
    written = _written(lambda w: write_expression(w, 1, "out", parsed, interp), "record")
    closure = compile_expression(parsed, interp)
    for record in ({"a": [None] * 59 + ["last"]}, {"a": 5}, {}):
        assert _outcome_text(written, record) == _outcome_text(closure, record)


TRANSFORMS = [("strip", ()), ("lower", ()), ("truncate", (3,)), ("truncate", (4,)), ("truncate", (1,)),
              ("utc_iso", ()), ("default", ("x",))]
VALUES = [None, "", "  Ab  ", "abcdef", "ab", "a😀b", "😀😀", "é" * 5, 5, True, ["  X ", None], ["a", 3], {"a": 1},
          "2025-03-04T09:05:09-05:00"]


@pytest.mark.parametrize(("name", "args"), TRANSFORMS)
def test_written_transforms_match_calling_them(name, args):
    transform = transform_registry(FakePlugins())[name].instantiate(args)
    written = _written(lambda w: (w.line(1, "out = value"), write_transforms(w, 1, "out", (transform,), "K")), "value")
    for value in VALUES:
        assert _outcome_text(written, value) == _outcome_text(transform, value), (name, args, value)
