"""Pre-flight: check the mappings against the org's own metadata before the first write.

A mapping that names a column the org does not have (a typo, a column of another solution, a
custom column not yet deployed) would fail every record of that table on the service. Reading
the org's attribute names once per table turns that into one clear error that points at the
mapping file's line, before anything is written.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .errors import Problem

#: The tables the mappings write, with the attribute of the mapping set that describes each.
MAPPED_TABLES = (("contact", "contact"), ("account", "account"), ("email", "email"))


def column_problems(mappings: Any, attributes: Callable[[str], set[str] | None]) -> tuple[list[Problem], list[str]]:
    """Columns the mappings write that the org's tables do not have.

    :param mappings: the compiled :class:`~mail2dataverse.mapper.MappingSet`.
    :param attributes: ``table → set of attribute logical names``, or ``None`` when the org's
        metadata cannot be read (for instance without the privilege to read it).
    :returns: the problems (located at the mapping's column) and warnings for tables that could
        not be checked.
    """
    problems: list[Problem] = []
    warnings: list[str] = []
    for table, attr in MAPPED_TABLES:
        mapping = getattr(mappings, attr, None)
        if mapping is None:
            continue
        names = attributes(table)
        if names is None:
            warnings.append(f"could not read the {table} table's columns from the org; mapping columns not checked")
            continue
        for column in mapping.columns:
            if "@" in column.name:  # navigation properties are checked by the service per bind
                continue
            if column.name not in names:
                problems.append(Problem(column.source, f"the org's {table} table has no column {column.name!r}"))
    return problems, warnings
