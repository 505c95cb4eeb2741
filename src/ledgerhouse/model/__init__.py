"""The star schema: table definitions, keys, partitioning and the calendar."""

from ledgerhouse.model.calendar import build_dim_date
from ledgerhouse.model.marts import MART_TABLES, MARTS, MartDef
from ledgerhouse.model.schema import (
    CORE_TABLES,
    ML_TABLES,
    OPEN_END,
    QUARANTINE,
    TableDef,
    raw_table,
)

__all__ = [
    "CORE_TABLES",
    "MARTS",
    "MART_TABLES",
    "ML_TABLES",
    "OPEN_END",
    "QUARANTINE",
    "MartDef",
    "TableDef",
    "build_dim_date",
    "raw_table",
]
