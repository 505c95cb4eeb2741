"""The composition root: builds a Warehouse from Settings and wires the domain services.

Adapters (API, CLI, Python library users) hold a Warehouse and call it through a Session of
one Principal (``wh.local(tenant=..., roles=...)``, ``wh.session(principal)``): every domain
service takes the caller's Principal. Nothing here is created at import time.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from ledgerhouse.access import Principal
from ledgerhouse.analytics import Analytics
from ledgerhouse.config import Settings, load_settings
from ledgerhouse.errors import NotFound
from ledgerhouse.governance.audit import AuditService
from ledgerhouse.ingest import INGEST_TABLES, IngestLimits, Ingestor, IngestService
from ledgerhouse.ingest.plausibility import IngestRules
from ledgerhouse.ingest.upgrade import upgrade_fillers
from ledgerhouse.model import CORE_TABLES, MART_TABLES, MARTS, ML_TABLES, TableDef, build_dim_date
from ledgerhouse.model.schema import DIM_DATE
from ledgerhouse.query import Catalog, QueryService
from ledgerhouse.query.admission import Admission
from ledgerhouse.query.cache import ResultCache
from ledgerhouse.query.log import QueryLog
from ledgerhouse.query.marts import MartRefresher
from ledgerhouse.semantic import CubeService, SemanticLayer, load_cubes
from ledgerhouse.session import Session
from ledgerhouse.storage import CommitWriter, DeltaStore, EnginePool, MetadataStore, load_engine
from ledgerhouse.storage.upgrade import Upgrader, UpgradeReport
from ledgerhouse.tenancy import KeyService, authenticate, validate_tenant_name

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
        self.semantic = SemanticLayer(
            load_cubes(cube_dirs),
            {t.relation: t for t in BASE_TABLES},
            reporting_currency=settings.reporting_currency,
        )
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
                IngestRules(
                    settings.max_future_days,
                    settings.allow_non_business_days,
                    settings.price_band,
                    settings.price_jump_factor,
                    settings.notional_outlier_factor,
                    settings.notional_outlier_min_history,
                    settings.notional_outlier_action,
                ),
            ),
            reporting_currency=settings.reporting_currency,
        )
        self.query_log = QueryLog(
            self.meta,
            {r: [c for c, _ in t.columns] for r, t in self.relations.items()},
            lineage_capture=settings.lineage_capture,
        )
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
            {m.table.relation: (*m.sources, *m.dimensions) for m in (*MARTS, *rollups)},
        )
        self.marts = MartRefresher(self.queries, (*MARTS, *rollups))
        self.writer.add_listener(self.marts.refresh)  # marts and rollups join every commit
        # the quality checks, after the marts (they are checked too) (docs/governance/quality.md)
        self.quality = _quality_service(self)
        # OpenLineage run events of every writing transaction (docs/governance/openlineage.md)
        self.openlineage = _openlineage_emitter(self, settings, (*MARTS, *rollups))
        # the domain services a Session calls, each with the caller's Principal
        self.ingestion = IngestService(self.ingestor, self.meta)
        self.catalog = Catalog(self.queries, self.meta, self.root)
        self.cube_service = CubeService(self.semantic, self.queries)
        self.analytics_jobs = Analytics(self.queries, self.writer, self.store, self.meta)
        self.keys = KeyService(self.meta)
        self.audit = AuditService(self.meta, self.query_log.flush)  # read_audit: the trail
        # table and column lineage per commit, cell lineage (docs/governance/lineage.md)
        self.lineage = _lineage_service(self, (*MARTS, *rollups))
        # owners, descriptions, tags, classifications, glossary; catalog search
        # (docs/governance/metadata.md, docs/governance/catalog.md)
        self.metadata, self.catalog_index = _metadata_and_catalog(self, (*MARTS, *rollups))
        # the governance report of a period, from the stores above (docs/governance/report.md)
        self.governance_reports = _governance_reports(self)

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
        try:
            for tenant in wh.meta.tenants_store.tenants():
                latest = wh.meta.commit_log.latest_commit(tenant)
                if latest is not None:  # an older layout: stop before anything writes
                    wh._check_layouts(tenant, latest.table_versions)
                # tables added by a newer Ledgerhouse (e.g. marts)
                wh._add_tables(tenant)
        except BaseException:
            wh.close()
            raise
        return wh

    @classmethod
    def upgrade(
        cls,
        settings: Settings | None = None,
        *,
        tenant: str | None = None,
        dry_run: bool = False,
        progress: Callable[[str, str, str], None] | None = None,
        **overrides: Any,
    ) -> list[UpgradeReport]:
        """Rewrite the tables an older Ledgerhouse wrote (``Warehouse.open`` refuses them) in
        one new commit per tenant (``tenant``, or every tenant); ``dry_run`` reports what it
        would rewrite, and how many values need rounding, without writing. Commits before the
        upgrade still read as they did (docs/storage.md, upgrading). ``progress(tenant,
        relation, what)`` hears each table start and end. A tenant already upgraded has
        nothing to do (``report.up_to_date``)."""
        settings = settings or load_settings(**overrides)
        wh = cls(settings)
        try:
            if not wh.root.is_dir() or not wh.meta.is_initialized():
                raise WarehouseNotInitialized(
                    f"no warehouse at {wh.root}",
                    hint=f"Create one with `ledgerhouse init --root {settings.root}`.",
                )
            wh.meta.migrate()
            known = wh.meta.tenants_store.tenants()
            tenants = [validate_tenant_name(tenant)] if tenant else list(known)
            if tenant and tenant not in known:
                raise NotFound(f"no tenant {tenant!r} in {wh.root}", tenant=tenant)
            upgrader = wh._upgrader()
            reports = []
            for name in tenants:

                def say(relation: str, what: str, name: str = name) -> None:
                    if progress is not None:
                        progress(name, relation, what)

                reports.append(upgrader.upgrade(name, dry_run=dry_run, progress=say))
                if not dry_run:
                    wh._add_tables(name)  # tables this release adds, as open would
            return reports
        finally:
            wh.close()

    def _upgrader(self) -> Upgrader:
        """The layout check and upgrade of this release's tables (storage/upgrade.py), with the
        mart refresher to rebuild a derived table and the fillers of computable columns."""
        derived = (*MARTS, *self.semantic.rollup_marts())

        def rebuild(tenant: str, relation: str, versions: dict[str, int]) -> int:
            mart = next(m for m in derived if m.table.relation == relation)
            written = MartRefresher(self.queries, (mart,)).refresh(tenant, {}, versions)
            return written.get(relation, versions[relation])

        return Upgrader(
            self.store,
            self.writer,
            self.all_tables,
            derived,
            rebuild,
            upgrade_fillers(self.settings.reporting_currency),
        )

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
        created = self.meta.tenants_store.ensure_tenant(tenant)
        self._add_tables(tenant)
        if created or not self.meta.keys.records(tenant):
            return self.meta.keys.issue(tenant, "admin", ("admin",)).secret
        return None

    def _add_tables(self, tenant: str) -> None:
        """Create, in one commit, the tables no commit of the tenant knows yet (every table for
        a new tenant); the mart listener builds a new mart or rollup from the stored facts."""
        latest = self.meta.commit_log.latest_commit(tenant)
        if latest is not None and all(t.relation in latest.table_versions for t in self.all_tables):
            return  # nothing to add: do not wait for a running ingestion's lock
        if latest is not None:
            self._check_layouts(tenant, latest.table_versions)
        with self.writer.transaction(tenant, "init") as txn:
            # A committed table keeps its committed version (recovery rolled back what a
            # crashed writer left ahead of it); only tables no commit knows are added.
            for table in self.all_tables:
                if table.relation not in txn.committed:
                    txn.create(table)
            dim_date = txn.written.get(DIM_DATE.relation)
            if dim_date is not None and not self.store.files(tenant, DIM_DATE, dim_date):
                txn.append(DIM_DATE, build_dim_date())

    def _check_layouts(self, tenant: str, versions: dict[str, int]) -> None:
        """Stop with what to do when a committed table has an older layout (another column
        type, a missing column): reading or writing it would fail or mix types. The fix is
        ``ledgerhouse upgrade`` (``UpgradeRequired``), or re-ingesting when a missing column
        cannot be computed from what is stored (``UpgradeImpossible``). Nothing is changed."""
        self._upgrader().check(tenant, versions)

    def close(self) -> None:
        self.quality.monitor.alerts.close()
        self.openlineage.close()
        self.query_log.close()
        self.engines.close()
        self.meta.close()

    def __enter__(self) -> Warehouse:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- callers ------------------------------------------------------------------------------
    def authenticate(self, authorization: str | None) -> Principal:
        """The principal of an ``Authorization: Bearer <key>`` header (401 when not valid)."""
        return authenticate(self.meta, authorization)

    def session(self, principal: Principal) -> Session:
        """A session that calls the warehouse as ``principal``."""
        if not isinstance(principal, Principal):
            raise TypeError(f"a session needs a Principal, not {type(principal).__name__}")
        return Session(self, principal)

    def local(
        self, tenant: str | None = None, *, roles: Iterable[str], user: str = "local"
    ) -> Session:
        """A session for a local (library or CLI) caller: ``user`` of ``tenant`` (the default
        tenant when None) with the ``roles`` named, never an implicit admin."""
        name = validate_tenant_name(tenant or self.settings.default_tenant)
        return self.session(Principal(tenant=name, user=user, roles=tuple(roles)))

    if not TYPE_CHECKING:

        def __getattr__(self, name: str) -> Any:
            # Warehouse.query(...) and friends (before 0.2) are calls of a session now
            if name in _SESSION_CALLS:
                raise AttributeError(
                    f"Warehouse.{name} is a call of a session: use "
                    f"wh.local(tenant=..., roles=[...]).{name}(...), or "
                    f"wh.session(principal).{name}(...)",
                    name=name,
                    obj=self,
                )
            raise AttributeError(
                f"{type(self).__name__!r} object has no attribute {name!r}", name=name, obj=self
            )


def _openlineage_emitter(wh: Warehouse, settings: Settings, derived: Iterable[Any]) -> Any:
    """The OpenLineage observer, registered on the commit writer unless ``openlineage=off``;
    column lineage and inputs come from the lineage service's current graph."""
    from ledgerhouse.governance.lineage.openlineage import OpenLineageEmitter

    emitter = OpenLineageEmitter(
        wh.root,
        wh.relations,
        {m.table.relation for m in derived},
        lambda tenant: wh.lineage.current(tenant),
        mode=settings.openlineage,
        url=settings.openlineage_url,
        api_key=settings.openlineage_api_key,
        # the features of the anomaly scores read the trades and the prices (analytics/ml.py)
        extra_inputs={"ml_trade_anomaly": ("fact_trade", "fact_price")},
    )
    if settings.openlineage != "off":
        wh.writer.add_observer(emitter)
    return emitter


