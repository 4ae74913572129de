"""mail2dataverse: Nylas CLI email and contact exports into Dynamics 365 / Dataverse.

Data flow, one direction: ``sources`` yield Nylas-shaped records → ``mapper`` (compiled YAML
mappings + plugin hooks) turns them into payloads → ``planner`` orders them into Web API
operations (accounts and contacts, then emails with their parties) → ``writers`` print them
(dry run) or send them (``$batch`` against the Web API) → ``report`` counts every record.

The public surface for plugin authors is :data:`hookimpl` and the types in
:mod:`mail2dataverse.model`.
"""

from .hookspecs import hookimpl

__version__ = "0.1.0"

__all__ = ["__version__", "hookimpl"]
