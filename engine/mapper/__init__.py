"""Mapping language: load YAML mapping files, validate them, compile them once, map records."""
