"""``python -m mail2dataverse``: the same as the ``mail2dataverse`` command."""

from .cli import main

raise SystemExit(main())
