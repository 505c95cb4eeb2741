"""The metadata store: tenants, API keys, warehouse commits and the ingestion ledger.

SQLAlchemy 2 on SQLite (WAL) by default, PostgreSQL by URL. The schema (``storage/rows.py``)
is created and upgraded by Alembic migrations (``storage/migrations``), never by
``create_all``. API keys are their own store behind this one (``MetadataStore.keys``,
``storage/keys.py``).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, event, func, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from ledgerhouse.errors import NotFound
from ledgerhouse.storage.keys import ApiKeyInfo, ApiKeyStore
from ledgerhouse.storage.rows import (
    BatchRow,
    CommitRow,
    ModelRow,
    QueryLogRow,
    TenantRow,
    _aware,
    _now,
)

QUERY_LOG_FIELDS = (
    "id",
    "tenant_id",
    "user",
    "fingerprint",
    "text",
    "route",
    "commit_id",
    "started_at",
    "duration_ms",
    "rows",
    "bytes",
    "status",
    "error",
)


@dataclass(frozen=True)
class WarehouseCommit:
    id: int
    tenant: str
    created_at: datetime
    operation: str
    batch_id: str | None
    table_versions: dict[str, int]
    changed_tables: list[str]


def _to_commit(row: CommitRow) -> WarehouseCommit:
    return WarehouseCommit(
        id=row.id,
        tenant=row.tenant_id,
        created_at=_aware(row.created_at),
        operation=row.operation,
        batch_id=row.batch_id,
        table_versions=dict(row.table_versions),
        changed_tables=list(row.changed_tables),
    )


class MetadataStore:
    def __init__(self, url: str) -> None:
        self.url = url
        self.engine: Engine = create_engine(url, future=True)
        if url.startswith("sqlite"):
            event.listen(self.engine, "connect", _sqlite_pragmas)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        self._commits: dict[int, WarehouseCommit] = {}
        self.keys = ApiKeyStore(self.engine, self._sessions)

    # -- lifecycle --------------------------------------------------------------------------
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

    @contextmanager
    def session(self) -> Iterator[Session]:
        with self._sessions.begin() as s:
            yield s

    # -- tenants and keys ---------------------------------------------------------------------
    def ensure_tenant(self, tenant: str) -> bool:
        with self.session() as s:
            if s.get(TenantRow, tenant) is not None:
                return False
            s.add(TenantRow(id=tenant, created_at=_now()))
            return True

    def tenants(self) -> list[str]:
        with self.session() as s:
            return list(s.scalars(select(TenantRow.id).order_by(TenantRow.id)))

    def create_api_key(self, tenant: str, user: str, roles: tuple[str, ...]) -> str:
        """A new key (list, revoke and rotate them through ``self.keys``); shown once."""
        return self.keys.issue(tenant, user, roles).secret

    def lookup_api_key(self, key: str) -> ApiKeyInfo | None:
        """The key's owner, or None (unknown or revoked); see ``ApiKeyStore.lookup``."""
        return self.keys.lookup(key)

    # -- warehouse commits ------------------------------------------------------------------
    def latest_commit(self, tenant: str) -> WarehouseCommit | None:
        # Every query asks this: read only the newest id (a Core statement, no ORM objects),
        # and the commit itself from the cache of immutable commits.
        with self.engine.connect() as c:
            newest = c.execute(
                select(func.max(CommitRow.id)).where(CommitRow.tenant_id == tenant)
            ).scalar()
        return None if newest is None else self.commit_by_id(tenant, int(newest))

    def commit_by_id(self, tenant: str, commit_id: int) -> WarehouseCommit:
        cached = self._commits.get(commit_id)  # a recorded commit never changes
        if cached is not None and cached.tenant == tenant:
            return cached
        with self.session() as s:
            row = s.get(CommitRow, commit_id)
            if row is None or row.tenant_id != tenant:
                raise NotFound(
                    f"warehouse commit {commit_id} does not exist",
                    hint="List commits with `ledgerhouse commits` or GET /v1/commits.",
                    commit_id=commit_id,
                )
            commit = _to_commit(row)
        if len(self._commits) > 10_000:
            self._commits.clear()
        self._commits[commit_id] = commit
        return commit

    def commit_at(self, tenant: str, ts: datetime) -> WarehouseCommit | None:
        with self.session() as s:
            row = s.scalar(
                select(CommitRow)
                .where(CommitRow.tenant_id == tenant, CommitRow.created_at <= ts)
                .order_by(CommitRow.id.desc())
                .limit(1)
            )
            return _to_commit(row) if row else None

    def commits(self, tenant: str, limit: int = 100) -> list[WarehouseCommit]:
        with self.session() as s:
            rows = s.scalars(
                select(CommitRow)
                .where(CommitRow.tenant_id == tenant)
                .order_by(CommitRow.id.desc())
                .limit(limit)
            )
            return [_to_commit(r) for r in rows]

    def record_commit(
        self,
        tenant: str,
        operation: str,
        table_versions: dict[str, int],
        changed: list[str],
        batch: tuple[str, str, dict[str, Any]] | None = None,
    ) -> WarehouseCommit:
        """Record a warehouse commit and, in the same transaction, the batch that made it.

        This single metadata transaction is the commit point of an ingestion: before it, the
        Delta versions a batch wrote are invisible to readers and rolled back by recovery.
        """
        with self.session() as s:
            row = CommitRow(
                tenant_id=tenant,
                created_at=_now(),
                operation=operation,
                batch_id=batch[0] if batch else None,
                table_versions=table_versions,
                changed_tables=changed,
            )
            s.add(row)
            s.flush()
            if batch is not None:
                batch_id, dataset, report = batch
                report = {**report, "commit_id": row.id}
                s.merge(
                    BatchRow(
                        tenant_id=tenant,
                        batch_id=batch_id,
                        dataset=dataset,
                        status="committed",
                        commit_id=row.id,
                        report=report,
                        received_at=_now(),
                    )
                )
            return _to_commit(row)

    # -- query log ----------------------------------------------------------------------------
    def record_queries(self, entries: list[dict[str, Any]]) -> None:
        if not entries:
            return
        with self.session() as s:
            s.add_all(QueryLogRow(**e) for e in entries)

    # -- machine-learning models ------------------------------------------------------------
    def record_model(
        self,
        tenant: str,
        model_id: str,
        name: str,
        training_commit: int,
        scoring_commit: int | None,
        info: dict[str, Any],
    ) -> dict[str, Any]:
        with self.session() as s:
            row = ModelRow(
                id=model_id,
                tenant_id=tenant,
                name=name,
                created_at=_now(),
                training_commit=training_commit,
                scoring_commit=scoring_commit,
                info=info,
            )
            s.add(row)
            return _model_dict(row)

    def models(self, tenant: str, limit: int = 100) -> list[dict[str, Any]]:
        q = (
            select(ModelRow)
            .where(ModelRow.tenant_id == tenant)
            .order_by(ModelRow.created_at.desc())
            .limit(limit)
        )
        with self.session() as s:
            return [_model_dict(r) for r in s.scalars(q)]

    def queries(
        self, tenant: str, *, status: str | None = None, slowest: bool = False, limit: int = 100
    ) -> list[dict[str, Any]]:
        q = select(QueryLogRow).where(QueryLogRow.tenant_id == tenant)
        if status:
            q = q.where(QueryLogRow.status == status)
        order = QueryLogRow.duration_ms.desc() if slowest else QueryLogRow.started_at.desc()
        with self.session() as s:
            return [_query_dict(r) for r in s.scalars(q.order_by(order).limit(limit))]

    def query_entry(self, tenant: str, query_id: str) -> dict[str, Any]:
        with self.session() as s:
            row = s.get(QueryLogRow, query_id)
            if row is None or row.tenant_id != tenant:
                raise NotFound(
                    f"no query {query_id!r} in the query log",
                    hint="List queries with `ledgerhouse queries` or GET /v1/queries.",
                )
            return _query_dict(row)

    # -- ingestion ledger ---------------------------------------------------------------------
    def batch(self, tenant: str, batch_id: str) -> tuple[str, dict[str, Any]] | None:
        with self.session() as s:
            row = s.get(BatchRow, (tenant, batch_id))
            return (row.status, dict(row.report)) if row else None

    def record_rejection(
        self, tenant: str, batch_id: str, dataset: str, report: dict[str, Any]
    ) -> None:
        """Remember a rejected batch (so it can be looked up); a resend is tried again."""
        with self.session() as s:
            s.merge(
                BatchRow(
                    tenant_id=tenant,
                    batch_id=batch_id,
                    dataset=dataset,
                    status="rejected",
                    commit_id=None,
                    report=report,
                    received_at=_now(),
                )
            )

    def batches(self, tenant: str, limit: int = 100) -> list[dict[str, Any]]:
        with self.session() as s:
            rows = s.scalars(
                select(BatchRow)
                .where(BatchRow.tenant_id == tenant)
                .order_by(BatchRow.received_at.desc())
                .limit(limit)
            )
            return [dict(r.report) for r in rows]


def _query_dict(row: QueryLogRow) -> dict[str, Any]:
    out = {f: getattr(row, f) for f in QUERY_LOG_FIELDS}
    out["started_at"] = _aware(row.started_at).isoformat()
    out["tenant"] = out.pop("tenant_id")
    return out


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=FULL")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()


def _model_dict(row: ModelRow) -> dict[str, Any]:
    return {
        "id": row.id,
        "name": row.name,
        "created_at": row.created_at,
        "training_commit": row.training_commit,
        "scoring_commit": row.scoring_commit,
        **row.info,
    }