def _lineage_service(wh: Warehouse, derived: Iterable[Any]) -> Any:
    """The lineage service: the graph of the marts' and rollups' SQL, ingestion's declared
    transforms and the cubes, linked to every new commit by an observer; cell lineage through
    the query and cube services as the caller."""
    from functools import cache

    from ledgerhouse.governance.lineage.build import build_graph
    from ledgerhouse.governance.lineage.cells import CellLineage, CellPorts
    from ledgerhouse.governance.lineage.service import LineageRecorder, LineageService
    from ledgerhouse.ingest.lineage import declared_transforms
    from ledgerhouse.semantic import parse_query

    marts = tuple(derived)

    @cache
    def graph(_tenant: str) -> Any:  # every tenant sees the same cubes today
        return build_graph(wh.all_tables, marts, declared_transforms(), wh.semantic.lineage_specs())

    def entry(tenant: str, query_id: str) -> dict[str, Any]:
        wh.query_log.flush()
        return wh.meta.query_store.query_entry(tenant, query_id)

    def cube_answer(principal: Principal, cube: str, query: dict[str, Any], commit: int) -> Any:
        return wh.cube_service.cube(principal, cube, {**query, "as_of": commit}).table

    def provenance(cube: str, query: dict[str, Any], row: dict[str, Any]) -> dict[str, Any]:
        return wh.semantic.provenance(cube, parse_query(query, cube), row)

    service = LineageService(wh.meta.lineage, graph, wh.queries.resolve_commit)
    service.cells = CellLineage(
        CellPorts(
            queries=wh.queries,
            entry=entry,
            cube_answer=cube_answer,
            cube_provenance=provenance,
            batches=wh.meta.commit_log.batches_by_id,
            files=lambda tenant, rel, v: wh.store.files(tenant, wh.relations[rel], v),
            graph_at=service.graph_at,
            tenant_root=wh.store.tenant_root,
            derived_from={m.table.relation: (*m.sources, *m.dimensions) for m in marts},
            mart_sql={m.table.relation: m.sql for m in MARTS},
        )
    )
    wh.writer.add_observer(LineageRecorder(service))
    return service


