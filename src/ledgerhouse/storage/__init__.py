"""Storage: Delta tables (system of record), the metadata store, the DuckDB engine."""

from ledgerhouse.storage.delta import DeltaStore
from ledgerhouse.storage.engine import EnginePool, TenantEngine
from ledgerhouse.storage.keys import ApiKeyConflict, ApiKeyRecord, IssuedKey
from ledgerhouse.storage.metadata import MetadataStore, WarehouseCommit

__all__ = [
    "ApiKeyConflict",
    "ApiKeyRecord",
    "DeltaStore",
    "EnginePool",
    "IssuedKey",
    "MetadataStore",
    "TenantEngine",
    "WarehouseCommit",
]
