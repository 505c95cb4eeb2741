"""Ledgerhouse: a financial data warehouse on Delta Lake and DuckDB.

from ledgerhouse import Warehouse
wh = Warehouse.open(root="./warehouse")
wh.query("SELECT count(*) FROM fact_trade").rows()
"""

from ledgerhouse.config import Settings, load_settings
from ledgerhouse.errors import LedgerhouseError
from ledgerhouse.services import Warehouse

__all__ = ["LedgerhouseError", "Settings", "Warehouse", "load_settings"]
__version__ = "0.1.0"
