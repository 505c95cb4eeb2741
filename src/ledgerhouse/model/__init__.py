"""The star schema: table definitions, keys, partitioning and the calendar."""

from ledgerhouse.model.calendar import build_dim_date
from ledgerhouse.model.schema import CORE_TABLES, OPEN_END, QUARANTINE, TableDef, raw_table

__all__ = ["CORE_TABLES", "OPEN_END", "QUARANTINE", "TableDef", "build_dim_date", "raw_table"]
