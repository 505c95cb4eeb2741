"""The composition root: builds a Warehouse from Settings and wires the domain services.

Adapters (API, CLI, Python library users) hold a Warehouse and call its methods with a
Principal; nothing here is created at import time.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import polars as pl

from ledgerhouse.analytics import AnalyticsService, Conventions, TradeAnomalies
from ledgerhouse.analytics.service import Read
from ledgerhouse.config import Settings, load_settings
from ledgerhouse.errors import NotFound, scrub_paths, validated
from ledgerhouse.ingest import (
    INGEST_TABLES,
    BatchReport,
    IngestLimits,
    Ingestor,
    format_from_path,
)
from ledgerhouse.ingest.progress import Progress
from ledgerhouse.model import CORE_TABLES, MART_TABLES, MARTS, ML_TABLES, TableDef, build_dim_date
from ledgerhouse.model.schema import DIM_DATE
from ledgerhouse.query import AsOf, CancelToken, Explain, QueryResult, QueryService
from ledgerhouse.query.admission import Admission
from ledgerhouse.query.cache import ResultCache
from ledgerhouse.query.log import QueryLog
from ledgerhouse.query.marts import MartRefresher
from ledgerhouse.query.params import check_params
from ledgerhouse.semantic import CubeQuery, CubeResult, SemanticLayer, load_cubes, parse_query
from ledgerhouse.storage import (
    ApiKeyRecord,
    CommitWriter,
    DeltaStore,
    EnginePool,
    IssuedKey,
    MetadataStore,
    WarehouseCommit,
    load_engine,
)
from ledgerhouse.tenancy import Principal, authenticate, authorize, validate_tenant_name

#: Tables every warehouse has; rollup tables are added from the cube definitions.
BASE_TABLES: tuple[TableDef, ...] = (*CORE_TABLES, *MART_TABLES, *ML_TABLES, *INGEST_TABLES)


class WarehouseNotInitialized(NotFound):
    code = "warehouse_not_initialized"


class Warehouse:
    """One warehouse root: Delta tables, metadata, engines. Thread-safe for concurrent reads."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.root = settings.root.resolve()
        engine_factory = load_engine(settings.query_engine)  # before anything opens
        self.meta = MetadataStore(settings.resolved_metadata_url)
        cube_dirs = [settings.cube_dir] if settings.cube_dir else []
        self.semantic = SemanticLayer(load_cubes(cube_dirs), {t.relation for t in BASE_TABLES})
        rollups = self.semantic.rollup_marts()
        self.all_tables: tuple[TableDef, ...] = (*BASE_TABLES, *(r.table for r in rollups))
        self.relations: dict[str, TableDef] = {t.relation: t for t in self.all_tables}
        self.store = DeltaStore(self.root)
        self.engines = EnginePool(
            engine_factory,
            self.store.tenant_root,
            memory_limit=settings.duckdb_memory_limit,
            threads=settings.duckdb_threads,
            private_root=self.store.root,
        )
        self.writer = CommitWriter(self.store, self.meta, self.all_tables)  # every write
        self.ingestor = Ingestor(
            self.store,
            self.meta,
            self.writer,
            IngestLimits(
                settings.max_error_rate,
                settings.max_field_chars,
                settings.max_upload_bytes,
                settings.max_decoded_bytes,
                settings.max_batch_rows,
            ),
        )
        self.query_log = QueryLog(self.meta)
        self.queries = QueryService(
            self.store,
            self.meta,
            self.engines,
            self.relations,
            settings.query_row_limit,
            settings.query_timeout_s,
            self.query_log,
            Admission(
                settings.query_concurrency, settings.query_queue, settings.query_queue_wait_s
            ),
            ResultCache(settings.result_cache_bytes) if settings.result_cache_bytes else None,
            settings.serving_native_rows,
        )
        self.marts = MartRefresher(self.queries, (*MARTS, *rollups))
        self.writer.add_listener(self.marts.refresh)  # marts and rollups join every commit

    # -- lifecycle ----------------------------------------------------------------------------
    @classmethod
    def open(cls, settings: Settings | None = None, **overrides: Any) -> Warehouse:
        """Open an initialized warehouse (``ledgerhouse init`` creates one)."""
        settings = settings or load_settings(**overrides)
        wh = cls(settings)
        if not wh.root.is_dir() or not wh.meta.is_initialized():
            wh.close()
            raise WarehouseNotInitialized(
                f"no warehouse at {wh.root}",
                hint=f"Create one with `ledgerhouse init --root {settings.root}`.",
            )
        wh.meta.migrate()
        for tenant in wh.meta.tenants():  # tables added by a newer Ledgerhouse (e.g. marts)
            wh._add_tables(tenant)
        return wh

    @classmethod
    def init(
        cls, settings: Settings | None = None, tenant: str | None = None, **overrides: Any
    ) -> tuple[Warehouse, str | None]:
        """Create (or upgrade) the warehouse and the tenant; return it and, when the tenant is
        new, its admin API key (shown once, stored hashed)."""
        settings = settings or load_settings(**overrides)
        settings.root.mkdir(parents=True, exist_ok=True)
        wh = cls(settings)
        wh.meta.migrate()
        key = wh.create_tenant(tenant or settings.default_tenant)
        return wh, key

    def create_tenant(self, tenant: str) -> str | None:
        """Create the tenant, or add the tables a newer Ledgerhouse has; return its admin API
        key when it has none yet (a new tenant, or one whose creation a crash cut short)."""
        validate_tenant_name(tenant)
        created = self.meta.ensure_tenant(tenant)
        self._add_tables(tenant)
        if created or not self.meta.keys.records(tenant):
            return self.meta.create_api_key(tenant, "admin", ("admin",))
        return None

    def _add_tables(self, tenant: str) -> None:
        """Create, in one commit, the tables no commit of the tenant knows yet (every table for
        a new tenant); the mart listener builds a new mart or rollup from the stored facts."""
        latest = self.meta.latest_commit(tenant)
        if latest is not None and all(t.relation in latest.table_versions for t in self.all_tables):
            return  # nothing to add: do not wait for a running ingestion's lock
        with self.writer.transaction(tenant, "init") as txn:
            # A committed table keeps its committed version (recovery rolled back what a
            # crashed writer left ahead of it); only tables no commit knows are added.
            for table in self.all_tables:
                if table.relation not in txn.committed:
                    txn.create(table)
            dim_date = txn.written.get(DIM_DATE.relation)
            if dim_date is not None and not self.store.files(tenant, DIM_DATE, dim_date):
                txn.append(DIM_DATE, build_dim_date())

    def close(self) -> None:
        self.query_log.close()
        self.engines.close()
        self.meta.close()

    def __enter__(self) -> Warehouse:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- principals ---------------------------------------------------------------------------
    def local_principal(self, tenant: str | None = None) -> Principal:
        """The principal of a local (CLI / library) caller: admin of the named tenant."""
        return Principal(tenant=tenant or self.settings.default_tenant, user="local")

    def authenticate(self, authorization: str | None) -> Principal:
        return authenticate(self.meta, authorization)

    def create_api_key(
        self,
        user: str,
        roles: tuple[str, ...] = ("reader",),
        *,
        tenant: str | None = None,
        principal: Principal | None = None,
    ) -> str:
        """A new API key for ``user`` of the caller's tenant (admins only); shown once."""
        from ledgerhouse.errors import InvalidRequest

        principal = principal or self.local_principal(tenant)
        authorize(principal, "manage_keys")
        unknown = set(roles) - {"admin", "reader", "writer"}
        if unknown or not roles:
            raise InvalidRequest(
                f"unknown roles {sorted(unknown)}" if unknown else "no role given",
                hint="Use admin, writer or reader.",
            )
        if not user.strip() or len(user) > 128:
            raise InvalidRequest("user must be 1-128 characters", hint="Name the key's owner.")
        if principal.tenant not in self.meta.tenants():
            raise InvalidRequest(
                f"tenant {principal.tenant!r} does not exist",
                hint=f"Create it with `ledgerhouse init --tenant {principal.tenant}`.",
            )
        return self.meta.create_api_key(principal.tenant, user.strip(), tuple(roles))

    def list_api_keys(
        self, *, active: bool = False, tenant: str | None = None, principal: Principal | None = None
    ) -> list[ApiKeyRecord]:
        """The keys of the caller's tenant (admins only): id, user, roles, created, last used
        (to about a minute) and revoked times; never a secret or its hash."""
        principal = principal or self.local_principal(tenant)
        authorize(principal, "manage_keys")
        return self.meta.keys.records(principal.tenant, active=active)

    def revoke_api_key(
        self,
        key_id: int,
        *,
        force: bool = False,
        tenant: str | None = None,
        principal: Principal | None = None,
    ) -> ApiKeyRecord:
        """Revoke a key of the caller's tenant (admins only); it fails from the next request
        on, in every process. The tenant's last admin key is refused (409) unless ``force``."""
        principal = principal or self.local_principal(tenant)
        authorize(principal, "manage_keys")
        return self.meta.keys.revoke(principal.tenant, key_id, force=force)

    def rotate_api_key(
        self, key_id: int, *, tenant: str | None = None, principal: Principal | None = None
    ) -> IssuedKey:
        """A new secret for the same user and roles (shown once); the old key is revoked at
        once, in the same transaction (admins only)."""
        principal = principal or self.local_principal(tenant)
        authorize(principal, "manage_keys")
        return self.meta.keys.rotate(principal.tenant, key_id)

    # -- ingestion ----------------------------------------------------------------------------
    def ingest(
        self,
        dataset: str,
        data: bytes | str | Path,
        *,
        fmt: str | None = None,
        batch_id: str | None = None,
        principal: Principal | None = None,
        progress: Progress | None = None,
    ) -> BatchReport:
        """Ingest one batch of ``dataset`` from bytes or a file path; exactly once."""
        principal = principal or self.local_principal()
        authorize(principal, "ingest")
        if isinstance(data, str | Path):
            path = Path(data)
            fmt = fmt or format_from_path(path)
            payload = _read_file(path)
        else:
            payload = data
            if fmt is None:
                from ledgerhouse.errors import InvalidRequest

                raise InvalidRequest("fmt is required for bytes input", hint="Pass fmt='csv'.")
        return self.ingestor.ingest(principal.tenant, dataset, payload, fmt, batch_id, progress)

    def batch(self, batch_id: str, principal: Principal | None = None) -> dict[str, Any]:
        principal = principal or self.local_principal()
        authorize(principal, "read")
        found = self.meta.batch(principal.tenant, batch_id)
        if found is None:
            raise NotFound(
                f"no batch {batch_id!r}",
                hint="List batches with `ledgerhouse batches` or GET /v1/ingest/batches.",
            )
        return found[1]

    def batches(self, principal: Principal | None = None, limit: int = 100) -> list[dict[str, Any]]:
        principal = principal or self.local_principal()
        authorize(principal, "read")
        return self.meta.batches(principal.tenant, limit)

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
        principal: Principal | None = None,
    ) -> QueryResult:
        principal = principal or self.local_principal()
        authorize(principal, "read")
        return self.queries.sql(
            principal.tenant,
            sql,
            user=principal.user,
            as_of=as_of,
            limit=limit,
            params=check_params(params),
            timeout_s=timeout_s,
            explain=explain,
            cancel=cancel,
            use_cache=use_cache,
        )

    # -- cubes --------------------------------------------------------------------------------
    def cubes(
        self, *, as_of: AsOf = None, principal: Principal | None = None
    ) -> list[dict[str, Any]]:
        """Metadata of every cube, with each rollup's rows at the pinned commit."""
        principal = principal or self.local_principal()
        authorize(principal, "read")
        commit = self.queries.resolve_commit(principal.tenant, as_of)
        return self.semantic.describe(lambda rel: self._rows_at(principal.tenant, commit, rel))

    def cube(
        self,
        cube: str,
        query: CubeQuery | dict[str, Any] | str,
        *,
        dry_run: bool = False,
        timeout_s: float | None = None,
        cancel: CancelToken | None = None,
        principal: Principal | None = None,
    ) -> CubeResult:
        """Answer a cube query on one pinned commit, from the smallest rollup that answers it
        exactly or from the star; ``dry_run`` returns the plan (SQL, route) without running."""
        principal = principal or self.local_principal()
        authorize(principal, "read")
        q = parse_query(query)
        commit = self.queries.resolve_commit(principal.tenant, q.as_of)
        plan = self.semantic.plan(cube, q, lambda rel: self._rows_at(principal.tenant, commit, rel))
        if dry_run:
            return CubeResult(plan, None, commit.id, route=plan.route)
        res = self.queries.sql(
            principal.tenant,
            plan.sql,
            user=principal.user,
            as_of=commit.id,
            params=plan.params,
            timeout_s=timeout_s,
            cancel=cancel,
            use_cache=q.cache,
            route=plan.route,
        )
        return CubeResult(
            plan,
            self.semantic.shape(plan, res.table),
            commit.id,
            query_id=res.query_id,
            route=res.route,
            elapsed_ms=res.elapsed_ms,
            truncated=res.truncated,
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
        """The query rolled up (``up``) or drilled down one level along ``hierarchy``; with
        ``value``, drilling keeps only that member of the current level."""
        return self.semantic.drill(cube, parse_query(query), hierarchy, up=up, value=value)

    # -- analytics ----------------------------------------------------------------------------
    def _read(self, principal: Principal) -> Read:
        """The guarded reads of analytics jobs, as the caller: (frame, commit id) of a query."""

        def read(sql: str, params: list[Any], as_of: AsOf) -> tuple[pl.DataFrame, int]:
            # analytics inputs can be millions of rows: never fill the result cache with them
            res = self.queries.sql(
                principal.tenant, sql, user=principal.user, as_of=as_of, params=params,
                unlimited=True, route="analytics", use_cache=False,
            )  # fmt: skip
            return res.to_polars(), res.commit.id

        return read

    def _analytics(self, principal: Principal) -> AnalyticsService:
        return AnalyticsService(self._read(principal))

    def analytics(self, principal: Principal | None = None) -> AnalyticsService:
        """The analytics service for a caller (reads run as that caller): performance,
        period_returns, exposures, correlation, vwap, slippage (docs/analytics.md)."""
        principal = principal or self.local_principal()
        authorize(principal, "read")
        return self._analytics(principal)

    def performance(
        self,
        portfolios: list[str] | None = None,
        *,
        start: date | None = None,
        end: date | None = None,
        conventions: Conventions | dict[str, Any] | None = None,
        as_of: AsOf = None,
        principal: Principal | None = None,
    ) -> tuple[pl.DataFrame, int]:
        """Performance and risk of the named portfolios (every portfolio of the tenant when
        none) on one commit: TWR, annualized and money-weighted returns, volatility, Sharpe,
        Sortino, Calmar, drawdown with dates, VaR and expected shortfall, and beta, alpha,
        tracking error and information ratio against each portfolio's benchmark. Returns the
        report and the commit id."""
        principal = principal or self.local_principal()
        authorize(principal, "read")
        conv = _conventions(conventions)
        return self._analytics(principal).performance(portfolios, start, end, conv, as_of)

    def period_returns(
        self,
        portfolios: list[str] | None = None,
        *,
        every: str = "month",
        start: date | None = None,
        end: date | None = None,
        as_of: AsOf = None,
        principal: Principal | None = None,
    ) -> tuple[pl.DataFrame, int]:
        """Modified Dietz returns per month, quarter or year, chain-linked."""
        principal = principal or self.local_principal()
        authorize(principal, "read")
        return self._analytics(principal).period_returns(portfolios, start, end, every, as_of)

    # -- machine learning -------------------------------------------------------------------
    def detect_anomalies(
        self,
        train_start: date,
        train_end: date,
        score_start: date,
        score_end: date,
        *,
        contamination: float = 0.01,
        seed: int = 0,
        principal: Principal | None = None,
    ) -> dict[str, Any]:
        """Train an anomaly model on the trades of [train_start, train_end] (point-in-time
        features, one pinned commit), score the trades of [score_start, score_end], write the
        scores to ``ml_trade_anomaly`` in a new warehouse commit, and record the model (its
        features, training commit, parameters and results). Returns the model record."""
        principal = principal or self.local_principal()
        authorize(principal, "ingest")  # it writes a table
        job = TradeAnomalies(
            principal.tenant, self._read(principal), self.writer, self.store, self.meta
        )
        return job.detect(
            train_start, train_end, score_start, score_end, contamination=contamination, seed=seed
        )

    def models(self, principal: Principal | None = None) -> list[dict[str, Any]]:
        """The tenant's trained models, newest first, with their metadata."""
        principal = principal or self.local_principal()
        authorize(principal, "read")
        return [_relative_artifact(m, self.store.tenant_root(principal.tenant))
                for m in self.meta.models(principal.tenant)]  # fmt: skip

    def _rows_at(self, tenant: str, commit: WarehouseCommit, relation: str) -> int:
        version = commit.table_versions.get(relation)
        if version is None:
            return 0
        return self.store.row_count(tenant, self.relations[relation], version)

    def query_log_entries(
        self,
        *,
        status: str | None = None,
        slowest: bool = False,
        limit: int = 100,
        principal: Principal | None = None,
    ) -> list[dict[str, Any]]:
        """Logged queries of the tenant, newest (or slowest) first."""
        principal = principal or self.local_principal()
        authorize(principal, "read")
        self.query_log.flush()
        entries = self.meta.queries(principal.tenant, status=status, slowest=slowest, limit=limit)
        return [self._scrubbed_error(e) for e in entries]

    def query_log_entry(
        self, query_id: str, *, plan: bool = False, principal: Principal | None = None
    ) -> dict[str, Any]:
        """One logged query; with ``plan``, DuckDB's plan for it on the commit it pinned."""
        principal = principal or self.local_principal()
        authorize(principal, "read")
        self.query_log.flush()
        entry = self._scrubbed_error(self.meta.query_entry(principal.tenant, query_id))
        if plan:
            if entry["status"] == "rejected":
                entry["plan"] = None
            else:
                entry["plan"] = self.queries.plan(
                    principal.tenant, entry["text"], entry["commit_id"]
                )
        return entry

    def _scrubbed_error(self, entry: dict[str, Any]) -> dict[str, Any]:
        """A logged query whose error names no server path (an internal error's text may)."""
        if entry.get("error"):
            entry["error"] = scrub_paths(entry["error"], self.root)
        return entry

    def commits(
        self, principal: Principal | None = None, limit: int = 100
    ) -> list[WarehouseCommit]:
        principal = principal or self.local_principal()
        authorize(principal, "read")
        return self.meta.commits(principal.tenant, limit)

    def tables(
        self, *, as_of: AsOf = None, principal: Principal | None = None
    ) -> list[dict[str, Any]]:
        """Every queryable table with its layer, description, pinned version and row count."""
        principal = principal or self.local_principal()
        authorize(principal, "read")
        commit = self.queries.resolve_commit(principal.tenant, as_of)
        out = []
        for name, table in sorted(self.relations.items(), key=lambda kv: (kv[1].layer, kv[0])):
            version = commit.table_versions.get(name)
            rows = 0
            if version is not None:
                rows = self.store.row_count(principal.tenant, table, version)
            out.append(
                {
                    "name": name,
                    "layer": table.layer,
                    "description": table.description,
                    "grain": table.grain,
                    "version": version,
                    "rows": rows,
                    "partition_by": list(table.partition_by),
                    "columns": [{"name": n, "type": str(t)} for n, t in table.columns],
                    "commit_id": commit.id,
                }
            )
        return out


def _conventions(value: Conventions | dict[str, Any] | None) -> Conventions:
    if value is None or isinstance(value, Conventions):
        return value or Conventions()
    hint = "See docs/analytics.md for the conventions and their defaults."
    conventions: Conventions = validated(Conventions, value, "convention", hint)
    return conventions


def _relative_artifact(model: dict[str, Any], tenant_root: Path) -> dict[str, Any]:
    """A model record's artifact relative to the tenant root (records before 0.3 held the
    absolute path, which an answer must not show)."""
    artifact = model.get("artifact")
    if isinstance(artifact, str) and Path(artifact).is_absolute():
        path = Path(artifact)
        relative = path.relative_to(tenant_root) if path.is_relative_to(tenant_root) else path.name
        model = {**model, "artifact": str(relative)}
    return model


def _read_file(path: Path) -> bytes:
    from ledgerhouse.errors import InvalidRequest

    if not path.is_file():
        raise InvalidRequest(f"no file at {path}", hint="Check the path.")
    return path.read_bytes()
