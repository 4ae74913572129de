"""Test doubles for the Web API transport: a scripted requests adapter and a tiny $batch server.

No sockets: the adapter is mounted on the client's ``requests.Session`` and answers in-process.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import requests
from requests.adapters import BaseAdapter
from requests.structures import CaseInsensitiveDict

from mail2dataverse.writers.batch_decode import _parse_headers, _split_head, _split_multipart, boundary_of

ORG = "https://org.example.com"
ROOT = ORG + "/api/data/v9.2/"

Outcome = tuple[int, dict[str, str], bytes | str | dict | None] | BaseException


def response(request: requests.PreparedRequest, status: int, headers: dict[str, str] | None = None, body: Any = None) -> requests.Response:
    """A requests.Response as if it came off the wire."""
    resp = requests.Response()
    resp.status_code = status
    resp.reason = {200: "OK", 204: "No Content", 400: "Bad Request", 401: "Unauthorized", 429: "Too Many Requests", 503: "Service Unavailable"}.get(status, "")
    resp.headers = CaseInsensitiveDict(headers or {})
    if isinstance(body, (dict, list)):
        body = json.dumps(body)
        resp.headers.setdefault("Content-Type", "application/json; odata.metadata=minimal")
    resp._content = body.encode() if isinstance(body, str) else (body or b"")
    resp.url = request.url
    resp.request = request
    return resp


class ScriptedAdapter(BaseAdapter):
    """Answers each request with ``handler(request)``: a (status, headers, body) tuple or an exception to raise."""

    def __init__(self, handler: Callable[[requests.PreparedRequest], Outcome]):
        super().__init__()
        self.handler = handler
        self.requests: list[requests.PreparedRequest] = []
        self._lock = threading.Lock()

    def send(self, request, stream=False, timeout=None, verify=True, cert=None, proxies=None):
        with self._lock:
            self.requests.append(request)
        outcome = self.handler(request)
        if isinstance(outcome, BaseException):
            raise outcome
        status, headers, body = outcome
        return response(request, status, headers, body)

    def close(self):
        pass


def script(*outcomes: Outcome) -> Callable[[requests.PreparedRequest], Outcome]:
    """A handler returning ``outcomes`` in order (the last one repeats)."""
    items = list(outcomes)
    lock = threading.Lock()

    def handler(request):
        with lock:
            return items.pop(0) if len(items) > 1 else items[0]

    return handler


@dataclass
class PartRequest:
    """One request found in a $batch body."""

    method: str
    target: str
    headers: CaseInsensitiveDict
    body: Any
    content_id: str | None = None
    changeset: int | None = None


def parse_batch_request(content_type: str, body: bytes) -> list[PartRequest]:
    """Read a $batch request body back (what a server would see)."""
    out: list[PartRequest] = []
    cs = 0
    for part in _split_multipart(body, boundary_of(content_type)):
        head, rest = _split_head(part)
        mime = _parse_headers(head)
        inner = boundary_of(mime.get("Content-Type"))
        subparts = [(sub, cs) for sub in _split_multipart(rest, inner)] if inner else [(part, None)]
        if inner:
            cs += 1
        for sub, index in subparts:
            sub_head, http = _split_head(sub)
            sub_mime = _parse_headers(sub_head)
            req_head, req_body = _split_head(http)
            lines = req_head.decode().split("\r\n")
            method, target, _ = lines[0].split(" ")
            out.append(
                PartRequest(
                    method=method,
                    target=target,
                    headers=_parse_headers("\r\n".join(lines[1:]).encode()),
                    body=json.loads(req_body) if req_body.strip() else None,
                    content_id=sub_mime.get("Content-ID"),
                    changeset=index,
                )
            )
    return out


@dataclass
class FakeBatchServer:
    """Answers $batch requests like Dataverse: 204 + OData-EntityId per write, change sets atomic.

    A part whose body has ``"fail": true`` fails with 400; its change set is answered with
    only that part. ``extra_headers`` go on every outer response (e.g. x-ms-dop-hint).
    """

    extra_headers: dict[str, str] = field(default_factory=dict)
    before: Callable[[requests.PreparedRequest], Outcome | None] | None = None
    batches: list[list[PartRequest]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def _answer(self, p: PartRequest) -> tuple[str, bool]:
        failed = isinstance(p.body, dict) and p.body.get("fail")
        cid = f"Content-ID: {p.content_id}\r\n" if p.content_id else ""
        head = f"Content-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n{cid}\r\n"
        if failed:
            err = json.dumps({"error": {"code": "0x80044331", "message": f"bad {p.body.get('n')}"}})
            return head + f"HTTP/1.1 400 Bad Request\r\nContent-Type: application/json; odata.metadata=minimal\r\n\r\n{err}", True
        if p.method == "GET":
            return head + 'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n{"value":[]}', False
        guid = uuid.uuid5(uuid.NAMESPACE_URL, json.dumps(p.body, sort_keys=True) + p.target)
        entity = p.target.rsplit("/", 1)[-1]
        return head + f"HTTP/1.1 204 No Content\r\nOData-EntityId: {ROOT}{entity}({guid})\r\n\r\n", False

    def __call__(self, request: requests.PreparedRequest) -> Outcome:
        if self.before is not None:
            early = self.before(request)
            if early is not None:
                return early
        parts = parse_batch_request(request.headers["Content-Type"], request.body)
        with self.lock:
            self.batches.append(parts)
        out = []
        i = 0
        while i < len(parts):
            p = parts[i]
            if p.changeset is None:
                out.append(self._answer(p)[0])
                i += 1
                continue
            members = [q for q in parts[i:] if q.changeset == p.changeset]
            i += len(members)
            answers = [self._answer(q) for q in members]
            failed = [a for a, bad in answers if bad]
            chosen = failed[:1] if failed else [a for a, _ in answers]
            inner = "".join(f"--changesetresponse_x\r\n{a}\r\n" for a in chosen) + "--changesetresponse_x--"
            out.append(f"Content-Type: multipart/mixed; boundary=changesetresponse_x\r\n\r\n{inner}")
        body = "".join(f"--batchresponse_y\r\n{o}\r\n" for o in out) + "--batchresponse_y--\r\n"
        return 200, {"Content-Type": "multipart/mixed; boundary=batchresponse_y", **self.extra_headers}, body


def client_with(handler, **kwargs):
    """A WebApiClient on a session whose transport is ``handler`` (no sockets), recording sleeps."""
    from mail2dataverse.auth import StaticToken
    from mail2dataverse.writers.webapi import WebApiClient
    import random

    session = requests.Session()
    adapter = ScriptedAdapter(handler)
    session.mount(ORG, adapter)
    sleeps: list[float] = []
    kwargs.setdefault("auth", StaticToken("t0k3n"))
    client = WebApiClient(ORG, session=session, sleep=sleeps.append, random=random.Random(7), **kwargs)
    return client, adapter, sleeps


def ids_in(parts: list[PartRequest]) -> list[Any]:
    """The ``n`` field of each part's body (tests number their operations)."""
    return [p.body.get("n") if isinstance(p.body, dict) else None for p in parts]