def _metadata_and_catalog(wh: Warehouse, derived: Iterable[Any]) -> tuple[Any, Any]:
    """The metadata service (annotations over the TableDefs and the cubes, Delta descriptions
    through the commit writer) and catalog search, with the lineage graph, the quality score,
    the row counts (``QueryService.rows_at``) and sample values read as the caller through
    the guarded query service."""
    from ledgerhouse.governance.catalog import CatalogSearch, StaticLineage
    from ledgerhouse.governance.metadata import MetadataService
    from ledgerhouse.model.values import json_rows

    metadata = MetadataService(
        wh.meta, wh.writer, wh.relations, lambda _tenant: wh.semantic.describe()
    )  # every tenant has the same cubes today
    static = StaticLineage({m.table.relation: (*m.sources, *m.dimensions) for m in derived})

    def lineage(tenant: str) -> Any:
        service = getattr(wh, "lineage", None)
        return service.current(tenant) if service is not None else static

    def quality(tenant: str) -> dict[str, float | None]:
        return dict(wh.quality.scores_of(tenant))  # {relation: score}, one read per search

    def sample(principal: Principal, sql: str, limit: int) -> tuple[list[str], list[list[Any]]]:
        from decimal import Decimal

        res = wh.queries.sql(principal, sql, limit=limit, route="catalog_sample")
        # JSON values; a decimal as its text (every digit), the same in process and over HTTP
        rows = [[str(v) if isinstance(v, Decimal) else v for v in r] for r in json_rows(res.table)]
        return list(res.table.column_names), rows

    search = CatalogSearch(
        metadata, wh.meta, rows=wh.queries.rows_at, lineage=lineage, quality=quality,
        sample=sample,
    )  # fmt: skip
    return metadata, search


