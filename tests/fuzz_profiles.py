"""Hypothesis profiles: a fixed seed for ``make test``, random and longer for ``make fuzz``.

``make test`` must give the same answer on every clone (issue 15: a fresh clone failed when
Hypothesis happened to draw ``{'headers': '\\n'}``), so the default profile ``ci`` derandomizes
(examples derived from each test's source, not from a random seed) and keeps no example
database between runs. ``make fuzz`` sets ``M2D_HYPOTHESIS_PROFILE=fuzz``: random seeds, the
example database under ``.hypothesis/`` (a failure found once is tried first next time), and
:func:`examples` multiplies every property test's example count by ``M2D_FUZZ_FACTOR``
(default 20). A failure fuzzing finds is added to its test as an explicit ``@example`` so
``make test`` checks it on every run from then on.
"""

from __future__ import annotations

import os

from hypothesis import settings

settings.register_profile("ci", derandomize=True, database=None, deadline=None, print_blob=True)
settings.register_profile("fuzz", derandomize=False, deadline=None, print_blob=True)

PROFILE = os.environ.get("M2D_HYPOTHESIS_PROFILE", "ci")
settings.load_profile(PROFILE)


def examples(n: int) -> int:
    """How many examples a property test runs: ``n`` under ``ci``, ``n`` × the fuzz factor under ``fuzz``."""
    if PROFILE != "fuzz":
        return n
    return n * max(1, int(os.environ.get("M2D_FUZZ_FACTOR", "20")))
