"""The raw-layer tables, one per dataset (their columns are the dataset contracts)."""

from __future__ import annotations

from ledgerhouse.ingest.datasets import CONTRACTS
from ledgerhouse.model.schema import QUARANTINE, TableDef, raw_table

RAW_TABLES: dict[str, TableDef] = {
    name: raw_table(name, c.arrow_columns) for name, c in CONTRACTS.items()
}

INGEST_TABLES: tuple[TableDef, ...] = (*RAW_TABLES.values(), QUARANTINE)
