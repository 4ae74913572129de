"""The transport reads an answer's body in one call, over a real socket: the same bytes, the
connection kept alive for the next request, a body cut short still an unknown outcome."""

from __future__ import annotations

import random
import socket
import threading

import pytest
import urllib3

from mail2dataverse.auth import StaticToken
from mail2dataverse.testing import read_http_request
from mail2dataverse.writers.transport import HttpStats, Transport, TransportFailure

BODY = bytes(range(256)) * 1200  # 300 KB: 30 of requests' 10 KB reads


class _Server:
    """Answers every request on a connection with ``BODY`` (or, cut, with half of it and a close)."""

    def __init__(self, *, cut: bool = False):
        self.cut = cut
        self.connections = 0
        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(4)
        self.url = f"http://127.0.0.1:{self._sock.getsockname()[1]}"
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        reader = conn.makefile("rb")
        with conn:
            while read_http_request(reader):
                head = f"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: {len(BODY)}\r\n\r\n"
                if self.cut:
                    conn.sendall(head.encode() + BODY[: len(BODY) // 2])
                    return
                conn.sendall(head.encode() + BODY)

    def close(self) -> None:
        self._sock.close()


def _transport(url: str) -> Transport:
    return Transport(url, StaticToken("t"), session=None, pool_size=2, timeout=5.0, max_retries=0, backoff_base=0.1,
                     backoff_cap=1.0, verify=True, sleep=lambda s: None, random=random.Random(1),
                     user_agent="test", stats=HttpStats())


@pytest.fixture
def reads(monkeypatch):
    """How often urllib3 read from an answer's body."""
    calls = []
    original = urllib3.response.HTTPResponse.read

    def read(self, *args, **kwargs):
        calls.append(1)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(urllib3.response.HTTPResponse, "read", read)
    return calls


def test_a_large_answer_is_read_in_one_call_on_a_kept_alive_connection(reads):
    server = _Server()
    try:
        transport = _transport(server.url)
        for _ in range(2):
            del reads[:]
            resp = transport.request("POST", server.url + "/api/data/v9.2/$batch", data=b"x" * 1000, headers={}, what="POST")
            assert resp.status_code == 200 and resp.content == BODY
            assert len(reads) <= 2  # requests' own read takes 30 here (10 KB each)
        assert server.connections == 1  # the body read to its end: the connection went back to the pool
    finally:
        server.close()


def test_an_answer_cut_short_is_an_unknown_outcome_not_an_answer():
    server = _Server(cut=True)
    try:
        transport = _transport(server.url)
        with pytest.raises(TransportFailure) as failure:
            transport.request("POST", server.url + "/api/data/v9.2/$batch", data=b"x", headers={}, what="POST",
                              resend_unknown=False)
        assert failure.value.unknown  # the request reached the service: its writes may have landed
    finally:
        server.close()
