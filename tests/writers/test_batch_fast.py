"""The fast ``$batch`` response path against the general parser, edge by edge.

:func:`fast_entries` may read a response only when it reads it exactly as :func:`decode_general`
does; everything else it must refuse. Each case below says which it does, and checks that the
parts (:func:`decode_batch_response`) and the mapped results (:func:`decode_and_map`) equal the
general parser's.
"""

from __future__ import annotations

import json

import pytest

from mail2dataverse.operations import ChangeSet, Operation
from mail2dataverse.writers.batch import decode_and_map, map_batch_results
from mail2dataverse.writers.batch_decode import decode_batch_response, decode_general, fast_entries

B = "batchresponse_0b6b"
CT = f"multipart/mixed; boundary={B}"
URL = "https://org.crm.dynamics.com/api/data/v9.2/emails({})"
GUIDS = [f"{n:08x}-4d64-5a02-8434-468d8e5f3d7c" for n in range(1, 9)]


def answer(status: str = "204 No Content", headers: list[str] | None = None, body: str = "") -> str:
    """One HTTP sub-response as the service writes it (CRLF, headers, blank line, body)."""
    lines = [f"HTTP/1.1 {status}", *(headers if headers is not None else ["OData-Version: 4.0"])]
    return "\r\n".join(lines) + "\r\n\r\n" + body


def created(guid: str) -> str:
    return answer(headers=["OData-Version: 4.0", f"Location: {URL.format(guid)}", f"OData-EntityId: {URL.format(guid)}"])


def part(content: str, content_id: str | None = None) -> str:
    cid = f"Content-ID: {content_id}\r\n" if content_id is not None else ""
    return f"Content-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n{cid}\r\n{content}"


def changeset(members: list[str], boundary: str = "changesetresponse_7c1") -> str:
    inner = "".join(f"--{boundary}\r\n{m}\r\n" for m in members) + f"--{boundary}--"
    return f"Content-Type: multipart/mixed; boundary={boundary}\r\n\r\n{inner}"


def response(parts: list[str], boundary: str = B) -> bytes:
    """A whole response in the emulator's (and the service's) layout."""
    return ("".join(f"--{boundary}\r\n{p}\r\n" for p in parts) + f"--{boundary}--\r\n").encode("utf-8")


def email_cs(n: int = 2) -> ChangeSet:
    return ChangeSet([Operation("POST", "emails", {"subject": "s"}, content_id="1"),
                      *[Operation("PATCH", "$1", {"statecode": 1}, content_id=str(k + 2)) for k in range(n - 1)]])


def _parts_view(parts):
    return [(p.status, p.reason, list(p.headers.items()), p.body, p.content_id, p.changeset) for p in parts]


def _results_view(results):
    return [(r.operation.method, r.operation.path, r.status, r.body, list(r.headers.items()), r.entity_id,
             r.error_code, r.error_message, r.rolled_back) for r in results]


def check(body: bytes, items: list, *, fast: bool, content_type: str | None = CT) -> list:
    """Assert the fast path takes (``fast``) or refuses the response, and that parts and results
    equal the general parser's; the results, for the case's own assertions."""
    assert (fast_entries(content_type, body) is not None) is fast
    general = decode_general(content_type, body)
    assert _parts_view(decode_batch_response(content_type, body)) == _parts_view(general)
    for continue_on_error in (True, False):
        expected = map_batch_results(items, general, continue_on_error=continue_on_error)
        got = decode_and_map(items, content_type, body, continue_on_error=continue_on_error)
        assert _results_view(got) == _results_view(expected)
    return decode_and_map(items, content_type, body)


# ------------------------------------------------------------------------- what it takes


def test_change_sets_and_plain_parts_in_the_services_layout():
    body = response([changeset([part(created(GUIDS[0]), "1"), part(created(GUIDS[0]), "2")]),
                     part(answer("200 OK", ["Content-Type: application/json; odata.metadata=minimal"], '{"value":[]}')),
                     changeset([part(created(GUIDS[1]), "3"), part(created(GUIDS[1]), "4")], "changesetresponse_8d2")])
    results = check(body, [email_cs(), Operation("GET", "contacts"), email_cs()], fast=True)
    assert [r.status for r in results] == [204, 204, 200, 204, 204]
    assert [r.entity_id for r in results] == [GUIDS[0], GUIDS[0], None, GUIDS[1], GUIDS[1]]
    assert results[2].body == {"value": []}
    assert results[0].headers == {"OData-Version": "4.0", "Location": URL.format(GUIDS[0]),
                                  "OData-EntityId": URL.format(GUIDS[0])}


