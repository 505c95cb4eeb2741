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
from ledgerhouse.ingest import INGEST_TABLES, IngestLimits, Ingestor, IngestService
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
            ),
            reporting_currency=settings.reporting_currency,
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
            {m.table.relation: (*m.sources, *m.dimensions) for m in (*MARTS, *rollups)},
        )
        self.marts = MartRefresher(self.queries, (*MARTS, *rollups))
        self.writer.add_listener(self.marts.refresh)  # marts and rollups join every commit
        # the domain services a Session calls, each with the caller's Principal
        self.ingestion = IngestService(self.ingestor, self.meta)
        self.catalog = Catalog(self.queries, self.meta, self.root)
        self.cube_service = CubeService(self.semantic, self.queries)
        self.analytics_jobs = Analytics(self.queries, self.writer, self.store, self.meta)
        self.keys = KeyService(self.meta)

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


_SESSION_CALLS = frozenset(n for n in vars(Session) if not n.startswith("_"))
