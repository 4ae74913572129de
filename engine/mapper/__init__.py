"""Mapping language: load YAML mapping files, validate them, compile them once, map records.

Public surface::

    from mail2dataverse.mapper import load_mappings, validate_paths, MappingSet

    mappings = load_mappings([Path("my-mappings")], plugins=plugins)   # raises MappingError
    mappings.map_contact(record, ref)    # MappedContact | Skip
    mappings.map_account(derived)        # MappedAccount
    mappings.map_message(record, ref)    # MappedEmail | Skip

The language itself is documented in ``docs/mappings.md`` and ``schemas/mapping.schema.json``.
"""

from .loader import load_mappings, mapping_schema, validate_paths
from .mapping_set import MappingSet

__all__ = ["MappingSet", "load_mappings", "mapping_schema", "validate_paths"]
