"""The planner: mapped payloads → Web API operations, in two phases, against what exists.

Phase 1 writes accounts (one per registrable company domain) and then contacts (one per
address, compared case-insensitively), each bound to its account. Phase 2 writes one email
activity per message, with its activity parties bound to the records they match and its
regarding link, in chunks so a huge export never sits in memory.

Before anything is created the planner asks, in this order: the state store (written before
with the same content → nothing to send), then the org (bulk ``In(...)`` lookups sent as GETs
inside ``$batch``). Creates carry deterministic primary keys (:func:`model.deterministic_id`),
so a create that is repeated — a retried batch after a dropped connection, a second sync
running at the same time — is refused by the service as a duplicate and counted as
"unchanged" instead of becoming a second row.

The planner never talks HTTP itself: it hands operations to an :class:`Executor`. The dry-run
executor records them (that is the preview) and the Web API executor sends them, so the
preview is by construction what a sync against an empty org sends.

The modules, in the order a run goes through them:

- :mod:`.run` — :class:`Planner`: preflight, phase 1, phase 2, the report;
- :mod:`.context` — what the parts share: the org's tables, the executor protocol, the run's
  inputs and what phase 1 learns for phase 2;
- :mod:`.lookups` — bulk lookups against the org (``In(...)`` chunks, still-in-org checks,
  accounts by domain, newest open record of an account);
- :mod:`.contacts` — phase 1: accounts and contacts, bulk writes, race settlement;
- :mod:`.emails` — phase 2: email change sets, party binding, regarding links;
- :mod:`.coverage` — which date ranges of a mailbox are known to be in the org.
"""

from .context import ADDRESS_COLUMNS, DUPLICATE_CODES, PARTY_ADDRESS_COLUMN, TABLES, Executor, LookupFailed, RunContext
from .run import Planner

__all__ = [
    "ADDRESS_COLUMNS",
    "DUPLICATE_CODES",
    "PARTY_ADDRESS_COLUMN",
    "TABLES",
    "Executor",
    "LookupFailed",
    "Planner",
    "RunContext",
]
