"""Sources: stream Nylas-shaped records from the Nylas CLI, JSON/NDJSON files, stdin, or plugins."""
