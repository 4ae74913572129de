"""The bytes of one export, readable from the start any number of times.

A file given by path is simply reopened per pass; a stream that cannot be re-read (stdin, the
Nylas CLI's stdout) is spooled to an anonymous temporary file first and each pass reads it
through its own ``os.pread`` position. :func:`sniff` and :func:`open_bytes` then hide the text
encoding (UTF-8 with or without BOM, UTF-16 from PowerShell) from the readers, which always see
UTF-8 bytes.
"""

from __future__ import annotations

import codecs
import io
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any

from ..errors import SourceError

#: Bytes read per chunk by the readers and the format sniffing.
CHUNK = 1 << 16
#: JSON's insignificant whitespace.
WS = b" \t\r\n"


class _PreadRaw(io.RawIOBase):
    """A private read position over a shared file descriptor (``os.pread``).

    Each pass over a spooled export gets its own position, so a validation pass and a reading
    pass (or two readers) never disturb each other's offset, without reopening by name.
    """

    def __init__(self, fd: int):
        super().__init__()
        self._fd = fd
        self._pos = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = os.pread(self._fd, len(buffer), self._pos)
        n = len(data)
        buffer[:n] = data
        self._pos += n
        return n


class Input:
    """The bytes of one export: a file on disk, or a spool of a stream that cannot be re-read."""

    def __init__(self, display: str, path: Path | None = None):
        self.display = display
        self.path = path
        self._spool: IO[bytes] | None = None
        self._spool_path: str | None = None

    @classmethod
    def spooled(cls, display: str, stream: IO[bytes] | IO[str]) -> Input:
        """Copy ``stream`` to a temporary file in chunks (never whole into memory)."""
        inp = cls(display)
        if hasattr(os, "pread"):
            # Anonymous on Linux (O_TMPFILE): nothing is left behind even if the process is killed.
            spool: IO[bytes] = tempfile.TemporaryFile(prefix="mail2dataverse-")
        else:  # pragma: no cover - Windows: reopened by name per pass, removed on close
            spool = tempfile.NamedTemporaryFile(prefix="mail2dataverse-", delete=False)
            inp._spool_path = spool.name
        try:
            while True:
                chunk = stream.read(1 << 20)
                if not chunk:
                    break
                spool.write(chunk.encode("utf-8") if isinstance(chunk, str) else chunk)
            spool.flush()
        except BaseException:
            spool.close()
            raise
        inp._spool = spool
        return inp

    @classmethod
    def from_file_object(cls, display: str, spool: IO[bytes]) -> Input:
        """Adopt an already-written temporary file (the Nylas CLI runner's stdout spool)."""
        inp = cls(display)
        spool.flush()
        inp._spool = spool
        return inp

    def open(self) -> IO[bytes]:
        """A fresh binary reader positioned at byte 0."""
        if self.path is not None:
            try:
                return open(self.path, "rb")
            except OSError as exc:
                raise SourceError(f"{self.display}: cannot open: {exc.strerror or exc}") from exc
        if self._spool is None:
            raise SourceError(f"{self.display}: the source is closed")
        if self._spool_path:  # pragma: no cover - Windows fallback
            return open(self._spool_path, "rb")
        return io.BufferedReader(_PreadRaw(self._spool.fileno()), CHUNK)

    def close(self) -> None:
        """Delete the spool, if any. Files given by path are left alone."""
        if self._spool is not None:
            self._spool.close()
            self._spool = None
        if self._spool_path:  # pragma: no cover - Windows fallback
            try:
                os.unlink(self._spool_path)
            except OSError:
                pass
            self._spool_path = None


def sniff(inp: Input) -> tuple[str, int]:
    """Return the text encoding (``utf-8`` or ``utf-16``) and the length of the byte-order mark.

    Windows PowerShell 5 writes ``nylas ... > file.json`` as UTF-16 with a BOM, and Notepad likes
    adding a UTF-8 BOM; both are accepted instead of failing on byte 0.
    """
    with inp.open() as f:
        head = f.read(4)
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8", 3
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16", 0  # the utf-16 codec consumes its own BOM
    return "utf-8", 0


class _Utf8Transcoder(io.RawIOBase):
    """Re-encode a UTF-16 stream as UTF-8 on the fly: the JSON reader reads UTF-8 bytes (and names
    damage by its offset in them)."""

    def __init__(self, raw: IO[bytes]):
        super().__init__()
        self._text = io.TextIOWrapper(raw, encoding="utf-16", newline="")
        self._pending = b""

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:  # type: ignore[override]
        if n is None or n < 0:
            data, self._pending = self._pending + self._text.read().encode("utf-8"), b""
            return data
        while len(self._pending) < n:
            text = self._text.read(max(n // 2, 1))
            if not text:
                break
            self._pending += text.encode("utf-8")
        data, self._pending = self._pending[:n], self._pending[n:]
        return data

    def close(self) -> None:
        self._text.close()
        super().close()


def open_bytes(inp: Input, encoding: str, bom: int) -> IO[bytes]:
    """Open ``inp`` as UTF-8 bytes with the BOM skipped."""
    f = inp.open()
    if encoding == "utf-16":
        return _Utf8Transcoder(f)  # type: ignore[return-value]
    if bom:
        f.read(bom)
    return f


class InputGroup:
    """Closes several spools together (what :class:`RecordSource` expects of one input)."""

    def __init__(self, inputs: Sequence[Input]):
        self._inputs = list(inputs)

    def close(self) -> None:
        """Delete every spool."""
        for inp in self._inputs:
            inp.close()
