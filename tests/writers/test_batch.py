"""$batch encoding/decoding against Microsoft's documented examples, and path encoding."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import unquote

import pytest
from requests.utils import requote_uri

from mail2dataverse.operations import ChangeSet, Operation
from mail2dataverse.writers.batch import (
    RawPart,
    boundary_of,
    content_ids,
    decode_batch_response,
    encode_batch,
    entity_id_from_headers,
    map_batch_results,
    quote_path,
    request_target,
)

FIXTURES = Path(__file__).parent / "fixtures"
ACCOUNT = "accounts(00000000-0000-0000-0000-000000000001)"


def _http(name: str, *, crlf: bool) -> tuple[str, bytes]:
    """(header block, body bytes) of a fixture; LF as stored, or every LF turned into CRLF."""
    text = (FIXTURES / name).read_text(encoding="utf-8")
    head, body = text.split("\n\n", 1)
    if crlf:
        body = body.replace("\n", "\r\n")
    return head, body.encode("utf-8")


def _content_type(head: str) -> str | None:
    for line in head.splitlines():
        name, _, value = line.partition(":")
        if name.strip().lower() == "content-type":
            return value.strip()
    return None


def _tasks() -> list[Operation]:
    return [
        Operation("POST", "tasks", {"subject": f"Task {n} in batch", "regardingobjectid_account_task@odata.bind": ACCOUNT})
        for n in (1, 2, 3)
    ]


def _ms_dumps(body):
    # The .NET sample library indents JSON with two spaces; Windows newlines on the wire.
    return json.dumps(body, indent=2).replace("\n", "\r\n")


# --------------------------------------------------------------------------------- encoding


def test_encode_reproduces_microsoft_batch_without_change_sets_byte_for_byte():
    head, expected = _http("01-no-changeset.request.http", crlf=True)
    items = [*_tasks(), Operation("GET", f"{ACCOUNT}/Account_Tasks?$select=subject")]
    content_type, body = encode_batch(
        items, boundary="batch_80dd1615-2a10-428a-bb6f-0e559792721f", json_dumps=_ms_dumps
    )
    assert content_type == _content_type(head)
    # The page ends its code block with one extra empty line after the close delimiter.
    assert body == expected.rstrip(b"\r\n") + b"\r\n"


def test_encode_reproduces_microsoft_change_set_example_byte_for_byte():
    head, expected = _http("02-changeset.request.http", crlf=True)
    items = [ChangeSet(_tasks()), Operation("GET", f"{ACCOUNT}/Account_Tasks?$select=subject")]
    content_type, body = encode_batch(
        items,
        boundary="batch_22975cad-7f57-410d-be15-6363209367ea",
        changeset_boundaries=["changeset_246e6bfe-89a4-4c77-b293-7a433f082e8a"],
        json_dumps=_ms_dumps,
    )
    assert content_type == _content_type(head)
    assert body == expected.rstrip(b"\r\n") + b"\r\n"


def test_every_line_ends_in_crlf_and_boundaries_are_fresh_uuids():
    ct1, body1 = encode_batch([ChangeSet(_tasks()), Operation("GET", "contacts")])
    ct2, _ = encode_batch([Operation("GET", "contacts")])
    assert b"\n" not in body1.replace(b"\r\n", b"")
    b1 = boundary_of(ct1)
    assert b1.startswith("batch_") and len(b1) == len("batch_") + 36 and b1 != boundary_of(ct2)
    assert body1.startswith(f"--{b1}\r\n".encode()) and body1.endswith(f"--{b1}--\r\n".encode())
    assert b'boundary="changeset_' in body1


def test_change_set_references_stay_bare_in_request_lines_like_microsofts_examples():
    # As in fixtures 04 (PUT $1/lastname) and 06 (PATCH $1 with "$2" in the body).
    assert "\nPUT $1/lastname HTTP/1.1\n" in (FIXTURES / "04-ref-url.request.http").read_text()
    assert "\nPATCH $1 HTTP/1.1\n" in (FIXTURES / "06-ref-navprop.request.http").read_text()
    cs = ChangeSet(
        [
            Operation("POST", "accounts", {"name": "Account name"}, content_id="1"),
            Operation("POST", "contacts", {"firstname": "Contact first name"}, content_id="2"),
            Operation("PATCH", "$1", {"primarycontactid@odata.bind": "$2"}, content_id="3"),
            Operation("PUT", "$2/lastname", {"value": "BBBBB"}),
        ]
    )
    _, body = encode_batch([cs])
    text = body.decode()
    assert "\r\nPATCH $1 HTTP/1.1\r\n" in text
    assert "\r\nPUT $2/lastname HTTP/1.1\r\n" in text
    assert '{"primarycontactid@odata.bind":"$2"}' in text
    assert [line for line in text.split("\r\n") if line.startswith("Content-ID")] == [
        "Content-ID: 1", "Content-ID: 2", "Content-ID: 3", "Content-ID: 4"
    ]


def test_content_ids_are_unique_across_the_batch_and_references_follow_them():
    # The planner numbers each change set from 1; OData wants ids unique in the whole batch.
    def email_cs(subject):
        return ChangeSet(
            [
                Operation("POST", "emails", {"subject": subject}, content_id="1"),
                Operation("PATCH", "$1", {"statecode": 1, "statuscode": 4, "x@odata.bind": "$1/x"}, content_id="2"),
            ]
        )

    items = [email_cs("a"), Operation("GET", "contacts"), email_cs("b")]
    assert content_ids(items) == [["1", "2"], None, ["3", "4"]]
    text = encode_batch(items)[1].decode()
    assert "Content-ID: 3\r\n\r\nPOST /api/data/v9.2/emails" in text
    assert "Content-ID: 4\r\n\r\nPATCH $3 HTTP/1.1" in text
    assert '"x@odata.bind":"$3/x"' in text
    assert "PATCH $1 HTTP/1.1" in text  # first change set keeps its own numbers
    # $10 is not a reference to $1
    cs = ChangeSet([Operation("POST", "a", {"v": "$10"}, content_id="1")])
    assert '{"v":"$10"}' in encode_batch([Operation("GET", "x"), cs])[1].decode()


def test_get_inside_a_change_set_is_refused():
    with pytest.raises(ValueError, match="GET is not allowed inside a change set"):
        encode_batch([ChangeSet([Operation("GET", "contacts")])])
    with pytest.raises(ValueError):
        encode_batch([ChangeSet([])])


def test_operation_headers_go_into_the_part_but_never_auth_or_content_type():
    op = Operation("PATCH", "contacts(1)", {"a": 1}, headers={"If-Match": "*", "Authorization": "Bearer x", "Content-Type": "text/plain"})
    text = encode_batch([op])[1].decode()
    assert "If-Match: *\r\n" in text
    assert "Authorization" not in text and "text/plain" not in text


def test_bodies_are_ascii_json():
    text = encode_batch([Operation("POST", "contacts", {"lastname": "Zoë O'Brien"})])[1]
    assert text.isascii()
    assert b'"Zo\\u00eb O\'Brien"' in text


# --------------------------------------------------------------------------- path encoding


@pytest.mark.parametrize(
    ("raw", "encoded"),
    [
        ("contacts", "contacts"),
        ("emails(6cd81853-7b75-e911-a97a-000d3a34a1bd)", "emails(6cd81853-7b75-e911-a97a-000d3a34a1bd)"),
        ("contacts/Microsoft.Dynamics.CRM.CreateMultiple", "contacts/Microsoft.Dynamics.CRM.CreateMultiple"),
        ("contacts(emailaddress1='o''brien@x.com')", "contacts(emailaddress1='o''brien@x.com')"),
        ("contacts?$filter=emailaddress1 eq 'a+tag@x.com'", "contacts?$filter=emailaddress1%20eq%20'a%2Btag@x.com'"),
        ("contacts?$filter=emailaddress1 eq 'r&d@x.com'&$top=1", "contacts?$filter=emailaddress1%20eq%20'r%26d@x.com'&$top=1"),
        ("contacts?$filter=emailaddress1 eq 'a#b@x.com'", "contacts?$filter=emailaddress1%20eq%20'a%23b@x.com'"),
        ("contacts?$filter=emailaddress1 eq 'o''b?r/n%@x.com'", "contacts?$filter=emailaddress1%20eq%20'o''b%3Fr%2Fn%25@x.com'"),
        ("contacts?$filter=lastname eq 'Zoë'", "contacts?$filter=lastname%20eq%20'Zo%C3%AB'"),
        (
            "contacts?$select=contactid,emailaddress1&$filter=Microsoft.Dynamics.CRM.In(PropertyName='emailaddress1',"
            'PropertyValues=["a+b@x.com","o\'brien&co@x.com"])',
            "contacts?$select=contactid,emailaddress1&$filter=Microsoft.Dynamics.CRM.In(PropertyName='emailaddress1',"
            "PropertyValues=[%22a%2Bb@x.com%22,%22o'brien%26co@x.com%22])",
        ),
        ('x?$filter=In(PropertyValues=["say \\"hi\\" & go"])', "x?$filter=In(PropertyValues=[%22say%20%5C%22hi%5C%22%20%26%20go%22])"),
        ("sdkmessagefilters?$filter=sdkmessageid/name eq @m&@m='CreateMultiple'", "sdkmessagefilters?$filter=sdkmessageid/name%20eq%20@m&@m='CreateMultiple'"),
        ("https://org.crm.dynamics.com/api/data/v9.2/contacts?$skiptoken=%3Ccookie", "https://org.crm.dynamics.com/api/data/v9.2/contacts?$skiptoken=%3Ccookie"),
        # a literal never closed runs to the end; only the first '?' outside literals is the query
        ("contacts?$filter=lastname eq 'O''Br/en", "contacts?$filter=lastname%20eq%20'O''Br%2Fen"),
        ('x?$filter=In(PropertyValues=["a&b", "c?d', "x?$filter=In(PropertyValues=[%22a%26b%22,%20%22c%3Fd"),
        ("a&b?c?d&e", "a%26b?c%3Fd&e"),
        ("x?$filter=name eq 'a\x00b'&$top=1", "x?$filter=name%20eq%20'a%00b'&$top=1"),
        # an escaped backslash ends a JSON string's escapes: the next '"' closes it, a third opens one
        ('x?a=\'it\'\'s\'\'\'&b="q\\\\""&c=[1]', "x?a='it''s'''&b=%22q%5C%5C%22%22%26c=%5B1%5D"),
    ],
)
def test_quote_path(raw, encoded):
    assert quote_path(raw) == encoded


@pytest.mark.parametrize(
    "raw",
    [
        "contacts?$filter=emailaddress1 eq 'a+b@x.com'",
        "contacts?$filter=Microsoft.Dynamics.CRM.In(PropertyName='emailaddress1',PropertyValues=[\"ü+1@x.com\",\"o'b&c#d@x.com\"])",
        "contacts(emailaddress1='o''brien@x.com')",
    ],
)
def test_quoted_paths_decode_back_and_requests_leaves_them_alone(raw):
    encoded = quote_path(raw)
    assert requote_uri(encoded) == encoded  # requests sends exactly this
    assert "+" not in encoded and " " not in encoded
    # what the server sees after one decoding is the planner's text (query separators intact)
    assert unquote(encoded) == raw


def test_request_target():
    assert request_target("contacts") == "/api/data/v9.2/contacts"
    assert request_target("$1") == "$1"
    assert request_target("$12/lastname") == "$12/lastname"
    assert request_target("contacts?$top=1") == "/api/data/v9.2/contacts?$top=1"


# --------------------------------------------------------------------------------- decoding


@pytest.mark.parametrize("crlf", [False, True], ids=["lf", "crlf"])
def test_decode_microsoft_response_without_change_sets(crlf):
    _, body = _http("01-no-changeset.response.http", crlf=crlf)
    parts = decode_batch_response(None, body)  # the page shows no Content-Type: sniffed
    assert [p.status for p in parts] == [204, 204, 204, 200]
    assert [p.changeset for p in parts] == [None] * 4
    assert entity_id_from_headers(parts[0].headers) == "d31ba648-c592-ed11-aad1-000d3a993550"
    assert parts[0].headers["odata-entityid"].endswith("tasks(d31ba648-c592-ed11-aad1-000d3a993550)")
    assert parts[0].body is None
    assert [t["subject"] for t in parts[3].body["value"]] == ["Task 1 in batch", "Task 2 in batch", "Task 3 in batch"]
    assert parts[3].body["value"][0]["@odata.etag"] == 'W/"77180907"'


@pytest.mark.parametrize("crlf", [False, True], ids=["lf", "crlf"])
def test_decode_microsoft_change_set_response(crlf):
    _, body = _http("02-changeset.response.http", crlf=crlf)
    ct = "multipart/mixed; boundary=batchresponse_f27ef42d-51b0-4685-bac9-f468f844de2f"
    parts = decode_batch_response(ct, body)
    assert [(p.status, p.content_id, p.changeset) for p in parts] == [
        (204, "1", 0), (204, "2", 0), (204, "3", 0), (200, None, None)
    ]
    results = map_batch_results([ChangeSet(_tasks()), Operation("GET", "x")], parts)
    assert [r.entity_id for r in results[:3]] == [
        "e73ffc82-e292-ed11-aad1-000d3a9933c9", "e83ffc82-e292-ed11-aad1-000d3a9933c9", "e93ffc82-e292-ed11-aad1-000d3a9933c9"
    ]
    assert results[3].ok and len(results[3].body["value"]) == 3


@pytest.mark.parametrize("name", ["03-ref-body", "04-ref-url", "06-ref-navprop"])
@pytest.mark.parametrize("crlf", [False, True], ids=["lf", "crlf"])
def test_decode_microsoft_reference_responses(name, crlf):
    _, body = _http(f"{name}.response.http", crlf=crlf)
    parts = decode_batch_response(None, body)
    assert all(p.status == 204 and p.changeset == 0 for p in parts)
    assert [p.content_id for p in parts] == [str(n) for n in range(1, len(parts) + 1)]
    if name == "04-ref-url":  # "Location:[Organization URI]..." with no space after the colon
        assert entity_id_from_headers(parts[0].headers) == "f8ea5d2c-8c75-e911-a97a-000d3a34a1bd"
        assert entity_id_from_headers(parts[1].headers) is None


def test_decode_microsoft_error_responses():
    _, stop = _http("07-error-stop.response.http", crlf=True)
    parts = decode_batch_response(None, stop)
    assert len(parts) == 1 and parts[0].status == 400 and parts[0].reason == "Bad Request"
    assert parts[0].headers["REQ_ID"] == "5ecd1cb3-1730-4ffc-909c-d44c22270026"
    results = map_batch_results(_tasks(), parts, continue_on_error=False)
    assert results[0].status == 400 and results[0].error_code == "0x80044331"
    assert "exceeded the maximum allowed length of '200'" in results[0].error_message
    assert [r.status for r in results[1:]] == [0, 0]
    assert all(r.error_message.startswith("not executed: ") for r in results[1:])

    _, cont = _http("08-error-continue.response.http", crlf=False)
    results = map_batch_results(_tasks(), decode_batch_response(None, cont))
    assert [r.status for r in results] == [400, 204, 204]
    assert results[1].entity_id == "aed2ae8b-3c94-ed11-aad1-000d3a9933c9"


def _failed_changeset_response(crlf: bool) -> bytes:
    # Shape of issue MicrosoftDocs/powerapps-docs#2843: only the failing member is answered.
    text = (
        "--batchresponse_g1\n"
        "Content-Type: multipart/mixed; boundary=changesetresponse_g2\n"
        "\n"
        "--changesetresponse_g2\n"
        "Content-Type: application/http\n"
        "Content-Transfer-Encoding: binary\n"
        "Content-ID: 3\n"
        "\n"
        "HTTP/1.1 400 Bad Request\n"
        "REQ_ID: 1\n"
        "Content-Type: application/json; odata.metadata=minimal\n"
        "OData-Version: 4.0\n"
        "\n"
        '{"error":{"code":"0x80044331","message":"A validation error occurred.  too long"}}\n'
        "--changesetresponse_g2--\n"
        "--batchresponse_g1\n"
        "Content-Type: application/http\n"
        "Content-Transfer-Encoding: binary\n"
        "\n"
        "HTTP/1.1 204 No Content\n"
        "OData-Version: 4.0\n"
        "OData-EntityId: https://x/api/data/v9.2/tasks(aed2ae8b-3c94-ed11-aad1-000d3a9933c9)\n"
        "\n"
        "\n"
        "--batchresponse_g1--\n"
    )
    return (text.replace("\n", "\r\n") if crlf else text).encode()


@pytest.mark.parametrize("crlf", [False, True], ids=["lf", "crlf"])
def test_failed_change_set_maps_failing_member_and_rolls_back_the_others(crlf):
    cs = ChangeSet([Operation("POST", "contacts", {"n": i}, tag=i) for i in range(5)])
    after = Operation("POST", "tasks", {"subject": "x"}, tag="after")
    parts = decode_batch_response("multipart/mixed; boundary=batchresponse_g1", _failed_changeset_response(crlf))
    assert [(p.status, p.content_id, p.changeset) for p in parts] == [(400, "3", 0), (204, None, None)]
    results = map_batch_results([cs, after], parts)
    assert [r.operation.tag for r in results] == [0, 1, 2, 3, 4, "after"]
    assert [r.status for r in results] == [0, 0, 400, 0, 0, 204]
    assert [r.rolled_back for r in results] == [True, True, False, True, True, False]
    assert results[2].error_code == "0x80044331"
    assert "rolled back with its change set" in results[0].error_message
    assert results[5].entity_id == "aed2ae8b-3c94-ed11-aad1-000d3a9933c9"


def test_response_that_stops_early_marks_the_rest_not_executed():
    cs = ChangeSet([Operation("POST", "a"), Operation("POST", "b")])
    parts = [RawPart(status=204, content_id="1", changeset=0), RawPart(status=204, content_id="2", changeset=0)]
    results = map_batch_results([cs, Operation("POST", "c"), ChangeSet([Operation("POST", "d")])], parts)
    assert [r.status for r in results] == [204, 204, 0, 0]
    assert all(r.error_message.startswith("not executed:") for r in results[2:])


def test_decode_rejects_non_multipart():
    with pytest.raises(ValueError):
        decode_batch_response("application/json", b'{"error":{}}')
