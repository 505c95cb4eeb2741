"""Read-only catalog statements answered from the warehouse's own relations: ``SHOW TABLES``
and ``DESCRIBE <relation>`` (what a BI tool or a newcomer sends first). Every other
``SHOW``/``DESCRIBE`` form reaches the guard, which refuses it."""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass

import pyarrow as pa

from ledgerhouse.model.schema import TableDef

_SHOW_TABLES = re.compile(r"\s*show\s+tables\s*;?\s*", re.I)
_DESCRIBE = re.compile(
    r'\s*(?:describe|desc)\s+("(?:[^"]|"")+"|[A-Za-z_][A-Za-z0-9_]*)\s*;?\s*', re.I
)


@dataclass(frozen=True)
class CatalogStatement:
    kind: str  # "tables" or "describe"
    relation: str | None = None


def parse_catalog_statement(sql: str) -> CatalogStatement | None:
    """The catalog statement ``sql`` is, or None (then it is an ordinary query)."""
    if not isinstance(sql, str) or len(sql) > 1000:
        return None
    if _SHOW_TABLES.fullmatch(sql):
        return CatalogStatement("tables")
    found = _DESCRIBE.fullmatch(sql)
    if found is None:
        return None
    name = found.group(1)
    if name.startswith('"'):
        name = name[1:-1].replace('""', '"')
    elif name.lower() in ("select", "with", "from", "values", "table"):
        return None  # DESCRIBE SELECT ...: a query, refused by the guard
    return CatalogStatement("describe", name)


def show_tables(tables: list[TableDef]) -> pa.Table:
    """One row per relation: name, layer, description (sorted by name)."""
    rows = sorted(tables, key=lambda t: t.relation)
    return pa.table(
        {
            "name": [t.relation for t in rows],
            "layer": [t.layer for t in rows],
            "description": [t.description for t in rows],
        }
    )


def describe(table: TableDef, hidden: Collection[str] = ()) -> pa.Table:
    """One row per column: name, type, and whether it partitions the table (without the
    ``hidden`` columns: those a grant or a column policy keeps from the caller)."""
    columns = [(n, t) for n, t in table.columns if n not in hidden]
    return pa.table(
        {
            "column_name": [n for n, _ in columns],
            "column_type": [str(t) for _, t in columns],
            "partition": [n in table.partition_by for n, _ in columns],
        }
    )


def sql_text(statement: CatalogStatement) -> str:
    """The statement as normalized SQL."""
    if statement.kind == "tables":
        return "SHOW TABLES"
    return 'DESCRIBE "' + (statement.relation or "").replace('"', '""') + '"'
