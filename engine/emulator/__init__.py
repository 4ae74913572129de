"""A strict local emulator of the Dataverse Web API subset mail2dataverse uses.

It answers ``/api/data/v9.2`` like the real service — the same status codes, headers and error
bodies for the requests the real service rejects — so bugs show up locally rather than on a
customer's org. Start it in-process::

    from mail2dataverse.emulator import Emulator

    with Emulator(alternate_keys=(("contact", "emailaddress1"),)) as emu:
        ...  # emu.service_root, emu.records("contact"), emu.seed("account", {...}), emu.stats

or from the command line: ``mail2dataverse emulator --port 8080`` (see :mod:`.cli`).

Modules: :mod:`.server` (HTTP, TLS, auth, faults around each request), :mod:`.app` (routing and
responses), :mod:`.store` (rows, validation, transactions), :mod:`.schema` (tables),
:mod:`.query` (``$filter``/``$select``/keys), :mod:`.batch` (multipart ``$batch``),
:mod:`.metadata` (``EntityDefinitions``), :mod:`.faults` (limits and injected faults).
The engine's other modules never import this package.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .faults import FaultProfile
    from .server import Emulator

__all__ = ["Emulator", "FaultProfile"]


def __getattr__(name: str) -> Any:
    """``Emulator`` and ``FaultProfile``, imported on first use (PEP 562): every command of the
    CLI declares the emulator's flags (:mod:`.cli`), and the HTTP server behind ``Emulator``
    took half of a command's start-up (0.24 of 0.5 s) for the commands that never serve."""
    if name == "Emulator":
        from .server import Emulator

        return Emulator
    if name == "FaultProfile":
        from .faults import FaultProfile

        return FaultProfile
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