def test_204_without_body_and_without_any_header():
    body = response([part(answer(headers=[])), part(created(GUIDS[2]))])
    results = check(body, [Operation("DELETE", "emails(x)"), Operation("PATCH", "emails(y)", {})], fast=True)
    assert results[0].body is None and results[0].headers == {} and results[1].entity_id == GUIDS[2]


@pytest.mark.parametrize("name", ["odata-entityid", "ODATA-ENTITYID", "OData-EntityID"])
def test_odata_entityid_in_any_case(name):
    body = response([part(answer(headers=[f"{name}: {URL.format(GUIDS[3].upper())}"]))])
    results = check(body, [Operation("PATCH", "emails(x)", {})], fast=True)
    assert results[0].entity_id == GUIDS[3] and results[0].headers == {name: URL.format(GUIDS[3].upper())}


def test_header_names_differing_only_in_case_keep_the_later_line():
    body = response([part(answer(headers=[f"Location: {URL.format(GUIDS[0])}", f"location: {URL.format(GUIDS[1])}"]))])
    results = check(body, [Operation("PATCH", "emails(x)", {})], fast=True)
    assert results[0].headers == {"location": URL.format(GUIDS[1])} and results[0].entity_id == GUIDS[1]


def test_content_id_absent_in_a_change_set_maps_by_position():
    body = response([changeset([part(created(GUIDS[0])), part(created(GUIDS[1]))])])
    results = check(body, [email_cs()], fast=True)
    assert [r.entity_id for r in results] == GUIDS[:2]


def test_content_id_in_the_inner_http_headers_of_a_plain_part():
    body = response([part(answer(headers=["Content-ID: 7", "OData-Version: 4.0"]))])
    parts = decode_batch_response(CT, body)
    assert parts[0].content_id == "7"
    check(body, [Operation("PATCH", "emails(x)", {})], fast=True)


def test_non_ascii_bodies_and_header_values():
    text = json.dumps({"value": [{"subject": "Zoë ✉ 😀"}]}, ensure_ascii=False)
    body = response([part(answer("200 OK", ["X-Note: café"], text)),
                     part(answer("400 Bad Request", ["Content-Type: text/plain"], "näh"))])
    results = check(body, [Operation("GET", "emails"), Operation("POST", "emails", {})], fast=True)
    assert results[0].body["value"][0]["subject"] == "Zoë ✉ 😀" and results[0].headers["X-Note"] == "café"
    assert results[1].status == 400 and results[1].error_message == "näh"


def test_boundary_text_inside_a_body_that_is_not_a_delimiter():
    # JSON cannot hold a raw line break, so the boundary is never at a line start: not a delimiter.
    inside = json.dumps({"subject": f"see --{B}\r\n", "x": f"--{B}--"})
    body = response([part(answer("200 OK", ["Content-Type: application/json"], inside))])
    assert fast_entries(CT, body) is None  # refused: the general parser decides what it is
    results = check(body, [Operation("GET", "emails")], fast=False)
    assert results[0].body == json.loads(inside)


def test_error_inside_a_change_set_goes_through_the_general_mapping():
    error = answer("400 Bad Request", ["Content-Type: application/json; odata.metadata=minimal"],
                   '{"error":{"code":"0x80044331","message":"too long"}}')
    body = response([changeset([part(error, "2")]), part(created(GUIDS[4]))])
    results = check(body, [email_cs(3), Operation("POST", "tasks", {})], fast=True)
    assert [r.status for r in results] == [0, 400, 0, 204]
    assert [r.rolled_back for r in results] == [True, False, True, False]
    assert results[1].error_code == "0x80044331" and "rolled back with its change set" in results[0].error_message


def test_change_set_members_out_of_order_or_missing_map_by_content_id():
    out_of_order = response([changeset([part(created(GUIDS[1]), "2"), part(created(GUIDS[0]), "1")])])
    assert [r.entity_id for r in check(out_of_order, [email_cs()], fast=True)] == [GUIDS[0], GUIDS[1]]
    missing = response([changeset([part(created(GUIDS[0]), "1")])])
    results = check(missing, [email_cs()], fast=True)
    assert results[1].status == 0 and results[1].error_message.startswith("not executed")


def test_fewer_answers_than_items_and_more_answers_than_items():
    body = response([part(created(GUIDS[0]))])
    results = check(body, [Operation("POST", "a", {}), email_cs()], fast=True)
    assert [r.status for r in results] == [204, 0, 0]
    extra = response([part(created(GUIDS[0])), part(created(GUIDS[1]))])
    assert len(check(extra, [Operation("POST", "a", {})], fast=True)) == 1


