"""Ledgerhouse: a financial data warehouse on Delta Lake and DuckDB.

from ledgerhouse import Warehouse
wh = Warehouse.open(root="./warehouse")
wh.query("SELECT count(*) FROM fact_trade").rows()
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ledgerhouse.errors import LedgerhouseError

if TYPE_CHECKING:
    from ledgerhouse.config import Settings, load_settings
    from ledgerhouse.services import Warehouse


def __getattr__(name: str) -> Any:
    # imported on first use, so `import ledgerhouse.client` loads no server module
    if name == "Warehouse":
        from ledgerhouse.services import Warehouse

        return Warehouse
    if name in ("Settings", "load_settings"):
        from ledgerhouse import config

        return getattr(config, name)
    raise AttributeError(f"module 'ledgerhouse' has no attribute {name!r}")


__all__ = ["LedgerhouseError", "Settings", "Warehouse", "load_settings"]
__version__ = "0.2.0"
