"""The metadata store: one engine and its sessions, and the small stores that share them.

SQLAlchemy 2 on SQLite (WAL) by default, PostgreSQL by URL. The schema (``storage/rows.py``)
is created and upgraded by Alembic migrations (``storage/migrations``), never by
``create_all``. Each concern is its own store, reached as an attribute of this one:

- ``tenants_store`` (``storage/tenants.py``): tenants;
- ``keys`` (``storage/keys.py``): API keys;
- ``commit_log`` (``storage/commit_log.py``): warehouse commits and the ingestion ledger, one
  store because an ingestion records both in one transaction, its commit point;
- ``query_store`` (``storage/query_store.py``): the query log;
- ``audit`` (``storage/audit.py``): the audit trail, hash-chained per tenant;
- ``models_store`` (``storage/models.py``): machine-learning models.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import sessionmaker

from ledgerhouse.storage.access import AccessStore
from ledgerhouse.storage.annotations import AnnotationStore
from ledgerhouse.storage.audit import AuditStore
from ledgerhouse.storage.commit_log import CommitLog, WarehouseCommit
from ledgerhouse.storage.keys import ApiKeyStore
from ledgerhouse.storage.lineage import LineageStore
from ledgerhouse.storage.models import ModelStore
from ledgerhouse.storage.quality import QualityStore
from ledgerhouse.storage.query_store import QueryLogStore
from ledgerhouse.storage.resources import ResourceStore
from ledgerhouse.storage.schemas import SchemaStore
from ledgerhouse.storage.tenants import TenantStore

__all__ = ["MetadataStore", "WarehouseCommit"]


class MetadataStore:
    def __init__(self, url: str) -> None:
        self.url = url
        self.engine: Engine = create_engine(url, future=True)
        if url.startswith("sqlite"):
            event.listen(self.engine, "connect", _sqlite_pragmas)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        self.tenants_store = TenantStore(self.engine, self._sessions)
        self.keys = ApiKeyStore(self.engine, self._sessions)
        self.commit_log = CommitLog(self.engine, self._sessions)
        self.audit = AuditStore(self.engine, self._sessions)  # the hash-chained audit trail
        self.query_store = QueryLogStore(self.engine, self._sessions, self.audit)
        self.models_store = ModelStore(self.engine, self._sessions)
        self.quality = QualityStore(self.engine, self._sessions)  # checks and results
        self.lineage = LineageStore(self.engine, self._sessions)  # graphs per commit
        self.annotations = AnnotationStore(self.engine, self._sessions)  # governance metadata
        self.access = AccessStore(self.engine, self._sessions)  # roles, grants, policies
        self.resources = ResourceStore(self.engine, self._sessions)  # overrides and usage
        self.schemas = SchemaStore(self.engine, self._sessions)  # tenants' own schemas

    def migrate(self) -> None:
        """Create or upgrade the schema to the newest Alembic revision."""
        from alembic import command
        from alembic.config import Config

        cfg = Config()
        cfg.set_main_option("script_location", str(Path(__file__).parent / "migrations"))
        cfg.set_main_option("sqlalchemy.url", self.url.replace("%", "%%"))
        with self.engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")

    def is_initialized(self) -> bool:
        from sqlalchemy import inspect

        return inspect(self.engine).has_table("warehouse_commits")

    def close(self) -> None:
        self.keys.close()
        self.engine.dispose()


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=FULL")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()
