"""The query log in the metadata store: every query's text, route, commit, timing and outcome,
its request (a cube or analytics call's), the relations and versions it read and the columns.

``record_queries`` can chain the queries' audit entries (``storage/audit.py``) in the same
transaction: one commit (one fsync with SQLite) for both, off the query path."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any
from uuid import UUID

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
    "params",
)

#: The most characters of encoded parameters an entry keeps; larger ones are omitted (the
#: entry says so: ``params_omitted``) so one query cannot bloat the log.
MAX_PARAMS_CHARS = 32_768


def encode_params(params: Sequence[Any] | None) -> dict[str, Any] | None:
    """A query's parameters as JSON that gives them back exactly: ``{"values": [...]}`` with
    each Decimal, date, time, timestamp, interval, UUID (and a non-finite float) as
    ``{"type": ..., "value": <exact text>}``; ``{"omitted": {...}}`` when the encoded values
    are longer than ``MAX_PARAMS_CHARS``; None without parameters."""
    if params is None:
        return None
    values = [_encode_param(v) for v in params]
    size = len(json.dumps(values, separators=(",", ":")))
    if size > MAX_PARAMS_CHARS:
        return {
            "omitted": {
                "count": len(values),
                "chars": size,
                "reason": f"the parameters' encoded size ({size} characters) is over the "
                f"{MAX_PARAMS_CHARS} the query log keeps",
            }
        }
    return {"values": values}


def decode_params(stored: dict[str, Any] | None) -> list[Any] | None:
    """The parameters ``encode_params`` stored (None when there were none or they were
    omitted)."""
    if not stored or "values" not in stored:
        return None
    return [_decode_param(v) for v in stored["values"]]


def _encode_param(v: Any) -> Any:
    if v is None or isinstance(v, bool | int | str):
        return v
    if isinstance(v, float):
        return v if math.isfinite(v) else {"type": "float", "value": repr(v)}
    if isinstance(v, Decimal):
        return {"type": "decimal", "value": str(v)}
    if isinstance(v, datetime):  # before date: a datetime is a date
        return {"type": "timestamp", "value": v.isoformat()}
    if isinstance(v, date):
        return {"type": "date", "value": v.isoformat()}
    if isinstance(v, time):
        return {"type": "time", "value": v.isoformat()}
    if isinstance(v, timedelta):
        return {"type": "interval", "value": [v.days, v.seconds, v.microseconds]}
    if isinstance(v, UUID):
        return {"type": "uuid", "value": str(v)}
    return {"type": "text", "value": str(v)}  # check_params lets nothing else through


_DECODERS: dict[str, Any] = {
    "float": float,
    "decimal": Decimal,
    "timestamp": datetime.fromisoformat,
    "date": date.fromisoformat,
    "time": time.fromisoformat,
    "interval": lambda parts: timedelta(days=parts[0], seconds=parts[1], microseconds=parts[2]),
    "uuid": UUID,
    "text": str,
}


def _decode_param(v: Any) -> Any:
    if isinstance(v, dict):
        return _DECODERS[v["type"]](v["value"])
    return v


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

    def cube_requests(
        self, tenant: str, since: datetime, *, limit: int = 20_000
    ) -> list[dict[str, Any]]:
        """The tenant's answered cube requests since ``since``, newest first: request, route
        (raw, cache or rollup:<name>), duration, user (what the rollup advisor reads)."""
        cols = (QueryLogRow.request, QueryLogRow.route, QueryLogRow.duration_ms,
                QueryLogRow.user, QueryLogRow.status)  # fmt: skip
        q = (
            select(*cols)
            .where(QueryLogRow.tenant_id == tenant, QueryLogRow.started_at >= since)
            .where(QueryLogRow.status == "ok")
            .where(QueryLogRow.route.in_(("raw", "cache")) | QueryLogRow.route.like("rollup:%"))
            .order_by(QueryLogRow.started_at.desc())
            .limit(limit)
        )
        with self._sessions.begin() as s:
            rows = s.execute(q).all()
        return [
            {"request": r[0], "route": r[1], "duration_ms": r[2], "user": r[3], "status": r[4]}
            for r in rows
            if isinstance(r[0], dict) and r[0].get("kind") == "cube"
        ]

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
    out = {k: v for k, v in entry.items() if k in fields}
    if "params" in out:
        out["params"] = encode_params(out["params"])
    return out


def _query_dict(row: QueryLogRow) -> dict[str, Any]:
    out = {f: getattr(row, f) for f in QUERY_LOG_FIELDS}
    out["started_at"] = _aware(row.started_at).isoformat()
    out["tenant"] = out.pop("tenant_id")
    stored = out["params"]
    out["params"] = decode_params(stored)
    out["params_omitted"] = stored.get("omitted") if stored else None
    return out
