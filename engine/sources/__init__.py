"""Sources: stream Nylas-shaped records from the Nylas CLI, JSON/NDJSON files, stdin, or plugins.

- :func:`open_source` opens a file, ``-`` (stdin) or a directory and detects its format;
- :func:`nylas_export` runs the ``nylas`` CLI and returns its (validated) output as a source;
- both return a :class:`RecordSource`: ``validate()`` first, then iterate ``(RecordRef, record)``.
"""

from .files import BUILTIN_FORMATS, KINDS, RecordSource, open_source
from .nylas_cli import nylas_export

__all__ = ["BUILTIN_FORMATS", "KINDS", "RecordSource", "nylas_export", "open_source"]