def test_a_change_set_answered_where_a_plain_operation_was_sent_and_the_reverse():
    body = response([changeset([part(created(GUIDS[0]), "1")]), part(created(GUIDS[1]))])
    check(body, [Operation("POST", "a", {}), email_cs()], fast=True)


def test_odd_status_lines():
    body = response([part(answer("204")), part(answer("200   OK  ")), part(answer("2040 x"))])
    check(body, [Operation("POST", "a", {})] * 3, fast=True)
    http10 = response([part("HTTP/1.0 204 No Content\r\n\r\n")])
    check(http10, [Operation("POST", "a", {})], fast=True)


# ------------------------------------------------------------------------- what it refuses


def test_lf_only_response_is_refused():
    body = response([changeset([part(created(GUIDS[0]), "1"), part(created(GUIDS[0]), "2")])]).replace(b"\r\n", b"\n")
    results = check(body, [email_cs()], fast=False)
    assert [r.entity_id for r in results] == [GUIDS[0], GUIDS[0]]


def test_one_bare_lf_anywhere_is_refused():
    body = response([part(answer("200 OK", ["Content-Type: text/plain"], "line one\nline two"))])
    assert check(body, [Operation("GET", "a")], fast=False)[0].body == "line one\nline two"


@pytest.mark.parametrize("cut", [40, 120, 200, -30, -12, -3])
def test_cut_off_responses_are_refused(cut):
    full = response([changeset([part(created(GUIDS[0]), "1"), part(created(GUIDS[0]), "2")]), part(created(GUIDS[1]))])
    body = full[:cut]
    assert fast_entries(CT, body) is None
    try:
        general = decode_general(CT, body)
    except ValueError:
        with pytest.raises(ValueError):
            decode_and_map([email_cs(), Operation("POST", "a", {})], CT, body)
        return
    check(body, [email_cs(), Operation("POST", "a", {})], fast=False)
    assert len(general) <= 3


def test_missing_crlf_after_the_close_delimiter_is_still_the_services_layout():
    body = response([part(created(GUIDS[0]))]).rstrip(b"\r\n")
    check(body, [Operation("POST", "a", {})], fast=True)


@pytest.mark.parametrize(
    "mangle",
    [
        lambda b: b"\r\n" + b,  # a preamble line
        lambda b: b.replace(f"--{B}\r\n".encode(), f"--{B}  \r\n".encode(), 1),  # transport padding
        lambda b: b.replace(f"\r\n--{B}".encode(), f"--{B}".encode(), 1),  # delimiter not at a line start
        lambda b: b + b"epilogue\r\n",  # epilogue after the close delimiter: taken (ignored by both)
        lambda b: b.replace(f"--{B}--".encode(), f"--{B}--x".encode()),  # not a close delimiter
    ],
    ids=["preamble", "padding", "no-crlf-before-delimiter", "epilogue", "close-with-junk"],
)
def test_delimiter_oddities(mangle):
    body = mangle(response([part(answer("200 OK", ["Content-Type: text/plain"], "x")), part(created(GUIDS[1]))]))
    check(body, [Operation("GET", "a"), Operation("POST", "b", {})], fast=body.endswith(b"epilogue\r\n"))


@pytest.mark.parametrize(
    "head",
    [
        'Content-Type: multipart/mixed; boundary="changesetresponse_q"',  # quoted
        "Content-Type: multipart/mixed; boundary=changesetresponse_q; x=1",  # parameters after it
        "content-type: multipart/mixed; boundary=changesetresponse_q",  # another case
        "Content-Type: multipart/mixed; boundary=changesetresponse_q\r\nContent-ID: 9",  # more MIME lines
    ],
)
def test_change_set_heads_written_another_way_are_refused(head):
    inner = f"--changesetresponse_q\r\n{part(created(GUIDS[0]), '1')}\r\n--changesetresponse_q--"
    body = response([f"{head}\r\n\r\n{inner}"])
    assert [r.entity_id for r in check(body, [ChangeSet([Operation("POST", "a", {})])], fast=False)] == [GUIDS[0]]


def test_empty_change_set_response_is_refused():
    body = response(["Content-Type: multipart/mixed; boundary=changesetresponse_e\r\n\r\n--changesetresponse_e--",
                     part(created(GUIDS[0]))])
    check(body, [email_cs(), Operation("POST", "a", {})], fast=False)


