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

from .faults import FaultProfile
from .server import Emulator

__all__ = ["Emulator", "FaultProfile"]
