"""A caller's session: one Principal and everything it may ask of a warehouse.

The in-process twin of the HTTP client (``ledgerhouse.client.Client``): the same calls, made
as the principal the session was opened for. Each method is one call of a domain service with
that principal; the services authorize it (``access.authorize``).

    from ledgerhouse import Warehouse
    wh = Warehouse.open(root="./warehouse")
    me = wh.local(tenant="default", roles=("reader",))   # or wh.session(principal)
    me.query("SELECT count(*) FROM fact_trade").rows()
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl

from ledgerhouse.access import Principal
from ledgerhouse.analytics import AnalyticsService, Conventions
from ledgerhouse.ingest import BatchReport
from ledgerhouse.ingest.progress import Progress
from ledgerhouse.query import AsOf, CancelToken, Explain, QueryResult
from ledgerhouse.semantic import CubeQuery, CubeResult
from ledgerhouse.storage import ApiKeyRecord, IssuedKey, WarehouseCommit

if TYPE_CHECKING:
    from ledgerhouse.services import Warehouse


class Session:
    def __init__(self, warehouse: Warehouse, principal: Principal) -> None:
        self.warehouse = warehouse
        self.principal = principal

    def __repr__(self) -> str:
        p = self.principal
        return f"<Session {p.user!r} of {p.tenant!r} as {', '.join(p.roles)}>"

    # -- reads --------------------------------------------------------------------------------
    def query(
        self,
        sql: str,
        *,
        as_of: AsOf = None,
        limit: int | None = None,
        params: list[Any] | None = None,
        timeout_s: float | None = None,
        explain: Explain = None,
        cancel: CancelToken | None = None,
        use_cache: bool = True,
    ) -> QueryResult:
        """Run one guarded SQL query on a pinned commit (the latest, or ``as_of``)."""
        return self.warehouse.queries.sql(
            self.principal, sql, as_of=as_of, limit=limit, params=params, timeout_s=timeout_s,
            explain=explain, cancel=cancel, use_cache=use_cache,
        )  # fmt: skip

    def tables(self, *, as_of: AsOf = None) -> list[dict[str, Any]]:
        """Every queryable table with its layer, description, pinned version and row count."""
        return self.warehouse.catalog.tables(self.principal, as_of=as_of)

    def commits(self, limit: int = 100) -> list[WarehouseCommit]:
        """The tenant's warehouse commits, newest first."""
        return self.warehouse.catalog.commits(self.principal, limit)

    def query_log_entries(
        self, *, status: str | None = None, slowest: bool = False, limit: int = 100
    ) -> list[dict[str, Any]]:
        """Logged queries of the tenant, newest (or slowest) first."""
        return self.warehouse.catalog.query_log_entries(
            self.principal, status=status, slowest=slowest, limit=limit
        )

    def query_log_entry(self, query_id: str, *, plan: bool = False) -> dict[str, Any]:
        """One logged query; with ``plan``, the engine's plan for it on the commit it pinned."""
        return self.warehouse.catalog.query_log_entry(self.principal, query_id, plan=plan)

    # -- cubes --------------------------------------------------------------------------------
    def cubes(self, *, as_of: AsOf = None) -> list[dict[str, Any]]:
        """Metadata of every cube, with each rollup's rows at the pinned commit."""
        return self.warehouse.cube_service.cubes(self.principal, as_of=as_of)

    def cube(
        self,
        cube: str,
        query: CubeQuery | dict[str, Any] | str,
        *,
        dry_run: bool = False,
        timeout_s: float | None = None,
        cancel: CancelToken | None = None,
    ) -> CubeResult:
        """Answer a cube query on one pinned commit (from a rollup when one answers it
        exactly); ``dry_run`` returns the plan (SQL, route) without running."""
        return self.warehouse.cube_service.cube(
            self.principal, cube, query, dry_run=dry_run, timeout_s=timeout_s, cancel=cancel
        )

    def cube_drill(
        self,
        cube: str,
        query: CubeQuery | dict[str, Any] | str,
        hierarchy: str,
        *,
        up: bool = False,
        value: Any = None,
    ) -> CubeQuery:
        """The query rolled up (``up``) or drilled down one level along ``hierarchy``."""
        return self.warehouse.cube_service.drill(
            self.principal, cube, query, hierarchy, up=up, value=value
        )

    # -- ingestion ----------------------------------------------------------------------------
    def ingest(
        self,
        dataset: str,
        data: bytes | str | Path,
        *,
        fmt: str | None = None,
        batch_id: str | None = None,
        progress: Progress | None = None,
    ) -> BatchReport:
        """Ingest one batch of ``dataset`` from bytes or a file path; exactly once."""
        return self.warehouse.ingestion.ingest(
            self.principal, dataset, data, fmt=fmt, batch_id=batch_id, progress=progress
        )

    def batch(self, batch_id: str) -> dict[str, Any]:
        """One batch's report (committed or rejected)."""
        return self.warehouse.ingestion.batch(self.principal, batch_id)

    def batches(self, limit: int = 100) -> list[dict[str, Any]]:
        """The newest batches' reports, newest first."""
        return self.warehouse.ingestion.batches(self.principal, limit)

    # -- analytics ----------------------------------------------------------------------------
    def analytics(self) -> AnalyticsService:
        """The analytics service reading as this session's principal (docs/analytics.md)."""
        return self.warehouse.analytics_jobs.service(self.principal)

    def performance(
        self,
        portfolios: list[str] | None = None,
        *,
        start: date | None = None,
        end: date | None = None,
        conventions: Conventions | dict[str, Any] | None = None,
        as_of: AsOf = None,
    ) -> tuple[pl.DataFrame, int]:
        """Performance and risk of the portfolios (all when none) on one commit: TWR,
        annualized and money-weighted returns, volatility, Sharpe, Sortino, Calmar, drawdown,
        VaR, expected shortfall, and benchmark-relative figures. The report and the commit."""
        return self.warehouse.analytics_jobs.performance(
            self.principal, portfolios, start=start, end=end, conventions=conventions, as_of=as_of
        )

    def period_returns(
        self,
        portfolios: list[str] | None = None,
        *,
        every: str = "month",
        start: date | None = None,
        end: date | None = None,
        as_of: AsOf = None,
    ) -> tuple[pl.DataFrame, int]:
        """Modified Dietz returns per month, quarter or year, chain-linked."""
        return self.warehouse.analytics_jobs.period_returns(
            self.principal, portfolios, every=every, start=start, end=end, as_of=as_of
        )

    def detect_anomalies(
        self,
        train_start: date,
        train_end: date,
        score_start: date,
        score_end: date,
        *,
        contamination: float = 0.01,
        seed: int = 0,
    ) -> dict[str, Any]:
        """Train an anomaly model, score trades, write the scores in a new commit, record the
        model; returns the model record."""
        return self.warehouse.analytics_jobs.detect_anomalies(
            self.principal, train_start, train_end, score_start, score_end,
            contamination=contamination, seed=seed,
        )  # fmt: skip

    def models(self) -> list[dict[str, Any]]:
        """The tenant's trained models, newest first, with their metadata."""
        return self.warehouse.analytics_jobs.models(self.principal)

    # -- keys (admins) ------------------------------------------------------------------------
    def create_api_key(self, user: str, roles: tuple[str, ...] = ("reader",)) -> str:
        """A new API key for ``user`` of this tenant; shown once."""
        return self.warehouse.keys.create(self.principal, user, tuple(roles))

    def list_api_keys(self, *, active: bool = False) -> list[ApiKeyRecord]:
        """The tenant's keys (never a secret or its hash)."""
        return self.warehouse.keys.list(self.principal, active=active)

    def revoke_api_key(self, key_id: int, *, force: bool = False) -> ApiKeyRecord:
        """Revoke a key; the tenant's last admin key only with ``force``."""
        return self.warehouse.keys.revoke(self.principal, key_id, force=force)

    def rotate_api_key(self, key_id: int) -> IssuedKey:
        """A new secret for the same user and roles; the old one is revoked at once."""
        return self.warehouse.keys.rotate(self.principal, key_id)