def _quality_service(wh: Warehouse) -> Any:
    """The quality checks: a commit listener (after the mart refresher) that refuses a commit
    when an ``error`` check fails, and an observer that records the results and sends alerts;
    the SQL runs on pinned sessions of the mart refresher (governance does not import query)."""
    from ledgerhouse.governance.quality import (
        CheckCatalog,
        KindRegistry,
        QualityMonitor,
        QualityService,
        WebhookAlerts,
    )

    catalog = CheckCatalog(
        KindRegistry.default(), wh.relations, wh.meta.quality, wh.marts.guard, wh.settings.cube_dir
    )
    alerts = WebhookAlerts(wh.settings.quality_webhook_url)
    monitor = QualityMonitor(catalog, wh.marts, wh.writer, wh.meta.quality, alerts)
    wh.writer.add_listener(monitor.on_commit)
    wh.writer.add_observer(monitor)
    return QualityService(monitor, wh.meta)


_SESSION_CALLS = frozenset(n for n in vars(Session) if not n.startswith("_"))


def _governance_reports(wh: Warehouse) -> Any:
    """The governance report, each section read from the store that holds its figures: the
    quality results, the ingestion ledger, the lineage graph, the metadata (classifications
    and changes) and the audit trail."""
    from ledgerhouse.governance.report import GovernanceReports, ReportSources

    def accesses(tenant: str, since: Any, until: Any) -> list[dict[str, Any]]:
        wh.query_log.flush()  # the reads logged so far are in the trail
        return wh.meta.audit.reads(tenant, since, until)

    return GovernanceReports(
        ReportSources(
            quality_results=wh.quality.results_between,
            quality_scores=wh.quality.scores_of,
            quality_trend=wh.quality.trend_between,
            batches=wh.meta.commit_log.batches_between,
            freshness=wh.quality.freshness,
            lineage_coverage=lambda tenant: wh.lineage.current(tenant).coverage(),
            classifications=wh.metadata.classifications,
            accesses=accesses,
            metadata_changes=wh.metadata.metadata_changes,
        )
    )
