"""JSON Schemas (package data): mapping files, the run configuration, the input records."""
