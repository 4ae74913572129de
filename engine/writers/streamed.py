"""Request bodies that carry file content: attachment Base64 streamed while it is sent.

:func:`mail2dataverse.writers.batch.encode_batch` leaves a placeholder for each
:class:`~mail2dataverse.operations.Base64File` value; :func:`streamed` turns the encoded text and
those files into a :class:`StreamedBody`, which ``requests`` sends with a known
``Content-Length``, reading each file in blocks.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from typing import Any

from mail2dataverse.operations import Base64File


class StreamedBody:
    """A ``$batch`` body whose attachment content is read from files while it is sent.

    ``requests`` sends an iterable with a length as a stream with ``Content-Length``; each
    iteration reads the files again, so a resent request carries the same bytes. Memory: one
    block of each file at a time, never the whole Base64 text.
    """

    def __init__(self, parts: list[bytes | Base64File]):
        self.parts = parts
        self._length = sum(p.length if isinstance(p, Base64File) else len(p) for p in parts)

    def __len__(self) -> int:
        return self._length

    def __iter__(self) -> Iterator[bytes]:
        for part in self.parts:
            if isinstance(part, Base64File):
                yield from part.chunks()
            else:
                yield part

    def getvalue(self) -> bytes:
        """The whole body (tests and small bodies only: it reads every file)."""
        return b"".join(self)


def streamed(text: str, token: str, streams: list[Base64File]) -> StreamedBody:
    """``text`` with each ``"<token>:<n>"`` placeholder replaced by file ``n``'s Base64, streamed."""
    pieces = re.split(f'"{token}:(\\d+)"', text)
    parts: list[bytes | Base64File] = []
    for i, piece in enumerate(pieces):
        if i % 2:
            parts += [b'"', streams[int(piece)], b'"']
        elif piece:
            parts.append(piece.encode("utf-8"))
    return StreamedBody(parts)


class FilePlaceholders:
    """The encoder's side: a unique placeholder per :class:`Base64File` value while the JSON is
    written (the ``default=`` hook), replaced by the streamed file in :meth:`body`."""

    def __init__(self) -> None:
        self.token = f"m2d-stream-{uuid.uuid4().hex}"  # per batch: column data cannot forge it
        self.files: list[Base64File] = []

    def json(self, value: Any) -> str:
        """``json.dumps`` ``default=`` hook: a placeholder for a file, TypeError for anything else."""
        if isinstance(value, Base64File):
            self.files.append(value)
            return f"{self.token}:{len(self.files) - 1}"
        raise TypeError(f"{type(value).__name__} is not JSON serializable")

    def body(self, text: str) -> bytes | StreamedBody:
        """The request body: ``text`` as bytes, or streamed when it holds placeholders."""
        return streamed(text, self.token, self.files) if self.files else text.encode("utf-8")
