"""Tenant resources in the metadata store: each tenant's overrides and its hourly usage.

Rows in ``storage/rows_resources.py`` (migration 0012). Overrides are plain dicts of the
columns that are set (a missing key is the server's default); usage is summed per tenant and
hour by ``add_usage`` (the usage meter's flush, off the request path).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from ledgerhouse.storage.rows import _aware, _now
from ledgerhouse.storage.rows_resources import TenantResourcesRow, TenantUsageRow

#: The override columns, in the order they are shown.
OVERRIDE_FIELDS = (
    "duckdb_memory_limit",
    "duckdb_threads",
    "query_concurrency",
    "query_queue",
    "query_row_limit",
    "storage_quota_bytes",
    "rate_limit_per_s",
    "rate_limit_burst",
    "result_cache_bytes",
)
#: The summed usage columns (``storage_bytes`` is a level: the latest sample wins).
USAGE_SUMS = (
    "queries",
    "query_errors",
    "throttled",
    "rows_returned",
    "bytes_scanned",
    "cpu_seconds",
    "ingest_batches",
    "ingested_rows",
)


class ResourceStore:
    def __init__(self, engine: Engine, sessions: sessionmaker[Session]) -> None:
        self._engine = engine
        self._sessions = sessions

    # -- overrides ----------------------------------------------------------------------------
    def overrides(self, tenant: str) -> dict[str, Any]:
        """The tenant's overrides that are set ({} when it has none)."""
        with self._sessions.begin() as s:
            row = s.get(TenantResourcesRow, tenant)
            return _overrides(row) if row is not None else {}

    def all_overrides(self) -> dict[str, dict[str, Any]]:
        """Every tenant's overrides that are set, by tenant (one read)."""
        with self._sessions.begin() as s:
            return {r.tenant_id: _overrides(r) for r in s.scalars(select(TenantResourcesRow))}

    def put_overrides(self, tenant: str, values: Mapping[str, Any], user: str) -> None:
        """Replace the tenant's overrides with ``values`` (a missing field is the default)."""
        with self._sessions.begin() as s:
            if not values:
                s.execute(delete(TenantResourcesRow).where(TenantResourcesRow.tenant_id == tenant))
                return
            s.merge(
                TenantResourcesRow(
                    tenant_id=tenant,
                    **{f: values.get(f) for f in OVERRIDE_FIELDS},
                    updated_at=_now(),
                    updated_by=user,
                )
            )

    # -- usage --------------------------------------------------------------------------------
    def add_usage(self, buckets: Iterable[tuple[str, datetime, Mapping[str, Any]]]) -> None:
        """Add each (tenant, hour, counts) to its stored hour, in one transaction."""
        with self._sessions.begin() as s:
            for tenant, hour, counts in buckets:
                row = s.get(TenantUsageRow, (tenant, hour))
                if row is None:
                    row = TenantUsageRow(tenant_id=tenant, hour=hour,
                                         **dict.fromkeys(USAGE_SUMS, 0))  # fmt: skip
                    s.add(row)
                for name in USAGE_SUMS:
                    if counts.get(name):
                        setattr(row, name, (getattr(row, name) or 0) + counts[name])
                if counts.get("storage_bytes") is not None:
                    row.storage_bytes = counts["storage_bytes"]

    def usage(
        self, tenant: str | None, since: datetime | None = None, until: datetime | None = None
    ) -> list[dict[str, Any]]:
        """The stored hours of ``tenant`` (every tenant when None), oldest first."""
        q = select(TenantUsageRow).order_by(TenantUsageRow.tenant_id, TenantUsageRow.hour)
        if tenant is not None:
            q = q.where(TenantUsageRow.tenant_id == tenant)
        if since is not None:
            q = q.where(TenantUsageRow.hour >= since)
        if until is not None:
            q = q.where(TenantUsageRow.hour < until)
        with self._sessions.begin() as s:
            return [
                {
                    "tenant": r.tenant_id,
                    "hour": _aware(r.hour),
                    **{n: getattr(r, n) or 0 for n in USAGE_SUMS},
                    "storage_bytes": r.storage_bytes,
                }
                for r in s.scalars(q)
            ]


def _overrides(row: TenantResourcesRow) -> dict[str, Any]:
    return {f: getattr(row, f) for f in OVERRIDE_FIELDS if getattr(row, f) is not None}
