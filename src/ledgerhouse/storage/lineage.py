"""The lineage store: graph snapshots by digest, each commit's digest, and what cell lineage
needs of the ingestion ledger (a batch's dataset, received time and report)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from ledgerhouse.storage.rows_lineage import CommitLineageRow, LineageSnapshotRow


def _aware(ts: datetime) -> datetime:
    return ts if ts.tzinfo else ts.replace(tzinfo=UTC)


class LineageStore:
    def __init__(self, engine: Engine, sessions: sessionmaker[Session]) -> None:
        self._engine = engine
        self._sessions = sessions
        self._known: set[str] = set()  # digests stored (this process saw them)

    def save_snapshot(self, digest: str, graph: dict[str, Any]) -> None:
        """Store ``graph`` under ``digest`` unless it is there already."""
        if digest in self._known:
            return
        try:
            with self._sessions.begin() as s:
                if s.get(LineageSnapshotRow, digest) is None:
                    s.add(
                        LineageSnapshotRow(digest=digest, created_at=datetime.now(UTC), graph=graph)
                    )
        except IntegrityError:  # another process stored the same graph first
            pass
        self._known.add(digest)

    def snapshot(self, digest: str) -> dict[str, Any] | None:
        with self._sessions.begin() as s:
            row = s.get(LineageSnapshotRow, digest)
            return dict(row.graph) if row is not None else None

    def link(self, tenant: str, commit_id: int, digest: str) -> None:
        """Record that ``commit_id`` of ``tenant`` was made under graph ``digest``."""
        with self._sessions.begin() as s:
            s.merge(CommitLineageRow(tenant_id=tenant, commit_id=commit_id, digest=digest))

    def digest_at(self, tenant: str, commit_id: int) -> str | None:
        """The digest of the newest linked commit at or before ``commit_id`` (None: no commit
        of the tenant up to it was linked, e.g. made before lineage was recorded)."""
        with self._sessions.begin() as s:
            row = s.scalars(
                select(CommitLineageRow)
                .where(CommitLineageRow.tenant_id == tenant)
                .where(CommitLineageRow.commit_id <= commit_id)
                .order_by(CommitLineageRow.commit_id.desc())
                .limit(1)
            ).first()
            return row.digest if row is not None else None

    def exact_digest(self, tenant: str, commit_id: int) -> str | None:
        with self._sessions.begin() as s:
            row = s.get(CommitLineageRow, (tenant, commit_id))
            return row.digest if row is not None else None
