"""A caller's session: one Principal and everything it may ask of a warehouse.

The in-process twin of the HTTP client (``ledgerhouse.client.Client``): the same calls with
the same answers (tests/interface/test_caller_behaviours.py runs one suite against both),
made as the principal the session was opened for. Each method is one call of a domain service with
that principal; the services authorize it (``access.authorize``).

    from ledgerhouse import Warehouse
    wh = Warehouse.open(root="./warehouse")
    me = wh.local(tenant="default", roles=("reader",))   # or wh.session(principal)
    me.query("SELECT count(*) FROM fact_trade").rows()
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import polars as pl

from ledgerhouse.access import Principal
from ledgerhouse.analytics import AnalyticsService, Conventions
from ledgerhouse.ingest import BatchReport
from ledgerhouse.ingest.progress import Progress
from ledgerhouse.query import AsOf, CancelToken, Explain, Export, ExportResult, QueryResult
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

    @contextmanager
    def stream(
        self,
        sql: str,
        *,
        as_of: AsOf = None,
        limit: int | None = None,
        params: list[Any] | None = None,
        timeout_s: float | None = None,
        cancel: CancelToken | None = None,
        batch_rows: int = 65_536,
    ) -> Iterator[Export]:
        """Every row of one guarded query as Arrow batches, with no row cap (``limit`` when
        given), never from the cache::

            with me.stream("SELECT * FROM fact_trade") as export:
                for batch in export.batches:  # pyarrow.RecordBatch, at most batch_rows rows
                    ...

        The query holds its admission slot and its time limit until the ``with`` ends."""
        with self.warehouse.queries.export(
            self.principal, sql, as_of=as_of, params=params, limit=limit,
            timeout_s=timeout_s, cancel=cancel, batch_rows=batch_rows,
        ) as export:  # fmt: skip
            yield export

    def export(
        self,
        sql: str,
        sink: str | Path | IO[bytes],
        *,
        format: str = "parquet",
        as_of: AsOf = None,
        limit: int | None = None,
        params: list[Any] | None = None,
        timeout_s: float | None = None,
        cancel: CancelToken | None = None,
    ) -> ExportResult:
        """Write every row of one guarded query to ``sink`` (a path, or a binary file) as
        ``parquet``, ``csv`` or ``arrow`` (an IPC stream), batch by batch. A path appears only
        once every row is written: a failure leaves no file."""
        from ledgerhouse.query.exports import check_format, write

        check_format(format)
        with self.stream(
            sql, as_of=as_of, limit=limit, params=params, timeout_s=timeout_s, cancel=cancel
        ) as export:
            size = write(export.schema, export.batches, sink, format)
        return ExportResult(export.query_id, export.commit, format, export.rows, size)

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

    def exposures(
        self,
        on: date,
        *,
        by: list[str] | None = None,
        level: str = "portfolio",
        as_of: AsOf = None,
    ) -> tuple[pl.DataFrame, int]:
        """Long, short, gross and net exposure on a day by hierarchy level (firm, desk,
        portfolio) and breakdowns ``by`` (asset_class, sector, currency, country)."""
        return self.analytics().exposures(on, by, level, as_of)

    def pnl(
        self, on: date, *, portfolios: list[str] | None = None, as_of: AsOf = None
    ) -> tuple[pl.DataFrame, int]:
        """Realized (average cost) and unrealized P&L by portfolio and instrument."""
        return self.analytics().pnl(on, portfolios, as_of)

    def reconcile_positions(self, on: date, *, as_of: AsOf = None) -> tuple[pl.DataFrame, int]:
        """Positions rebuilt from cumulative trades up to a day, beside the stored snapshot."""
        return self.analytics().reconcile_positions(on, as_of)

    def correlation(
        self,
        portfolios: list[str] | None = None,
        *,
        start: date | None = None,
        end: date | None = None,
        min_periods: int = 20,
        as_of: AsOf = None,
    ) -> tuple[pl.DataFrame, int]:
        """Correlation matrix of the portfolios' daily returns (pairwise complete)."""
        return self.analytics().correlation(portfolios, start, end, min_periods, as_of)

    def attribution(
        self,
        portfolios: list[str] | None = None,
        *,
        start: date,
        end: date,
        daily: bool = False,
        as_of: AsOf = None,
    ) -> tuple[pl.DataFrame, int]:
        """Brinson-Fachler allocation, selection and interaction by sector against each
        portfolio's benchmark, linked over the period (Carino) or per day."""
        return self.analytics().attribution(portfolios, start, end, daily, as_of)

    def vwap(
        self, start: date, end: date, *, instrument: str | None = None, as_of: AsOf = None
    ) -> tuple[pl.DataFrame, int]:
        """VWAP and TWAP per instrument and day."""
        return self.analytics().vwap(start, end, instrument, as_of)

    def slippage(
        self, start: date, end: date, *, instrument: str | None = None, as_of: AsOf = None
    ) -> tuple[pl.DataFrame, int]:
        """Each trade against the prevailing close (as-of join), slippage in basis points."""
        return self.analytics().slippage(start, end, instrument, as_of)

    def detect_anomalies(
        self,
        train_start: date,
        train_end: date,
        score_start: date,
        score_end: date,
        *,
        contamination: float = 0.01,
        seed: int = 0,
        timeout_s: float | None = None,
        progress: Progress | None = None,
    ) -> dict[str, Any]:
        """Train an anomaly model, score trades, write the scores in a new commit, record the
        model; returns the model record. ``timeout_s`` limits each of its reads (capped by
        ``query_timeout_s``); ``progress`` hears each stage as it starts."""
        return self.warehouse.analytics_jobs.detect_anomalies(
            self.principal, train_start, train_end, score_start, score_end,
            contamination=contamination, seed=seed, timeout_s=timeout_s, progress=progress,
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
