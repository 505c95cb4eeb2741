"""Warehouse commits and the ingestion ledger in the metadata store.

They are one store because an ingestion records both in one transaction (``record_commit``):
that transaction is the commit point of the batch.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from ledgerhouse.errors import NotFound
from ledgerhouse.storage.rows import BatchRow, CommitRow, _aware, _now


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


class CommitLog:
    def __init__(self, engine: Engine, sessions: sessionmaker[Session]) -> None:
        self._engine = engine
        self._sessions = sessions
        self._commits: dict[int, WarehouseCommit] = {}

    # -- warehouse commits ------------------------------------------------------------------
    def latest_commit(self, tenant: str) -> WarehouseCommit | None:
        # Every query asks this: read only the newest id (a Core statement, no ORM objects),
        # and the commit itself from the cache of immutable commits.
        with self._engine.connect() as c:
            newest = c.execute(
                select(func.max(CommitRow.id)).where(CommitRow.tenant_id == tenant)
            ).scalar()
        return None if newest is None else self.commit_by_id(tenant, int(newest))

    def commit_by_id(self, tenant: str, commit_id: int) -> WarehouseCommit:
        cached = self._commits.get(commit_id)  # a recorded commit never changes
        if cached is not None and cached.tenant == tenant:
            return cached
        with self._sessions.begin() as s:
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
        with self._sessions.begin() as s:
            row = s.scalar(
                select(CommitRow)
                .where(CommitRow.tenant_id == tenant, CommitRow.created_at <= ts)
                .order_by(CommitRow.id.desc())
                .limit(1)
            )
            return _to_commit(row) if row else None

    def commits(self, tenant: str, limit: int = 100) -> list[WarehouseCommit]:
        with self._sessions.begin() as s:
            rows = s.scalars(
                select(CommitRow)
                .where(CommitRow.tenant_id == tenant)
                .order_by(CommitRow.id.desc())
                .limit(limit)
            )
            return [_to_commit(r) for r in rows]

    def versions_named(self, tenant: str) -> dict[str, set[int]]:
        """relation -> every version of it a commit of ``tenant`` names (what a reader can be
        pinned to: the files vacuum and cleanup must keep)."""
        with self._sessions.begin() as s:
            rows = s.scalars(
                select(CommitRow.table_versions).where(CommitRow.tenant_id == tenant)
            ).all()
        named: dict[str, set[int]] = {}
        for versions in rows:
            for relation, version in versions.items():
                if version is not None:
                    named.setdefault(relation, set()).add(version)
        return named

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
        with self._sessions.begin() as s:
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

    # -- ingestion ledger ---------------------------------------------------------------------
    def batch(self, tenant: str, batch_id: str) -> tuple[str, dict[str, Any]] | None:
        with self._sessions.begin() as s:
            row = s.get(BatchRow, (tenant, batch_id))
            return (row.status, dict(row.report)) if row else None

    def record_rejection(
        self,
        tenant: str,
        batch_id: str,
        dataset: str,
        report: dict[str, Any],
        status: str = "rejected",
    ) -> None:
        """Remember a rejected batch (so it can be looked up); a resend is tried again.
        ``status``: rejected, or rejected_by_quality (a quality check kept it out)."""
        with self._sessions.begin() as s:
            s.merge(
                BatchRow(
                    tenant_id=tenant,
                    batch_id=batch_id,
                    dataset=dataset,
                    status=status,
                    commit_id=None,
                    report=report,
                    received_at=_now(),
                )
            )

    def batches(self, tenant: str, limit: int = 100) -> list[dict[str, Any]]:
        with self._sessions.begin() as s:
            rows = s.scalars(
                select(BatchRow)
                .where(BatchRow.tenant_id == tenant)
                .order_by(BatchRow.received_at.desc())
                .limit(limit)
            )
            return [dict(r.report) for r in rows]

    def batches_between(
        self, tenant: str, since: datetime, until: datetime
    ) -> list[dict[str, Any]]:
        """Every batch received in [since, until), oldest first (the governance report's
        ingestion section): see ``_batch_dict``."""
        with self._sessions.begin() as s:
            rows = s.scalars(
                select(BatchRow)
                .where(
                    BatchRow.tenant_id == tenant,
                    BatchRow.received_at >= since,
                    BatchRow.received_at < until,
                )
                .order_by(BatchRow.received_at)
            )
            return [_batch_dict(r) for r in rows]

    def batches_by_id(self, tenant: str, batch_ids: Iterable[str]) -> dict[str, dict[str, Any]]:
        """Each known batch of ``batch_ids`` by id (cell lineage): see ``_batch_dict``."""
        ids = sorted(set(batch_ids))
        out: dict[str, dict[str, Any]] = {}
        with self._sessions.begin() as s:
            for start in range(0, len(ids), 500):  # bounded IN lists
                rows = s.scalars(
                    select(BatchRow).where(
                        BatchRow.tenant_id == tenant,
                        BatchRow.batch_id.in_(ids[start : start + 500]),
                    )
                )
                out.update((r.batch_id, _batch_dict(r)) for r in rows)
        return out


def _batch_dict(row: BatchRow) -> dict[str, Any]:
    """A ledger entry: batch id, dataset, status, commit, received time and its report."""
    return {
        "batch_id": row.batch_id,
        "dataset": row.dataset,
        "status": row.status,
        "commit_id": row.commit_id,
        "received_at": _aware(row.received_at).isoformat(),
        "report": dict(row.report),
    }
