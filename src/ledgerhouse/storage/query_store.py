"""The query log in the metadata store: every query's text, route, commit, timing and outcome,
its request (a cube or analytics call's), the relations and versions it read and the columns.

``record_queries`` can chain the queries' audit entries (``storage/audit.py``) in the same
transaction: one commit (one fsync with SQLite) for both, off the query path."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from ledgerhouse.errors import NotFound
from ledgerhouse.storage.rows import QueryLogRow, _aware

if TYPE_CHECKING:
    from ledgerhouse.storage.audit import AuditItem, AuditStore

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
    "request",
    "relations",
    "columns",
)


class QueryLogStore:
    def __init__(
        self, engine: Engine, sessions: sessionmaker[Session], audit: AuditStore | None = None
    ) -> None:
        self._engine = engine
        self._sessions = sessions
        self._audit = audit

    def record_queries(
        self, entries: list[dict[str, Any]], audit: Sequence[AuditItem] = ()
    ) -> None:
        """Store query-log entries (the row's fields; other keys are ignored) and append
        ``audit`` to the audit trail, in one transaction."""
        if not entries and not audit:
            return
        fields = set(QUERY_LOG_FIELDS) | {"tenant_id"}
        if not audit or self._audit is None:
            with self._sessions.begin() as s:
                s.add_all(QueryLogRow(**_row(e, fields)) for e in entries)
            return
        chain = self._audit

        def work(s: Session) -> None:  # run again from the start when a chain head moved
            s.add_all(QueryLogRow(**_row(e, fields)) for e in entries)
            chain.chain(s, audit)

        chain.run(work)

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


def _row(entry: dict[str, Any], fields: set[str]) -> dict[str, Any]:
    return {k: v for k, v in entry.items() if k in fields}


def _query_dict(row: QueryLogRow) -> dict[str, Any]:
    out = {f: getattr(row, f) for f in QUERY_LOG_FIELDS}
    out["started_at"] = _aware(row.started_at).isoformat()
    out["tenant"] = out.pop("tenant_id")
    return out
