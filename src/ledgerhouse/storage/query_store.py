"""The query log in the metadata store: every query's text, route, commit, timing and outcome."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from ledgerhouse.errors import NotFound
from ledgerhouse.storage.rows import QueryLogRow, _aware

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


class QueryLogStore:
    def __init__(self, engine: Engine, sessions: sessionmaker[Session]) -> None:
        self._engine = engine
        self._sessions = sessions

    def record_queries(self, entries: list[dict[str, Any]]) -> None:
        if not entries:
            return
        with self._sessions.begin() as s:
            s.add_all(QueryLogRow(**e) for e in entries)

    def queries(
        self, tenant: str, *, status: str | None = None, slowest: bool = False, limit: int = 100
    ) -> list[dict[str, Any]]:
        q = select(QueryLogRow).where(QueryLogRow.tenant_id == tenant)
        if status:
            q = q.where(QueryLogRow.status == status)
        order = QueryLogRow.duration_ms.desc() if slowest else QueryLogRow.started_at.desc()
        with self._sessions.begin() as s:
            return [_query_dict(r) for r in s.scalars(q.order_by(order).limit(limit))]

    def query_entry(self, tenant: str, query_id: str) -> dict[str, Any]:
        with self._sessions.begin() as s:
            row = s.get(QueryLogRow, query_id)
            if row is None or row.tenant_id != tenant:
                raise NotFound(
                    f"no query {query_id!r} in the query log",
                    hint="List queries with `ledgerhouse queries` or GET /v1/queries.",
                )
            return _query_dict(row)


def _query_dict(row: QueryLogRow) -> dict[str, Any]:
    out = {f: getattr(row, f) for f in QUERY_LOG_FIELDS}
    out["started_at"] = _aware(row.started_at).isoformat()
    out["tenant"] = out.pop("tenant_id")
    return out
