"""Storage: Delta tables (system of record), the metadata store, the query engines."""

from ledgerhouse.storage.commits import CommitListener, CommitWriter, Transaction
from ledgerhouse.storage.delta import DeltaStore
from ledgerhouse.storage.engines import Engine, EnginePool, load_engine
from ledgerhouse.storage.keys import ApiKeyConflict, ApiKeyRecord, IssuedKey
from ledgerhouse.storage.metadata import MetadataStore, WarehouseCommit

__all__ = [
    "ApiKeyConflict",
    "ApiKeyRecord",
    "CommitListener",
    "CommitWriter",
    "DeltaStore",
    "Engine",
    "EnginePool",
    "IssuedKey",
    "MetadataStore",
    "Transaction",
    "WarehouseCommit",
    "load_engine",
]