def test_no_content_type_boundary_is_sniffed_by_the_general_parser():
    body = response([part(created(GUIDS[0]))])
    check(body, [Operation("POST", "a", {})], fast=False, content_type=None)


def test_part_without_blank_line_or_status_line_is_refused_and_the_general_error_stands():
    no_blank = response(["Content-Type: application/http\r\nContent-Transfer-Encoding: binary"])
    not_http = response([part("garbage\r\n\r\n")])
    for body in (no_blank, not_http):
        assert fast_entries(CT, body) is None
        with pytest.raises(ValueError, match="does not start with an HTTP status line"):
            decode_general(CT, body)
        with pytest.raises(ValueError, match="does not start with an HTTP status line"):
            decode_and_map([Operation("POST", "a", {})], CT, body)


def test_boundary_at_a_line_start_inside_a_text_body_splits_there_for_both():
    text = f"before\r\n--{B}\r\nafter"
    body = response([part(answer("200 OK", ["Content-Type: text/plain"], text))])
    # A delimiter line is a delimiter wherever it stands (RFC 2046): both parsers cut there.
    with pytest.raises(ValueError):
        decode_general(CT, body)
    assert fast_entries(CT, body) is None  # the second piece has no HTTP head: general, which raises
    with pytest.raises(ValueError):
        decode_and_map([Operation("GET", "a")], CT, body)


# ------------------------------------------------------------------------- the encoder's shortcuts


@pytest.mark.parametrize(
    "body",
    [{"subject": "Zoë ✉ 😀", "n": 1.5, "nan": float("nan"), "big": 10**30, "t": True, "z": None,
      "parties": [{"partyid_contact@odata.bind": "/contacts(1)", "participationtypemask": 1}]},
     "just a string", [], {}],
)
def test_compact_json_is_json_dumps(body):
    from mail2dataverse.writers.batch import _compact_ascii_json

    assert _compact_ascii_json(str)(body) == json.dumps(body, ensure_ascii=True, separators=(",", ":"), default=str)


def test_compact_json_keeps_file_placeholders_and_refuses_other_objects():
    from mail2dataverse.operations import Base64File
    from mail2dataverse.writers.batch import _compact_ascii_json
    from mail2dataverse.writers.streamed import FilePlaceholders

    files = FilePlaceholders()
    text = _compact_ascii_json(files.json)({"body": Base64File("/nonexistent", 3)})
    assert text == json.dumps({"body": f"{files.token}:0"}, separators=(",", ":")) and len(files.files) == 1
    with pytest.raises(TypeError):
        _compact_ascii_json(files.json)({"x": object()})


@pytest.mark.parametrize(
    ("path", "expected"),
    [("$1", "$7"), ("$1/lastname", "$7/lastname"), ("$10", "$10"), ("$a/b", "$9/b"), ("$a", "$9"),
     ("$²", "$²"), ("contacts", "contacts")],
)
def test_renumbered_path_is_rewrite_ref(path, expected):
    from mail2dataverse.writers.batch import _renumbered_path, _rewrite_ref

    mapping = {"1": "7", "a": "9", "a/b": "8", "²": "5"}
    assert _renumbered_path(path, mapping) == expected == _rewrite_ref(path, mapping)


def test_request_lines_are_cached_per_method_path_and_root():
    from mail2dataverse.writers.batch import _request_line

    assert _request_line("post", "emails", "/api/data/v9.2/") == "POST /api/data/v9.2/emails HTTP/1.1\r\n"
    assert _request_line("post", "emails", "/x/") == "POST /x/emails HTTP/1.1\r\n"
    assert _request_line("PATCH", "$1", "/x/") == "PATCH $1 HTTP/1.1\r\n"
    long_path = "contacts?$filter=" + "a" * 600
    assert _request_line("GET", long_path, "/x/").startswith("GET /x/contacts?$filter=aaa")


@pytest.mark.parametrize(
    "value",
    [URL.format(GUIDS[0]), URL.format(GUIDS[0].upper()), URL.format(GUIDS[0]) + " ", f"x({GUIDS[0]})\n",
     f"(({GUIDS[0]}))", f"({GUIDS[0][:-1]}g)", f"{GUIDS[0]})", "contacts(emailaddress1='a@x.com')", ")", "",
     f"({GUIDS[0]}) (x)", f"emails({GUIDS[0]})x"],
)
def test_guid_at_end_is_the_regular_expressions_answer(value):
    from mail2dataverse.writers.batch import _GUID_AT_END, _guid_at_end

    m = _GUID_AT_END.search(value)
    assert _guid_at_end(value) == (m.group(1).lower() if m else None)
