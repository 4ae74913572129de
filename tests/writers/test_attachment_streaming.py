"""Attachment bodies are streamed from their files into $batch, and batches are capped by bytes."""

from __future__ import annotations

import base64

from mail2dataverse.operations import Base64File, ChangeSet, Operation
from mail2dataverse.writers.batch import encode_batch
from mail2dataverse.writers.streamed import StreamedBody


def _attachment(tmp_path, name: str, data: bytes) -> Operation:
    path = tmp_path / name
    path.write_bytes(data)
    return Operation("POST", "activitymimeattachments",
                     {"objectid_email@odata.bind": "$1", "filename": name, "body": Base64File(str(path), len(data))})


def test_the_batch_body_streams_the_file_as_base64(tmp_path):
    data = bytes(range(256)) * 3000 + b"tail"  # not a multiple of the block size
    cs = ChangeSet([Operation("POST", "emails", {"subject": "s"}, content_id="1"), _attachment(tmp_path, "a.bin", data)])
    _ctype, body = encode_batch([cs], boundary="batch_x", changeset_boundaries=["changeset_y"])
    assert isinstance(body, StreamedBody)
    whole = body.getvalue()
    assert len(whole) == len(body)  # Content-Length is known before anything is read
    encoded = base64.b64encode(data)
    assert b'"body":"' + encoded + b'"' in whole
    assert b"$1" in whole and b"m2d-stream" not in whole
    assert body.getvalue() == whole  # a resend reads the file again, byte for byte


def test_a_subject_that_looks_like_a_placeholder_is_data(tmp_path):
    op = _attachment(tmp_path, "a.bin", b"abc")
    op.body["subject"] = "m2d-stream-0:0"
    _ctype, body = encode_batch([op])
    assert b'"subject":"m2d-stream-0:0"' in body.getvalue()


def test_change_sets_report_their_attachment_bytes(tmp_path):
    cs = ChangeSet([Operation("POST", "emails", {}, content_id="1"), _attachment(tmp_path, "a", b"x" * 4500)])
    assert cs.payload_bytes == 6000 and cs.operations[0].payload_bytes == 0
