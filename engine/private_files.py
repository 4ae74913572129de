"""Files that hold personal data are created readable by their owner only (mode 0600).

The state file (addresses, names and phone numbers of every record written, as column digests
and keys) and its SQLite ``-wal`` / ``-shm`` companions would otherwise get the process umask's
mode, typically 0644: readable by every user of a shared host. (The run report is written
0600 by :func:`mail2dataverse.runfile.write_atomic`.) A file that already exists with a wider mode is narrowed, so a
state file made by an older version is fixed on its next run.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

MODE = 0o600


def ensure_private(path: str | Path) -> None:
    """Create ``path`` empty with mode 0600 if it does not exist, else narrow its mode to 0600.

    SQLite creates a database's ``-wal`` and ``-shm`` files with the database file's own mode,
    so calling this on the database before ``sqlite3.connect`` covers all three.
    """
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, MODE)
    try:
        _narrow(fd)
    finally:
        os.close(fd)


def _narrow(fd: int) -> None:
    # O_CREAT's mode only applies to a new file; an existing one keeps whatever it had
    info = os.fstat(fd)
    if stat.S_ISREG(info.st_mode) and stat.S_IMODE(info.st_mode) & 0o077:
        os.fchmod(fd, stat.S_IMODE(info.st_mode) & ~0o077 & 0o777)
