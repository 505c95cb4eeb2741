"""Data quality in the metadata store: a tenant's own checks and every check result.

Rows in ``storage/rows_quality.py`` (migration 0006). Results are plain dicts (the shape of
``governance.quality.models.CheckResult.to_dict``): storage imports no domain.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from ledgerhouse.storage.rows import _aware, _now
from ledgerhouse.storage.rows_quality import QualityCheckRow, QualityResultRow


class QualityStore:
    def __init__(self, engine: Engine, sessions: sessionmaker[Session]) -> None:
        self._engine = engine
        self._sessions = sessions

    # -- a tenant's checks --------------------------------------------------------------------
    def checks(self, tenant: str) -> list[dict[str, Any]]:
        """The tenant's own checks (validated declarations), by name."""
        with self._sessions.begin() as s:
            rows = s.scalars(
                select(QualityCheckRow)
                .where(QualityCheckRow.tenant_id == tenant)
                .order_by(QualityCheckRow.name)
            )
            return [
                {**r.spec, "created_by": r.created_by, "created_at": _aware(r.created_at)}
                for r in rows
            ]

    def put_checks(self, tenant: str, specs: Iterable[dict[str, Any]], user: str) -> None:
        """Add the checks (one transaction); a check of the same name is replaced."""
        with self._sessions.begin() as s:
            for spec in specs:
                s.merge(
                    QualityCheckRow(
                        tenant_id=tenant,
                        name=spec["name"],
                        relation=spec["relation"],
                        kind=spec["kind"],
                        severity=spec["severity"],
                        spec=spec,
                        created_by=user,
                        created_at=_now(),
                    )
                )

    def remove_check(self, tenant: str, name: str) -> bool:
        """Remove one of the tenant's checks; False when it has none of that name."""
        with self._sessions.begin() as s:
            gone = s.execute(
                delete(QualityCheckRow).where(
                    QualityCheckRow.tenant_id == tenant, QualityCheckRow.name == name
                )
            )
            return bool(gone.rowcount)  # type: ignore[attr-defined]

    # -- results ------------------------------------------------------------------------------
    def record(
        self,
        tenant: str,
        results: Iterable[dict[str, Any]],
        *,
        commit_id: int | None,
        batch_id: str | None,
    ) -> None:
        """Record one run's results (one transaction)."""
        now = _now()
        with self._sessions.begin() as s:
            for r in results:
                s.add(
                    QualityResultRow(
                        tenant_id=tenant,
                        check_name=r["check"],
                        relation=r["relation"],
                        kind=r["kind"],
                        severity=r["severity"],
                        status=r["status"],
                        failing=int(r["failing"]),
                        rows_checked=int(r["rows_checked"]),
                        observed=r.get("observed"),
                        sample=r.get("sample") or [],
                        detail=r.get("detail") or {},
                        message=r.get("message") or "",
                        duration_ms=float(r.get("duration_ms") or 0.0),
                        commit_id=commit_id,
                        batch_id=batch_id,
                        trigger=r.get("trigger") or "commit",
                        recorded_at=now,
                    )
                )

    def results(
        self,
        tenant: str,
        *,
        relation: str | None = None,
        check: str | None = None,
        status: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int | None = 100,
        oldest_first: bool = False,
    ) -> list[dict[str, Any]]:
        """Results of the tenant, newest first (or oldest first), filtered."""
        q = select(QualityResultRow).where(QualityResultRow.tenant_id == tenant)
        if relation is not None:
            q = q.where(QualityResultRow.relation == relation)
        if check is not None:
            q = q.where(QualityResultRow.check_name == check)
        if status is not None:
            q = q.where(QualityResultRow.status == status)
        if since is not None:
            q = q.where(QualityResultRow.recorded_at >= since)
        if until is not None:
            q = q.where(QualityResultRow.recorded_at < until)
        q = q.order_by(QualityResultRow.id if oldest_first else QualityResultRow.id.desc())
        if limit is not None:
            q = q.limit(limit)
        with self._sessions.begin() as s:
            return [_result(r) for r in s.scalars(q)]

    def latest(self, tenant: str, *, published_only: bool = True) -> list[dict[str, Any]]:
        """The newest result of each check (of a commit that was published, by default)."""
        newest = select(func.max(QualityResultRow.id)).where(QualityResultRow.tenant_id == tenant)
        if published_only:
            newest = newest.where(QualityResultRow.commit_id.is_not(None))
        newest = newest.group_by(QualityResultRow.check_name, QualityResultRow.relation)
        with self._sessions.begin() as s:
            rows = s.scalars(
                select(QualityResultRow)
                .where(QualityResultRow.id.in_(newest))
                .order_by(QualityResultRow.relation, QualityResultRow.check_name)
            )
            return [_result(r) for r in rows]

    def observations(self, tenant: str, check: str, relation: str, limit: int) -> list[float]:
        """What a check observed in the newest ``limit`` commits that published it (newest
        first): the history a volume check judges a commit against."""
        with self._sessions.begin() as s:
            values = s.scalars(
                select(QualityResultRow.observed)
                .where(
                    QualityResultRow.tenant_id == tenant,
                    QualityResultRow.check_name == check,
                    QualityResultRow.relation == relation,
                    QualityResultRow.commit_id.is_not(None),
                    QualityResultRow.trigger == "commit",
                    QualityResultRow.observed.is_not(None),
                )
                .order_by(QualityResultRow.id.desc())
                .limit(limit)
            )
            return [float(v) for v in values if v is not None]


def _result(r: QualityResultRow) -> dict[str, Any]:
    return {
        "id": r.id,
        "check": r.check_name,
        "relation": r.relation,
        "kind": r.kind,
        "severity": r.severity,
        "status": r.status,
        "failing": r.failing,
        "rows_checked": r.rows_checked,
        "observed": r.observed,
        "sample": list(r.sample or []),
        "detail": dict(r.detail or {}),
        "message": r.message,
        "duration_ms": r.duration_ms,
        "commit_id": r.commit_id,
        "batch_id": r.batch_id,
        "trigger": r.trigger,
        "recorded_at": _aware(r.recorded_at).isoformat(),
    }
