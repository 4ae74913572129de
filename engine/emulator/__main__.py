"""``python -m mail2dataverse.emulator``: the emulator without the main CLI."""

from .cli import main

raise SystemExit(main())
