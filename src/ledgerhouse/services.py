"""The composition root: builds a Warehouse from Settings and wires the domain services.

Adapters (API, CLI, Python library users) hold a Warehouse and call it through a Session of
one Principal (``wh.local(tenant=..., roles=...)``, ``wh.session(principal)``): every domain
service takes the caller's Principal. Nothing here is created at import time.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ledgerhouse.access import Principal
from ledgerhouse.analytics import Analytics
from ledgerhouse.config import Settings, load_settings
from ledgerhouse.errors import LedgerhouseError, NotFound
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
from ledgerhouse.tenancy.lifecycle import PlatformSession, TenantService
from ledgerhouse.tenancy.oidc import bearer_jwt, build_verifier, sso_not_configured

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
        # platform admins: create, suspend, resume, delete tenants (docs/tenancy/lifecycle.md)
        self.tenants_admin = _tenant_lifecycle(self)
        self.audit = AuditService(self.meta, self.query_log.flush)  # read_audit: the trail
        # table and column lineage per commit, cell lineage (docs/governance/lineage.md)
        self.lineage = _lineage_service(self, (*MARTS, *rollups))
        # owners, descriptions, tags, classifications, glossary; catalog search
        # (docs/governance/metadata.md, docs/governance/catalog.md)
        self.metadata, self.catalog_index = _metadata_and_catalog(self, (*MARTS, *rollups))
        # each tenant's own extensions, cubes and marts (docs/tenancy/schemas.md)
        self.schemas, self.tenant_layer = _tenant_schemas(self)
        # the governance report of a period, from the stores above (docs/governance/report.md)
        self.governance_reports = _governance_reports(self)
        # per-tenant limits, quotas and usage metering (docs/tenancy/resources.md)
        self.resources, self.usage = _resources(self)
        # roles, grants, row and column policies on every read (docs/tenancy/access.md)
        self.access = _access_control(self, rollups)
        # rollups proposed from each tenant's query log, applied on request or automatically
        self.advisor, self.auto_advisor = _rollup_advisor(self)
        # backups of this root: consistent while serving, incremental (docs/operations.md)
        self.backups = _backups(self)
        # the tables against what the commits name: `check`, and damaged-storage errors
        self.checker = _storage_checker(self)
        self.maintenance = _maintenance(self)
        # single sign-on tokens, when configured; nothing is read until one arrives
        self.sso = build_verifier(settings, self.meta)

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

    @classmethod
    def restore(
        cls,
        repository: Path,
        new_root: Path,
        *,
        backup: str | None = None,
        as_of: int | None = None,
        progress: Callable[[str], None] | None = None,
    ) -> Any:
        """Restore a backup (``ledgerhouse backup --to``; the newest, or ``backup``) into
        ``new_root``, which must be new or empty; ``as_of`` keeps the commits up to that
        commit id (the tables' later versions rolled back here). Returns the report."""
        settings = load_settings(root=new_root)
        report = offline_backups(settings).restore(
            repository, new_root, backup=backup, as_of=as_of, progress=progress
        )
        with cls.open(settings) as restored:  # the restored store, migrated and recovered
            for tenant in restored.meta.tenants_store.tenants():
                with restored.writer.writer_lock(tenant):
                    latest = restored.meta.commit_log.latest_commit(tenant)
                    restored.writer.recover(tenant, latest)
        return report

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
        self.tenants_admin.refuse_deleted(tenant)  # its name is not free until purged
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
        if self.auto_advisor is not None:  # its runs read the engines
            self.auto_advisor.close()
        self.usage.close()  # its last counts, before the metadata store closes
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
        """The principal of an ``Authorization: Bearer <key>`` header (401 when not valid);
        a bearer JWT is a single sign-on token (docs/tenancy/sso.md)."""
        token = bearer_jwt(authorization)
        if token is None:
            principal = authenticate(self.meta, authorization)
        elif self.sso is None:
            raise sso_not_configured()
        else:
            principal = self.sso.principal(token)
        self.tenants_admin.check(principal)  # a suspended or deleted tenant: 403, either path
        return principal

    def session(self, principal: Principal) -> Session:
        """A session that calls the warehouse as ``principal``."""
        if not isinstance(principal, Principal):
            raise TypeError(f"a session needs a Principal, not {type(principal).__name__}")
        if self.queries.policies is not None:  # its tenant's grants, read live
            principal = self.queries.policies.attach(principal)
        return Session(self, principal)

    def local(
        self, tenant: str | None = None, *, roles: Iterable[str], user: str = "local"
    ) -> Session:
        """A session for a local (library or CLI) caller: ``user`` of ``tenant`` (the default
        tenant when None) with the ``roles`` named, never an implicit admin."""
        name = validate_tenant_name(tenant or self.settings.default_tenant)
        self.tenants_admin.check_tenant(name)  # a suspended or deleted tenant: refused
        return self.session(Principal(tenant=name, user=user, roles=tuple(roles)))

    def _tenant_names(self, tenant: str | None) -> list[str]:
        """``tenant`` (checked), or every tenant of the warehouse."""
        if tenant:
            return [validate_tenant_name(tenant)]
        return list(self.meta.tenants_store.tenants())

    def check(
        self, tenant: str | None = None, *, every_commit: bool = False, deep: bool = False
    ) -> list[Any]:
        """The storage's problems (storage/maintenance.py ``Maintenance.check``)."""
        return self.maintenance.check(tenant, every_commit=every_commit, deep=deep)

    def vacuum(
        self, tenant: str | None = None, *, older_than_s: float = 3600.0, dry_run: bool = False
    ) -> list[Any]:
        """Remove the files no commit references (``Maintenance.vacuum``)."""
        return self.maintenance.vacuum(tenant, older_than_s=older_than_s, dry_run=dry_run)

    def compact(
        self,
        tenant: str | None = None,
        *,
        tables: Iterable[str] | None = None,
        target_mb: float = 128.0,
        sort_by: Iterable[str] = (),
        min_files: int = 2,
    ) -> list[dict[str, Any]]:
        """Compact small files in one commit that changes no answer (``Maintenance.compact``)."""
        return self.maintenance.compact(
            tenant, tables=tables, target_mb=target_mb, sort_by=sort_by, min_files=min_files
        )

    def platform(self, user: str = "local") -> PlatformSession:
        """A platform admin's session for a local caller (whoever holds the warehouse's
        files holds the root): create, list, suspend, resume, delete and purge tenants."""
        from ledgerhouse.access import PLATFORM_ROLE, PLATFORM_TENANT

        principal = Principal(tenant=PLATFORM_TENANT, user=user, roles=(PLATFORM_ROLE,))
        return PlatformSession(self.tenants_admin, principal)

    def platform_session(self, principal: Principal) -> PlatformSession:
        """The tenant operations as ``principal`` (an authenticated platform key; any other
        principal is refused by each call with 403)."""
        return PlatformSession(self.tenants_admin, principal)

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
    import dataclasses
    from functools import cache

    from ledgerhouse.governance.lineage.build import build_graph
    from ledgerhouse.governance.lineage.cells import CellLineage, CellPorts
    from ledgerhouse.governance.lineage.service import LineageRecorder, LineageService
    from ledgerhouse.ingest.lineage import declared_transforms
    from ledgerhouse.semantic import parse_query

    marts = tuple(derived)

    @cache
    def shared_graph() -> Any:
        return build_graph(wh.all_tables, marts, declared_transforms(), wh.semantic.lineage_specs())

    own: dict[str, tuple[int, Any]] = {}

    def graph(tenant: str) -> Any:
        # a tenant's own tables, marts and cubes (docs/tenancy/schemas.md), by its generation
        schema = wh.schemas.schema(tenant) if hasattr(wh, "schemas") else None
        if schema is None or not schema.records:
            return shared_graph()
        held = own.get(tenant)
        if held is None or held[0] != schema.generation:
            exts = schema.extensions.values()
            loads = [wh.ingestor.extension_of(tenant, e.relation) for e in exts]
            # a tenant's SQL is no {months} template: its braces are literal
            sql = [dataclasses.replace(m, sql=m.sql.replace("{", "{{").replace("}", "}}"))
                   for m in wh.schemas.marts(tenant)]  # fmt: skip
            rollups = wh.tenant_layer(tenant)  # the tenant's own rollups, by month
            held = (schema.generation, build_graph(
                (*wh.all_tables, *schema.tables.values(), *rollups.tables.values()),
                (*marts, *rollups.marts, *sql),
                [*declared_transforms(), *(d.lineage() for d in loads if d is not None)],
                wh.cube_service.layer_of(tenant).lineage_specs(),
            ))  # fmt: skip
            own[tenant] = held
        return held[1]

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

    def rows(principal: Principal, commit: Any, relation: str) -> int | None:
        # a whole-table count tells a caller under a row policy what it may not see
        if not wh.queries.unrestricted(principal, relation):
            return None
        return wh.queries.rows_at(principal.tenant, commit, relation)

    search = CatalogSearch(
        metadata, wh.meta, rows=rows, lineage=lineage, quality=quality,
        sample=sample,
    )  # fmt: skip
    return metadata, search


def _access_control(wh: Warehouse, rollups: Iterable[Any]) -> Any:
    """The tenant's roles, grants and policies (tenancy/access_admin.py), decided on every
    read by the query service's policy engine (query/policies.py): the members a row policy
    allows come from the dimension on the latest commit; a column is classified when it, or
    a column it is derived from (the lineage graph), carries the label; a rollup column that
    holds a dimension's code (``portfolio`` = ``fact.portfolio_code``) carries it."""
    import secrets
    from functools import lru_cache

    from ledgerhouse.access.policies import POLICY_DIMENSIONS
    from ledgerhouse.query.policies import PolicyEngine, check_predicate
    from ledgerhouse.semantic import tenant_rollups
    from ledgerhouse.tenancy.access_admin import AccessService

    Labels = frozenset[str]

    def predicate(dimension: str, text: str) -> tuple[str, tuple[str, ...]]:
        return check_predicate(wh.relations[dimension], text)

    def known(tenant: str) -> dict[str, Any]:
        tables = {r: t.column_names for r, t in wh.queries.relations_of(tenant).items()}
        return {"tables": tables, "cubes": sorted(wh.cube_service.layer_of(tenant).cubes)}

    service = AccessService(wh.meta, predicate, known)
    codes = set(POLICY_DIMENSIONS.values())
    code_columns: dict[str, dict[str, str]] = {}
    rollup_relations = {m.table.relation for m in rollups}
    for cube in wh.semantic.cubes.values():
        for name in cube.rollups:
            relation = cube.rollup_relation(name)
            if relation in rollup_relations:  # filtered by these columns only
                code_columns[relation] = tenant_rollups.code_columns(cube, name, codes)

    Ref = tuple[str, str]

    @lru_cache(maxsize=64)
    def _upstream(tenant: str, _graph: str) -> dict[Ref, frozenset[Ref]]:
        """(relation, column) -> every column it is derived from, transitively. A surrogate
        key (dim_x.x_key in a fact) is an opaque number: it shows what the dimension shows
        under the same policies, so it derives from nothing here."""
        graph = wh.lineage.current(tenant)
        out: dict[Ref, frozenset[Ref]] = {}

        def walk(ref: Ref, seen: frozenset[Ref]) -> frozenset[Ref]:
            if ref in out:
                return out[ref]
            found: set[Ref] = set()
            sources = [] if ref[1].endswith("_key") or not graph.known(ref[0]) else (
                graph.columns(ref[0]).get(ref[1], [])
            )  # fmt: skip
            for source in sources:
                key = (source.relation, source.column)
                if key not in seen:
                    found |= {key, *walk(key, seen | {ref})}
            out[ref] = frozenset(found)
            return out[ref]

        for relation, table in wh.queries.relations_of(tenant).items():
            for column in table.column_names:
                walk((relation, column), frozenset())
        return out

    def upstream(tenant: str) -> dict[Ref, frozenset[Ref]]:
        return _upstream(tenant, wh.lineage.current(tenant).digest)

    @lru_cache(maxsize=256)
    def _classified(tenant: str, _change: int, graph: str) -> dict[Ref, Labels]:
        """Each column's labels: its own and those of every column it is derived from; a raw
        table's ``_reason`` (which quotes the refused value) and quarantined records carry
        the labels of the columns whose values they may quote."""
        own = {k: frozenset(v) for k, v in wh.metadata.classifications(tenant).items()}
        sources = _upstream(tenant, graph)
        out: dict[Ref, frozenset[str]] = {}
        for ref, ups in sources.items():
            found = set(own.get(ref, ()))
            for up in ups:
                found |= own.get(up, frozenset())
            out[ref] = frozenset(found)
        quoted: set[str] = set()
        for relation, table in wh.queries.relations_of(tenant).items():
            if not relation.startswith("raw_"):
                continue
            labels = frozenset().union(*(out.get((relation, c), ()) for c in table.column_names))
            quoted |= labels
            if "_reason" in table.column_names:
                out[(relation, "_reason")] = out.get((relation, "_reason"), frozenset()) | labels
        for column in ("record", "reason"):
            out[("quarantine", column)] = out.get(("quarantine", column), frozenset()) | quoted
        return {k: v for k, v in out.items() if v}

    def classified(tenant: str) -> dict[Ref, frozenset[str]]:
        graph = wh.lineage.current(tenant)
        return _classified(tenant, wh.meta.annotations.last_change_id(tenant), graph.digest)

    secret_file = wh.root / ".mask-secret"

    @lru_cache(maxsize=1)
    def secret() -> str:
        if not secret_file.exists():
            secret_file.write_text(secrets.token_hex(32))
            secret_file.chmod(0o600)
        return secret_file.read_text().strip()

    def rules(tenant: str) -> Any:  # once per query (or cube) call
        return wh.queries.memo(("access", tenant), lambda: service.rules(tenant))

    wh.queries.policies = PolicyEngine(
        rules,
        classified,
        wh.queries.members,
        wh.queries.latest_version,
        wh.queries.relations_of,
        wh.queries.read_set,
        code_columns,
        upstream_of=upstream,
        # a tenant's own marts: SQL its admin wrote (docs/tenancy/schemas.md)
        authored_of=lambda tenant: wh.schemas.derived_from(tenant).keys(),
        tenant_code_columns=lambda tenant: wh.tenant_layer(tenant).code_columns,
    )
    wh.queries.mask_secret = lambda tenant: secret() + tenant
    wh.keys.check_roles = service.check_roles
    return service


def _storage_checker(wh: Warehouse) -> Any:
    """The storage check (storage/check.py), run by `ledgerhouse check` and `/readyz?check`,
    and after a failed read or write: a damaged table answers storage_damaged naming the
    table, the version and the file."""
    from ledgerhouse.storage.check import StorageChecker

    checker = StorageChecker(wh.store, wh.queries.relations_of)

    def damaged_at(tenant: str, as_of: Any, exc: BaseException) -> None:
        try:
            commit = wh.queries.resolve_commit(tenant, as_of)
        except LedgerhouseError:
            return
        checker.damaged(tenant, dict(commit.table_versions), exc)

    wh.queries.damaged_at = damaged_at
    wh.writer.damaged = checker.damaged
    return checker


def _maintenance(wh: Warehouse) -> Any:
    """Check, vacuum and compaction of the tables (storage/maintenance.py)."""
    from ledgerhouse.storage.maintenance import Maintenance, MaintenancePorts

    return Maintenance(
        MaintenancePorts(
            root=wh.root, store=wh.store, meta=wh.meta, writer=wh.writer, checker=wh.checker,
            tenants=wh._tenant_names, relations_of=wh.queries.relations_of,
            sources_of=lambda tenant, relation: wh.queries.read_set([relation], tenant),
        )
    )  # fmt: skip


def offline_backups(settings: Settings) -> Any:
    """Backups (storage/backup.py) of ``settings.root`` without opening it (it may not exist:
    a restore's target, or a lost root): the shared tables' folders from this release's
    TableDefs; a tenant's own tables are checked by their files' digests only."""
    from ledgerhouse.storage.backup import Backups

    semantic = SemanticLayer(
        load_cubes([settings.cube_dir] if settings.cube_dir else []),
        {t.relation: t for t in BASE_TABLES},
    )
    store = DeltaStore(settings.root.resolve())
    tables = (*BASE_TABLES, *(m.table for m in semantic.rollup_marts()))

    def relation_dirs(tenant: str) -> dict[str, Path]:
        return {t.relation: store.path(tenant, t).relative_to(store.root) for t in tables}

    return Backups(store.root, settings.resolved_metadata_url, relation_dirs)


def _backups(wh: Warehouse) -> Any:
    """Backups of the root (storage/backup.py): each table capped at the versions the commits
    name, the tenant's own tables included when its schema is readable."""
    import contextlib

    from ledgerhouse.storage.backup import Backups

    def relation_dirs(tenant: str) -> dict[str, Path]:
        tables: Mapping[str, TableDef] = wh.relations
        with contextlib.suppress(LedgerhouseError):  # unknown to the metadata: the shared ones
            tables = wh.queries.relations_of(tenant)  # with the tenant's own tables
        return {r: wh.store.path(tenant, t).relative_to(wh.root) for r, t in tables.items()}

    return Backups(wh.root, wh.settings.resolved_metadata_url, relation_dirs)


def _rollup_advisor(wh: Warehouse) -> tuple[Any, Any]:
    """The rollup advisor over each tenant's query log (semantic/advisor.py): the rollups it
    proposes are sized on the tenant's latest commit (unrestricted: what the rollup would
    hold) and applied as the tenant's own rollups; with ``rollup_advisor = "auto"`` it runs
    by itself, as the tenant's ``rollup-advisor`` admin (audited as such)."""
    from datetime import UTC, datetime, timedelta

    from ledgerhouse.access.policies import POLICY_DIMENSIONS
    from ledgerhouse.semantic.advisor import AdvisorPorts, AutoAdvisor, Proposal, RollupAdvisor

    def cube_log(tenant: str, days: float) -> list[dict[str, Any]]:
        wh.query_log.flush()
        since = datetime.now(UTC) - timedelta(days=days)
        return wh.meta.query_store.cube_requests(tenant, since)

    def relation_rows(tenant: str, relation: str) -> int:
        return wh.queries.rows_at(tenant, wh.queries.resolve_commit(tenant), relation)

    def policed(tenant: str) -> set[str]:
        rules = wh.access.rules(tenant)
        return {POLICY_DIMENSIONS[p.dimension] for p in rules.row_policies}

    def refusal(tenant: str, declaration: dict[str, Any]) -> str | None:
        from ledgerhouse.tenancy.schema_declarations import parse_rollup

        schema = wh.schemas.schema(tenant)
        rollup = parse_rollup(declaration)
        texts = {n: c.text for n, c in schema.cubes.items()}
        try:
            wh.schemas.ports.plan_rollups(tenant, texts, {**schema.rollups, rollup.name: rollup})
        except LedgerhouseError as exc:
            return exc.message
        return None

    def names(tenant: str) -> tuple[set[str], set[str]]:
        schema = wh.schemas.schema(tenant)
        return set(schema.rollups), {n for k, n in schema.dropped if k == "rollup"}

    advisor = RollupAdvisor(
        AdvisorPorts(
            wh.cube_service.layer_of,
            cube_log,
            wh.marts.count,
            relation_rows,
            policed,
            refusal,
            names,
        )
    )
    s = wh.settings
    if s.rollup_advisor == "auto":

        def apply(tenant: str, proposal: Proposal) -> None:
            system = Principal(tenant=tenant, user="rollup-advisor", roles=("admin",))
            wh.schemas.add_rollup(system, proposal.spec())

        auto = AutoAdvisor(
            advisor, apply, every=s.rollup_advisor_every,
            min_queries=s.rollup_advisor_min_queries, max_ratio=s.rollup_advisor_max_ratio,
        )  # fmt: skip
        wh.query_log.listeners.append(auto.on_query)
        return advisor, auto
    return advisor, None


def _tenant_lifecycle(wh: Warehouse) -> TenantService:
    """The platform admins' tenant service: a suspended or deleted tenant's engine, bound
    tables and cached results are released through it; a purge removes the tenant's tables
    and OpenLineage events (its export, under <root>/_exports by default, stays)."""
    from ledgerhouse.governance.lineage.openlineage import events_dir
    from ledgerhouse.tenancy.lifecycle import LifecyclePorts

    def release(tenant: str) -> None:
        wh.engines.release(tenant)
        wh.queries.bindings.drop_tenant(tenant)
        if wh.queries.cache is not None:
            wh.queries.cache.drop_tenant(tenant)

    return TenantService(
        LifecyclePorts(
            meta=wh.meta,
            store=wh.store,
            tables=wh.all_tables,
            create=wh.create_tenant,
            release=release,
            tenant_dirs=lambda t: [wh.store.tenant_root(t), events_dir(wh.root, t)],
            exports_root=wh.root / "_exports",
            retention_days=wh.settings.tenant_retention_days,
        )
    )


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


def _resources(wh: Warehouse) -> tuple[Any, Any]:
    """The resource overrides of each tenant, read on every use by admission, the engine
    pool, the row limit, the result cache budget, the storage quota (before an ingestion
    writes) and the API's rate limit; the usage meter, fed by the query log and the ingestion
    reports."""
    import os

    from ledgerhouse.tenancy.resources import ResourceService, TenantResources
    from ledgerhouse.tenancy.usage import UsageMeter

    s = wh.settings

    def pinned_bytes(tenant: str, relation: str, version: int) -> int:
        table = wh.queries.relations_of(tenant)[relation]
        return sum(os.path.getsize(f) for f in wh.store.files(tenant, table, version))

    meter = UsageMeter(wh.meta, wh.store.tenant_root, pinned_bytes)
    defaults = TenantResources(
        duckdb_memory_limit=s.duckdb_memory_limit, duckdb_threads=s.duckdb_threads,
        query_concurrency=s.query_concurrency, query_queue=s.query_queue,
        query_row_limit=s.query_row_limit, storage_quota_bytes=None, rate_limit_per_s=None,
        rate_limit_burst=None, result_cache_bytes=None,
    )  # fmt: skip
    service = ResourceService(wh.meta, defaults, meter.storage_bytes)
    wh.queries.admission.limits_of = service.admission_limits
    wh.engines.options_of = service.engine_options
    wh.queries.row_limit_of = lambda tenant: service.effective(tenant).query_row_limit
    cache = wh.queries.cache
    if cache is not None:
        cache.budget_of = lambda tenant: service.effective(tenant).result_cache_bytes

    def before_write(tenant: str, incoming: int) -> None:
        """The pre-flight of an ingestion: the disk (a batch takes about its size again in
        Parquet, raw and conformed, before compression gains) and the tenant's quota."""
        import shutil

        from ledgerhouse.errors import StorageFull

        free = shutil.disk_usage(wh.root).free
        if free < 2 * incoming:
            raise StorageFull(
                f"the disk holding the warehouse has {free:,} bytes free: a batch of "
                f"{incoming:,} bytes would not fit (it needs about twice its size)",
                hint="Nothing was stored. Free space on the disk (or give the warehouse a "
                "larger one), then send it again.",
                free_bytes=free,
                incoming=incoming,
            )
        service.check_storage(tenant, incoming)

    wh.ingestion.before_write = before_write
    wh.ingestion.on_report = meter.on_ingest
    wh.query_log.listeners.append(meter.on_query)
    return service, meter


def _tenant_schemas(wh: Warehouse) -> tuple[Any, Callable[[str], Any]]:
    """The tenants' own schemas: their relations join the query path, the commit writer's
    recovery, the mart refresher, the catalog and the metadata; their extensions are datasets
    of ingestion; their cubes join a per-tenant semantic layer (cached by schema generation)."""
    import dataclasses

    import pyarrow as pa

    from ledgerhouse.errors import ConfigError
    from ledgerhouse.ingest.extensions import extension_dataset
    from ledgerhouse.query.guard import check_query
    from ledgerhouse.semantic import load_cube
    from ledgerhouse.semantic.tenant_rollups import TenantLayer, build_tenant_layer
    from ledgerhouse.tenancy.errors import InvalidSchemaObject
    from ledgerhouse.tenancy.schemas import SchemaPorts, SchemaService

    def check_cube(tenant: str, text: str, relations: Any) -> tuple[str, frozenset[str]]:
        try:
            cube = load_cube("the cube", text)
            SemanticLayer({cube.name: cube}, relations)  # the tables and measures checked
        except ConfigError as exc:
            raise InvalidSchemaObject(exc.message, hint=exc.hint) from None
        return cube.name, frozenset({cube.fact, *(j.table for j in cube.joins.values())})

    def probe_mart(principal: Principal, sql: str) -> tuple[pa.Schema, frozenset[str]]:
        probe = f"SELECT * FROM ({sql}) AS mart LIMIT 0"
        res = wh.queries.sql(principal, probe, use_cache=False, route="schema_probe")
        return res.table.schema, res.relations

    service = SchemaService(
        wh.meta,
        wh.writer,
        SchemaPorts(wh.relations, lambda: wh.semantic.cubes, check_cube, probe_mart),
    )

    service.memo = wh.queries.memo  # one read of the tenant's schema per query call
    schema = service.schema

    # the tenant's quality checks may check its own tables (docs/governance/quality.md)
    wh.quality.catalog.tenant_tables = service.relations
    wh.quality.catalog.tenant_guard = lambda tenant, sql: (
        check_query(sql, wh.queries.known_of(tenant)).relations
    )
    layers: dict[str, tuple[int, TenantLayer]] = {}

    def own_layer(tenant: str) -> TenantLayer:
        current = service.schema(tenant)
        if not current.cubes and not current.rollups:
            return shared  # the shared cubes only
        held = layers.get(tenant)
        if held is None or held[0] != current.generation:
            texts = {name: c.text for name, c in current.cubes.items()}
            made = tenant_layer(current.tables, texts, current.rollups, strict=False)
            held = (current.generation, made)
            layers[tenant] = held
        return held[1]

    def plan_rollups(tenant: str, texts: Any, rollups: Any) -> dict[str, Any]:
        try:
            made = tenant_layer(service.schema(tenant).tables, texts, rollups)
        except ConfigError as exc:
            raise InvalidSchemaObject(exc.message, hint=exc.hint) from None
        return {m.table.relation: (m.table, made.reads[m.table.relation]) for m in made.marts}

    def tenant_layer(tables: Any, texts: Any, rollups: Any, *, strict: bool = True) -> TenantLayer:
        """The shared cubes, the tenant's own, and the tenant's rollups attached to either;
        its rollups as marts, with what a row policy filters them by."""
        return build_tenant_layer(wh.semantic, wh.relations, tables, texts, rollups, strict=strict)

    shared = TenantLayer(wh.semantic, (), {}, {})
    service.ports = dataclasses.replace(service.ports, plan_rollups=plan_rollups)
    wh.cube_service.layer_of = lambda tenant: own_layer(tenant).layer
    wh.queries.tenant_relations = lambda tenant: {
        **schema(tenant).tables,
        **own_layer(tenant).tables,
    }
    # a tenant mart or rollup reads its sources
    wh.queries.tenant_derived = lambda tenant: {
        **{m.relation: m.reads for m in schema(tenant).marts.values()},
        **own_layer(tenant).reads,
    }
    wh.writer.tables_of = lambda tenant: (
        *service.relations(tenant).values(),
        *own_layer(tenant).tables.values(),
    )
    wh.marts.marts_of = lambda tenant: (*own_layer(tenant).marts, *service.marts(tenant))
    wh.metadata.tenant_relations = lambda tenant: {
        **service.relations(tenant),
        **own_layer(tenant).tables,
    }
    wh.metadata.cubes = lambda tenant: own_layer(tenant).layer.describe()
    datasets: dict[tuple[str, str], tuple[int, Any]] = {}

    def extension_of(tenant: str, dataset: str) -> Any:
        if not dataset.startswith("ext_"):
            return None
        schema = service.schema(tenant)
        ext = next((e for e in schema.extensions.values() if e.relation == dataset), None)
        if ext is None:
            return None
        held = datasets.get((tenant, dataset))
        if held is None or held[0] != schema.generation:
            attributes = [
                (a.name, a.type, a.precision, a.scale, a.required, a.description)
                for a in ext.attributes
            ]
            made = extension_dataset(
                dataset,
                code=ext.code,
                dimension=wh.relations[ext.dimension],
                attributes=attributes,
                table=ext.table,
                raw=ext.raw,
            )
            held = (schema.generation, made)
            datasets[(tenant, dataset)] = held
        return held[1]

    wh.ingestor.extension_of = extension_of
    return service, own_layer
