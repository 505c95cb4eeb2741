"""Storage: Delta tables (system of record), the metadata store, the DuckDB engine."""

from ledgerhouse.storage.delta import DeltaStore
from ledgerhouse.storage.engine import EnginePool, TenantEngine
from ledgerhouse.storage.metadata import MetadataStore, WarehouseCommit

__all__ = ["DeltaStore", "EnginePool", "MetadataStore", "TenantEngine", "WarehouseCommit"]
