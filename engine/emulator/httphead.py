"""Reading an HTTP request's head: :class:`HeadReader`, the emulator's request handler base.

The standard library's ``BaseHTTPRequestHandler.parse_request`` reads the header block with
``http.client.parse_headers``, which hands it to the ``email`` package as a whole message. A
``$batch`` request's ``Content-Type`` is ``multipart/mixed`` with a boundary used once, so
the email parser then looks for that boundary in an (empty) body and compiles a regular
expression for it: some 0.4 ms per request, a fifth of what the emulator spends on a small
batch. :meth:`HeadReader.parse_request` is the base class's method with one difference: the
block is parsed headers-only (``Parser.parsestr(..., headersonly=True)``), which yields the
same header names, values, order and folding, and never reads a body. Everything else (the
request line's checks and their errors, the header line and count limits, ``Connection`` and
``Expect: 100-continue``) is the base class's behaviour, step by step (the method is the same
in Python 3.11, 3.12 and 3.13; ``test_request_fast_paths.py`` compares the answers).
"""

from __future__ import annotations

import email.parser
import http.client
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler

_MAXLINE = 65536  # http.client's limits (_MAXLINE, _MAXHEADERS), read there when present
_MAXHEADERS = 100


def read_headers(rfile, message_class=http.client.HTTPMessage) -> http.client.HTTPMessage:
    """``http.client.parse_headers(rfile, _class=message_class)``, parsed headers-only.

    Raises what it raises: ``LineTooLong`` for a line over the limit, ``HTTPException`` for
    more than the limit of header lines.
    """
    limit = getattr(http.client, "_MAXLINE", _MAXLINE)
    most = getattr(http.client, "_MAXHEADERS", _MAXHEADERS)
    lines = []
    while True:
        line = rfile.readline(limit + 1)
        if len(line) > limit:
            raise http.client.LineTooLong("header line")
        lines.append(line)
        if len(lines) > most:
            raise http.client.HTTPException(f"got more than {most} headers")
        if line in (b"\r\n", b"\n", b""):
            break
    text = b"".join(lines).decode("iso-8859-1")
    return email.parser.Parser(_class=message_class).parsestr(text, headersonly=True)


class HeadReader(BaseHTTPRequestHandler):
    """``BaseHTTPRequestHandler`` whose :meth:`parse_request` reads the headers headers-only."""

    def parse_request(self) -> bool:
        """Parse the request line and headers into ``command``, ``path``, ``request_version``
        and ``headers``; False (with the error already sent) for a malformed request."""
        self.command = None  # set in case of error on the first line
        self.request_version = version = self.default_request_version
        self.close_connection = True
        requestline = str(self.raw_requestline, "iso-8859-1").rstrip("\r\n")
        self.requestline = requestline
        words = requestline.split()
        if len(words) == 0:
            return False
        if len(words) >= 3:  # enough to determine the protocol version
            version = words[-1]
            try:
                if not version.startswith("HTTP/"):
                    raise ValueError
                base_version_number = version.split("/", 1)[1]
                version_number = base_version_number.split(".")
                if len(version_number) != 2:  # RFC 2145 section 3.1: one ".", two integers
                    raise ValueError
                if any(not component.isdigit() for component in version_number):
                    raise ValueError("non digit in http version")
                if any(len(component) > 10 for component in version_number):
                    raise ValueError("unreasonable length http version")
                version_number = int(version_number[0]), int(version_number[1])
            except (ValueError, IndexError):
                self.send_error(HTTPStatus.BAD_REQUEST, "Bad request version (%r)" % version)
                return False
            if version_number >= (1, 1) and self.protocol_version >= "HTTP/1.1":
                self.close_connection = False
            if version_number >= (2, 0):
                self.send_error(HTTPStatus.HTTP_VERSION_NOT_SUPPORTED, "Invalid HTTP version (%s)" % base_version_number)
                return False
            self.request_version = version
        if not 2 <= len(words) <= 3:
            self.send_error(HTTPStatus.BAD_REQUEST, "Bad request syntax (%r)" % requestline)
            return False
        command, path = words[:2]
        if len(words) == 2:
            self.close_connection = True
            if command != "GET":
                self.send_error(HTTPStatus.BAD_REQUEST, "Bad HTTP/0.9 request type (%r)" % command)
                return False
        self.command, self.path = command, path
        if self.path.startswith("//"):  # gh-87389: no open redirect through "//host/path"
            self.path = "/" + self.path.lstrip("/")
        try:
            self.headers = read_headers(self.rfile, self.MessageClass)
        except http.client.LineTooLong as err:
            self.send_error(HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE, "Line too long", str(err))
            return False
        except http.client.HTTPException as err:
            self.send_error(HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE, "Too many headers", str(err))
            return False
        conntype = self.headers.get("Connection", "")
        if conntype.lower() == "close":
            self.close_connection = True
        elif conntype.lower() == "keep-alive" and self.protocol_version >= "HTTP/1.1":
            self.close_connection = False
        expect = self.headers.get("Expect", "")
        if (expect.lower() == "100-continue" and self.protocol_version >= "HTTP/1.1"
                and self.request_version >= "HTTP/1.1"):
            if not self.handle_expect_100():
                return False
        return True
