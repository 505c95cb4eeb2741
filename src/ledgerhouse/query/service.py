"""Running guarded SQL on a pinned warehouse commit.

A query pins the table versions of one warehouse commit (the latest, or the one ``as_of``
names), so every table it reads is from the same consistent state. Each relation it uses is
bound in the tenant's engine to the Parquet files of its pinned Delta version; the query runs
on a session of that engine (storage/engines: DuckDB by default), and only through its interface.
"""

from __future__ import annotations

import re
import sys
import threading
import time
import uuid
from collections.abc import Callable, Collection, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import polars as pl
import pyarrow as pa
import sqlglot

from ledgerhouse.access import Principal, Resource, authorize
from ledgerhouse.errors import (
    Forbidden,
    InvalidRequest,
    LedgerhouseError,
    NotFound,
    QueryFailed,
    StorageUnavailable,
    did_you_mean,
)
from ledgerhouse.model.schema import TableDef
from ledgerhouse.model.values import python_values
from ledgerhouse.query.admission import Admission
from ledgerhouse.query.bindings import Bindings
from ledgerhouse.query.cache import CachedResult, ResultCache, cache_key, cacheable
from ledgerhouse.query.catalog_sql import (
    CatalogStatement,
    describe,
    parse_catalog_statement,
    show_tables,
    sql_text,
)
from ledgerhouse.query.exports import EXPORT_BATCH_ROWS, Export
from ledgerhouse.query.guard import check_query
from ledgerhouse.query.log import QueryLog, fingerprint
from ledgerhouse.query.params import check_params
from ledgerhouse.query.policies import (
    NO_POLICY,
    Effective,
    PolicyDenied,
    PolicyEngine,
    fragment,
)
from ledgerhouse.query.watchdog import Watchdog
from ledgerhouse.storage.delta import DeltaStore
from ledgerhouse.storage.engines import EnginePool, Explain
from ledgerhouse.storage.metadata import MetadataStore, WarehouseCommit

AsOf = int | str | datetime | date | None


class CancelToken:
    """Lets another thread interrupt a running query (client disconnect, shutdown): it holds
    the ``interrupt`` of the engine session the query runs on, while it runs."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._interrupt: Callable[[], None] | None = None
        self.cancelled = False

    def attach(self, interrupt: Callable[[], None] | None) -> None:
        with self._lock:
            self._interrupt = interrupt
            if interrupt is not None and self.cancelled:
                interrupt()

    def cancel(self) -> None:
        with self._lock:
            self.cancelled = True
            if self._interrupt is not None:
                self._interrupt()


@dataclass
class QueryResult:
    query_id: str
    table: pa.Table
    commit: WarehouseCommit
    elapsed_ms: float
    truncated: bool
    sql: str
    route: str = "raw"
    #: the warehouse relations the query names (their pinned versions are in ``commit``)
    relations: frozenset[str] = frozenset()
    #: the row and column policies the answer was computed under (None: none applied)
    policy: dict[str, Any] | None = None

    @property
    def cache_hit(self) -> bool:
        return self.route == "cache"

    @property
    def columns(self) -> list[dict[str, str]]:
        return [{"name": f.name, "type": str(f.type)} for f in self.table.schema]

    def to_polars(self) -> pl.DataFrame:
        out = pl.from_arrow(self.table)
        assert isinstance(out, pl.DataFrame)
        return out

    def rows(self) -> list[list[Any]]:
        """Rows as Python values. A decimal column is ``Decimal`` values, exact (money,
        quantities), except one of scale 0 (DuckDB's sum of integers is DECIMAL(38, 0)): ints.
        A value Python cannot hold ('infinity'::date, year 10000) comes as its JSON text."""
        cols = [
            [_integer(v) for v in c.to_pylist()]
            if pa.types.is_decimal(c.type) and c.type.scale == 0
            else python_values(c)
            for c in self.table.columns
        ]
        return [list(r) for r in zip(*cols, strict=True)] if cols else []


class QueryService:
    def __init__(
        self,
        store: DeltaStore,
        meta: MetadataStore,
        engines: EnginePool,
        relations: dict[str, TableDef],
        row_limit: int,
        timeout_s: float = 60.0,
        log: QueryLog | None = None,
        admission: Admission | None = None,
        cache: ResultCache | None = None,
        native_rows: int = 2_000_000,
        derived_from: Mapping[str, Collection[str]] | None = None,
    ) -> None:
        self.cache = cache
        #: relation -> the relations it is built from (a mart or rollup -> its facts and
        #: dimensions): reading a derived relation is reading its sources too
        self.derived_from = {k: tuple(v) for k, v in (derived_from or {}).items()}
        self.bindings = Bindings(store, engines, native_rows)
        self.admission = admission or Admission(concurrency=4, queue=16, wait_s=10.0)
        self.timeout_s = timeout_s
        self.log = log
        self.store = store
        self.meta = meta
        self.engines = engines
        self.relations = relations
        self.known_relations = frozenset(relations)
        self.row_limit = row_limit
        #: a tenant's own relations besides the shared ones (its schema: docs/tenancy/schemas.md)
        self.tenant_relations: Callable[[str], Mapping[str, TableDef]] = lambda _tenant: {}
        #: each of a tenant's own marts -> the relations it reads (docs/tenancy/schemas.md)
        self.tenant_derived: Callable[[str], Mapping[str, Collection[str]]] = lambda _t: {}
        #: a tenant's row limit (its resource overrides: docs/tenancy/resources.md)
        self.row_limit_of: Callable[[str], int] = lambda _tenant: self.row_limit
        #: row and column policies and column grants (query/policies.py; None: roles only)
        self.policies: PolicyEngine | None = None
        #: ``damaged_at(tenant, as_of, error)``: raises StorageDamaged naming the damaged
        #: file when a read failed on a damaged table (storage/check.py); returns otherwise
        self.damaged_at: Callable[[str, AsOf, BaseException], None] = lambda _t, _a, _e: None
        #: the key of the ``hash`` mask's pseudonyms, per tenant
        self.mask_secret: Callable[[str], str] = lambda tenant: tenant

    @contextmanager
    def scope(self) -> Iterator[None]:
        """One call's view of the metadata it reads more than once (the tenant's relations,
        its access rules, the latest commit): read once per call, not once per use. A
        nested scope is the enclosing one (a cube query's plan and its SQL share one)."""
        if _SCOPE.get() is not None:
            yield
            return
        token = _SCOPE.set({})
        try:
            yield
        finally:
            _SCOPE.reset(token)

    def memo(self, key: tuple[Any, ...], read: Callable[[], Any]) -> Any:
        """``read()``, once per scope (every time outside one)."""
        held = _SCOPE.get()
        if held is None:
            return read()
        if key not in held:
            held[key] = read()
        return held[key]

    def relations_of(self, tenant: str) -> Mapping[str, TableDef]:
        """Every relation ``tenant`` may name: the shared ones and the tenant's own."""
        extra = self.memo(("relations", tenant), lambda: self.tenant_relations(tenant))
        return {**self.relations, **extra} if extra else self.relations

    def known_of(self, tenant: str) -> frozenset[str]:
        extra = self.memo(("relations", tenant), lambda: self.tenant_relations(tenant))
        return self.known_relations | frozenset(extra) if extra else self.known_relations

    def resolve_commit(self, tenant: str, as_of: AsOf = None) -> WarehouseCommit:
        if as_of is None or as_of == "":
            commit = self.meta.commit_log.latest_commit(tenant)
            if commit is None:
                raise NotFound(
                    f"tenant {tenant!r} has no warehouse commit",
                    hint="Run `ledgerhouse init` first.",
                )
            return commit
        commit_id = _commit_id(as_of)
        if commit_id is not None:
            return self.meta.commit_log.commit_by_id(tenant, commit_id)
        assert not isinstance(as_of, int)  # _commit_id took every int
        ts = _parse_ts(as_of)
        found = self.meta.commit_log.commit_at(tenant, ts)
        if found is None:
            raise NotFound(
                f"the warehouse did not exist yet at {ts.isoformat()}",
                hint="Use a later time, or a commit id from `ledgerhouse commits`.",
            )
        return found

    def read_set(self, relations: Collection[str], tenant: str | None = None) -> list[str]:
        """The relations a query reads, with every relation a derived one is built from (the
        tenant's own marts too, when ``tenant`` is named)."""
        derived: Mapping[str, Collection[str]] = self.derived_from
        if tenant is not None:
            own = self.memo(("derived", tenant), lambda: self.tenant_derived(tenant))
            derived = {**self.derived_from, **own} if own else self.derived_from
        seen: set[str] = set()
        todo = list(relations)
        while todo:
            name = todo.pop()
            if name not in seen:
                seen.add(name)
                todo.extend(derived.get(name, ()))
        return sorted(seen)

    def rows_at(self, tenant: str, commit: WarehouseCommit, relation: str) -> int:
        """The rows of ``relation`` at ``commit`` (0 when the commit does not have it)."""
        version = commit.table_versions.get(relation)
        if version is None:
            return 0
        return self.store.row_count(tenant, self.relations_of(tenant)[relation], version)

    def sql(self, principal: Principal, sql: str, **options: Any) -> QueryResult:
        """Run one guarded query as ``principal`` and record it in the query log, whatever the
        outcome. The one entry point of every read (SQL, cubes, analytics, plans): the caller
        is authorized here for each relation the query reads, where row and column policies
        will apply too."""
        with self.scope():
            return self._sql(self._held_to_grants(principal), sql, **options)

    def _held_to_grants(self, principal: Principal) -> Principal:
        return principal if self.policies is None else self.policies.attach(principal)

    def _sql(self, principal: Principal, sql: str, **options: Any) -> QueryResult:
        authorize(principal, "read")
        tenant = principal.tenant
        if options.get("params") is not None:
            options["params"] = check_params(options["params"])
        started = time.perf_counter()
        entry = _log_entry(
            principal, sql, options.get("route", "raw"), options.pop("request", None),
            options.get("params"),
        )  # fmt: skip
        query_id = entry["id"]
        try:
            with _failure_recorded(entry), self.admission.slot(tenant):
                try:
                    result = self._run(principal, sql, query_id=query_id, **options)
                except StorageUnavailable as exc:  # a file failed: a damaged table says which
                    self.damaged_at(tenant, options.get("as_of"), exc)
                    raise
        finally:
            entry["duration_ms"] = (time.perf_counter() - started) * 1000
            if self.log is not None and entry["status"] != "ok":
                self.log.record(entry)
        entry.update(
            commit_id=result.commit.id,
            rows=result.table.num_rows,
            bytes=result.table.nbytes,
            route=result.route,
        )
        _read_set_recorded(entry, result.relations, result.commit, result.sql)
        if self.log is not None:
            self.log.record(entry)
        return result

    @contextmanager
    def export(
        self,
        principal: Principal,
        sql: str,
        *,
        as_of: AsOf = None,
        params: list[Any] | None = None,
        limit: int | None = None,
        timeout_s: float | None = None,
        cancel: CancelToken | None = None,
        batch_rows: int = EXPORT_BATCH_ROWS,
        request: dict[str, Any] | None = None,
    ) -> Iterator[Export]:
        """Every row of one guarded query, streamed: ``with service.export(...) as export:``
        then iterate ``export.batches``. The same guard, authorization, time limit, cancel
        and query log as :meth:`sql`, but no row cap (only ``limit``, when given) and no
        result cache. The admission slot, the pinned versions and the engine session are held
        until the ``with`` ends; the log records the rows and bytes that streamed, and a
        failure mid-stream (the time limit, a cancel) as that failure."""
        principal = self._held_to_grants(principal)
        authorize(principal, "read")
        tenant = principal.tenant
        if params is not None:
            params = check_params(params)
        if limit is not None and limit < 1:
            raise InvalidRequest(f"limit {limit} is not a number of rows", hint="Give 1 or more.")
        started = time.perf_counter()
        entry = _log_entry(principal, sql, "export", request, params)
        export: Export | None = None
        try:
            with _failure_recorded(entry), self.admission.slot(tenant):
                statement = parse_catalog_statement(sql)
                if statement is not None:  # SHOW TABLES / DESCRIBE: a small table
                    res = self._catalog(principal, statement, as_of, entry["id"])
                    export = Export(entry["id"], res.commit, res.table.schema,
                                    iter(res.table.to_batches(batch_rows)), res.sql)  # fmt: skip
                    export.batches = _counted(export, export.batches, limit)
                    entry["commit_id"] = res.commit.id
                    yield export
                    return
                with self.scope():
                    checked, commit, tables, effective = self._prepare(
                        principal, sql, params, as_of
                    )
                for relation in self.read_set(checked.relations, tenant):  # every row, no cap
                    authorize(principal, "export", Resource(tenant, "table", relation))
                entry["commit_id"] = commit.id
                _read_set_recorded(entry, checked.relations, commit, checked.sql)
                timeout = min(timeout_s or self.timeout_s, self.timeout_s)
                engine = self.engines.get(tenant)
                with (
                    self.bindings.pinned(tenant, tables, commit.table_versions) as names,
                    engine.session() as session,
                    _interruptible(session, timeout, cancel),
                ):
                    sources = self._sources(tenant, names, tables, effective)
                    rendered = to_dialect(checked.render_sources(sources), engine.dialect)
                    batches = session.stream(
                        rendered, params, batch_rows=batch_rows, timeout_s=timeout
                    )
                    try:
                        first = next(batches, None)  # the schema, and errors, before rows
                    except QueryFailed as exc:
                        raise _with_column_suggestion(exc, tables, effective) from None
                    schema = (
                        first.schema
                        if first is not None
                        else _empty_schema(session, rendered, params)
                    )
                    head = [first] if first is not None else []
                    export = Export(entry["id"], commit, schema, iter(()), checked.sql)
                    export.policy = effective.summary()
                    stream = _chain(head, batches)
                    if not effective.empty:
                        stream = _withheld_on_failure(stream)
                    export.batches = _counted(export, stream, limit)
                    yield export
        except StorageUnavailable as exc:  # a file failed: a damaged table says which
            self.damaged_at(tenant, as_of, exc)
            raise
        finally:
            entry["duration_ms"] = (time.perf_counter() - started) * 1000
            if export is not None:
                entry.update(rows=export.rows, bytes=export.bytes)
            if self.log is not None:
                self.log.record(entry)

    def _prepare(
        self, principal: Principal, sql: str, params: list[Any] | None, as_of: AsOf
    ) -> tuple[Any, WarehouseCommit, list[TableDef], Effective]:
        """Guard ``sql``, check its parameters, authorize each relation it reads, work out
        the row and column policies in force and pin the commit: what every query does
        before it runs."""
        checked = check_query(sql, self.known_of(principal.tenant))
        given = len(params or ())
        if given != checked.placeholders:
            raise InvalidRequest(
                f"the query has {checked.placeholders} placeholders (? or $n) but {given} "
                f"parameter{'s were' if given != 1 else ' was'} given",
                hint="Pass one value per placeholder: params in the API, --param in the CLI "
                "(repeat it), params=[...] in Python.",
                placeholders=checked.placeholders,
                params=given,
            )
        for relation in self.read_set(checked.relations, principal.tenant):
            authorize(principal, "read", Resource(principal.tenant, "table", relation))
        effective = self.effective(principal, checked.relations)
        commit = self.resolve_commit(principal.tenant, as_of)
        relations = self.relations_of(principal.tenant)
        tables = [relations[name] for name in sorted(checked.relations)]
        return checked, commit, tables, effective

    def effective(self, principal: Principal, relations: Collection[str]) -> Effective:
        """The row and column policies in force for ``principal`` reading ``relations``
        (PolicyDenied for a relation a row policy cannot be applied to)."""
        if self.policies is None or not relations:
            return NO_POLICY
        return self.policies.effective(principal, relations)

    def members(self, tenant: str, relation: str, sql: str) -> frozenset[str]:
        """The texts of the first column of ``sql`` (a policy's members query, written by
        query/policies.py, ``{dimension}`` standing for ``relation``) on the latest commit."""
        commit = self.resolve_commit(tenant)
        table = self.relations_of(tenant)[relation]
        with self.bindings.pinned(tenant, [table], commit.table_versions) as names:
            text = sql.replace("{dimension}", '"' + names[relation].replace('"', '""') + '"')
            found, _ = self._execute(text, None, 10_000_000, self.timeout_s, None, None, tenant)
        return frozenset(str(v) for v in found.column(0).to_pylist() if v is not None)

    def latest_version(self, tenant: str, relation: str) -> int | None:
        latest = self.memo(("latest", tenant), lambda: self.meta.commit_log.latest_commit(tenant))
        return None if latest is None else latest.table_versions.get(relation)

    def unrestricted(self, principal: Principal, relation: str) -> bool:
        """Whether ``principal`` reads ``relation`` whole: readable, and no row or column
        policy or column grant changes what it returns."""
        if self.readable(principal, relation) is not None:
            return False
        return self.effective(principal, [relation]).empty

    def readable(self, principal: Principal, relation: str) -> str | None:
        """Why ``principal`` may not read ``relation`` (a grant or a row policy), or None."""
        try:
            for source in self.read_set([relation], principal.tenant):
                authorize(principal, "read", Resource(principal.tenant, "table", source))
            self.effective(principal, [relation])
        except Forbidden as exc:
            return exc.message
        return None

    def _sources(
        self,
        tenant: str,
        names: dict[str, str],
        tables: list[TableDef],
        effective: Effective,
    ) -> dict[str, str]:
        """What each relation reference renders as: its pinned name, or the policy's
        subquery over it (query/policies.py)."""
        if effective.empty:
            return {r: '"' + n.replace('"', '""') + '"' for r, n in names.items()}
        secret = self.mask_secret(tenant)
        by_name = {t.relation: t for t in tables}
        return {r: fragment(n, by_name[r], effective.of(r), secret) for r, n in names.items()}

    def plan(self, principal: Principal, sql: str, as_of: AsOf) -> str:
        """The engine's plan for ``sql`` on a commit (not logged: it is a look at a past query).
        Planning takes an admission slot and the time limit like any query: a plan can cost as
        much as running one."""
        principal = self._held_to_grants(principal)
        authorize(principal, "read")
        with self.admission.slot(principal.tenant), self.scope():
            res = self._run(principal, sql, query_id="plan", as_of=as_of, explain="plan")
        return "\n".join(str(row[-1]) for row in res.rows())

    def _run(
        self,
        principal: Principal,
        sql: str,
        *,
        query_id: str,
        as_of: AsOf = None,
        limit: int | None = None,
        params: list[Any] | None = None,
        timeout_s: float | None = None,
        explain: Explain = None,
        cancel: CancelToken | None = None,
        use_cache: bool = True,
        route: str = "raw",
        unlimited: bool = False,
    ) -> QueryResult:
        """Run one guarded query on a pinned commit. ``explain`` returns the engine's plan
        (``"plan"``) or the plan with actual timings (``"analyze"``, which runs the query).
        Results come from the cache when the same query already ran on the same versions of
        the tables it reads (``use_cache=False`` bypasses it)."""
        tenant = principal.tenant
        statement = parse_catalog_statement(sql)
        if statement is not None:
            return self._catalog(principal, statement, as_of, query_id)
        checked, commit, tables, effective = self._prepare(principal, sql, params, as_of)
        # ``unlimited``: Ledgerhouse's own reads (analytics input), never a caller's SQL
        cap = self.row_limit_of(tenant)
        limit = sys.maxsize - 1 if unlimited else min(limit or cap, cap)
        timeout = min(timeout_s or self.timeout_s, self.timeout_s)
        started = time.perf_counter()
        key = None
        reusable = cacheable(checked.relations, checked.volatile)
        if self.cache is not None and explain is None and reusable:
            versions = {r: commit.table_versions.get(r) for r in checked.relations}
            key = cache_key(tenant, checked.sql, params, limit, explain, versions, effective.digest)
            hit = self.cache.get(key) if use_cache else None
            if hit is not None:
                return QueryResult(
                    query_id=query_id,
                    table=hit.table,
                    commit=commit,
                    elapsed_ms=(time.perf_counter() - started) * 1000,
                    truncated=hit.truncated,
                    sql=checked.sql,
                    route="cache",
                    relations=checked.relations,
                    policy=effective.summary(),
                )
        with self.bindings.pinned(tenant, tables, commit.table_versions) as names:
            rendered = checked.render_sources(self._sources(tenant, names, tables, effective))
            try:
                table, truncated = self._execute(
                    rendered, params, limit, timeout, explain, cancel, tenant
                )
            except QueryFailed as exc:
                raise _with_column_suggestion(exc, tables, effective) from None
        if explain is not None and not effective.empty:
            table = _estimates_withheld(table)
        if key is not None and self.cache is not None:
            self.cache.put(key, CachedResult(table, truncated))
        return QueryResult(
            query_id=query_id,
            table=table,
            commit=commit,
            elapsed_ms=(time.perf_counter() - started) * 1000,
            truncated=truncated,
            sql=checked.sql,
            route=route,
            relations=checked.relations,
            policy=effective.summary(),
        )

    def _catalog(
        self, principal: Principal, statement: CatalogStatement, as_of: AsOf, query_id: str
    ) -> QueryResult:
        """SHOW TABLES (the relations the caller may read) or DESCRIBE one relation."""
        started = time.perf_counter()
        tenant = principal.tenant
        if statement.kind == "describe":
            relation = statement.relation or ""
            # the guard resolves the name as in a query (unknown or system relations refused)
            known = self.known_of(tenant)
            (name,) = check_query(f'SELECT * FROM "{relation}"', known).relations
            for source in self.read_set([name], tenant):
                authorize(principal, "read", Resource(tenant, "table", source))
            policy = self.effective(principal, [name]).of(name)
            table = describe(self.relations_of(tenant)[name], policy.hidden if policy else ())
        else:
            table = show_tables(
                [t for t in self.relations_of(tenant).values() if self._may_read(principal, t)]
            )
        return QueryResult(
            query_id=query_id,
            table=table,
            commit=self.resolve_commit(tenant, as_of),
            elapsed_ms=(time.perf_counter() - started) * 1000,
            truncated=False,
            sql=sql_text(statement),
            route="catalog",
        )

    def _may_read(self, principal: Principal, table: TableDef) -> bool:
        """Whether ``principal`` may read ``table`` and everything it is built from, under
        its grants and row policies."""
        return self.readable(principal, table.relation) is None

    def _execute(
        self,
        text: str,
        params: list[Any] | None,
        limit: int,
        timeout: float,
        explain: Explain,
        cancel: CancelToken | None,
        tenant: str,
    ) -> tuple[pa.Table, bool]:
        """Run rendered SQL on a session of the tenant's engine, interruptible by the timer and
        by ``cancel``; at most ``limit`` rows, and whether there were more."""
        engine = self.engines.get(tenant)
        text = to_dialect(text, engine.dialect)
        with engine.session() as session, _interruptible(session, timeout, cancel):
            rows = session.execute(text, params, max_rows=limit, explain=explain, timeout_s=timeout)
        return rows.table, rows.truncated


def _log_entry(
    principal: Principal,
    sql: Any,
    route: str,
    request: dict[str, Any] | None = None,
    params: list[Any] | None = None,
) -> dict[str, Any]:
    """A query-log entry for a query about to run (status ok until a failure is recorded):
    with what a cube or analytics call asked (``request``, None for SQL) and the parameters
    (kept, type-tagged, to reproduce the answer)."""
    text = sql if isinstance(sql, str) else repr(sql)  # the guard refuses non-text
    return {
        "id": uuid.uuid4().hex,
        "tenant_id": principal.tenant,
        "user": principal.user,
        "text": text[:100_000],
        "fingerprint": fingerprint(text),  # a long text is hashed, never parsed
        "route": route,
        "started_at": datetime.now(UTC),
        "commit_id": None,
        "rows": 0,
        "bytes": 0,
        "status": "ok",
        "error": None,
        "request": request,
        "params": params,
        "_roles": tuple(principal.roles),  # for the audit entry (not a query-log column)
    }


def _read_set_recorded(
    entry: dict[str, Any], relations: Collection[str], commit: WarehouseCommit, sql: str
) -> None:
    """Put in ``entry`` the relations the query read with their pinned versions, and the
    checked SQL, whose columns the query log's thread works out (off the query path)."""
    entry["relations"] = {r: commit.table_versions.get(r) for r in sorted(relations)}
    if relations:
        entry["_sql"] = sql


@contextmanager
def _failure_recorded(entry: dict[str, Any]) -> Iterator[None]:
    """Record in ``entry`` the status and error of a query that raised (then re-raise)."""
    try:
        yield
    except LedgerhouseError as exc:
        entry["status"] = _STATUS_OF.get(exc.code, "error")
        entry["error"] = exc.message[:2000]
        raise
    except Exception as exc:
        entry["status"], entry["error"] = "error", f"internal: {exc!r}"[:2000]
        raise


@contextmanager
def _interruptible(session: Any, timeout: float, cancel: CancelToken | None) -> Iterator[None]:
    """While the block runs, the watchdog (after ``timeout``) and ``cancel`` interrupt the
    engine session."""
    token = cancel or CancelToken()
    token.attach(session.interrupt)
    timer = _WATCHDOG.schedule(timeout, token.cancel)
    try:
        yield
    finally:
        _WATCHDOG.cancel(timer)
        token.attach(None)


def _chain(head: list[pa.RecordBatch], rest: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    yield from head
    yield from rest


def _withheld_on_failure(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    """The batches; an engine error mid-stream without the values it quotes."""
    try:
        yield from batches
    except QueryFailed as exc:
        raise _values_withheld(exc) from None


def _counted(
    export: Export, batches: Iterator[pa.RecordBatch], limit: int | None
) -> Iterator[pa.RecordBatch]:
    """The batches, counted into ``export`` as they go, stopped after ``limit`` rows."""
    for batch in batches:
        if limit is not None and export.rows + batch.num_rows >= limit:
            batch = batch.slice(0, limit - export.rows)
        export.rows += batch.num_rows
        export.bytes += batch.nbytes
        if batch.num_rows:
            yield batch
        if limit is not None and export.rows >= limit:
            return


def _empty_schema(session: Any, sql: str, params: list[Any] | None) -> pa.Schema:
    """The columns of a query that streamed no row (its engine's answer to LIMIT 0)."""
    return session.execute(f"SELECT * FROM ({sql}) LIMIT 0", params, max_rows=0).table.schema


_UNKNOWN_COLUMN = re.compile(r'Referenced column "([^"]+)" not found')
_NO_SUCH_COLUMN = re.compile(r'does not have a column named "([^"]+)"')


def _with_column_suggestion(
    exc: QueryFailed, tables: list[TableDef], effective: Effective = NO_POLICY
) -> LedgerhouseError:
    """An unknown column's error with the closest columns of the tables the query reads; a
    column a grant or a column policy leaves out of the caller's view is refused as such."""
    if not effective.empty:
        exc = _values_withheld(exc)
    found = _UNKNOWN_COLUMN.search(exc.message) or _NO_SUCH_COLUMN.search(exc.message)
    if found is None:
        return exc
    hidden = effective.hidden()
    name = found.group(1).lower()
    holders = sorted(r for r, cols in hidden.items() if name in cols)
    if holders:
        return PolicyDenied(
            f"column {found.group(1)!r} of {', '.join(holders)} is not readable by you "
            "(a column policy or grant leaves it out)",
            hint="Leave it out of the query; ask an admin if you need it "
            "(`ledgerhouse access` shows your grants and policies).",
            relations=holders,
            column=found.group(1),
        )
    columns = {
        name
        for table in tables
        for name, _ in table.columns
        if name not in hidden.get(table.relation, ())
    }
    suggestion = did_you_mean(found.group(1), columns)
    if not suggestion:
        return exc
    return QueryFailed(exc.message + suggestion, hint=exc.hint, **exc.details)


_QUOTED_VALUE = re.compile(r"'(?:[^']|'')*'")
_ESTIMATE = re.compile(r"~\s*[\d,.]+\s*rows?", re.I)


def _estimates_withheld(table: pa.Table) -> pa.Table:
    """A plan without the engine's row estimates, which come from the statistics of whole
    files (every member's rows), nor the values it quotes (a filter's members)."""
    columns = []
    for column in table.columns:
        if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
            values = [
                None if v is None else _QUOTED_VALUE.sub("'…'", _ESTIMATE.sub("~? rows", v))
                for v in column.to_pylist()
            ]
            columns.append(pa.array(values, column.type))
        else:
            columns.append(column)
    return pa.Table.from_arrays(columns, names=table.column_names)


def _values_withheld(exc: QueryFailed) -> QueryFailed:
    """An engine error without the values it quotes (``Could not convert string 'P0003'``):
    under a row or column policy the engine may meet a value while it evaluates the query
    that the policy would not return, and an error message must not carry it out."""
    text = _QUOTED_VALUE.sub("'…'", exc.message)
    if text == exc.message:
        return exc
    return QueryFailed(
        text + " (values withheld under the policies in force)", hint=exc.hint, **exc.details
    )


def to_dialect(sql: str, dialect: str) -> str:
    """Checked SQL (DuckDB's dialect, what the guard reads and writes) in an engine's dialect."""
    if dialect == "duckdb":
        return sql
    return sqlglot.transpile(sql, read="duckdb", write=dialect)[0]


def _integer(value: Decimal | None) -> int | None:
    return None if value is None else int(value)


_WATCHDOG = Watchdog()
#: the metadata one call reads more than once (QueryService.scope)
_SCOPE: ContextVar[dict[tuple[Any, ...], Any] | None] = ContextVar("query_scope", default=None)

_STATUS_OF = {"query_rejected": "rejected", "query_timeout": "timeout", "overloaded": "overloaded"}


_AS_OF_HINT = "Pass a commit id (e.g. 12) or a time like 2026-01-31T17:00:00Z."
#: Commit ids are positive 64-bit integers (the metadata store's key); a longer number is not
#: converted at all (Python refuses int() of more than 4300 digits).
_MAX_COMMIT_ID = 2**63 - 1
_INTEGER = re.compile(r"[+-]?[0-9]{1,30}", re.ASCII)


def _commit_id(as_of: AsOf) -> int | None:
    """The commit id ``as_of`` names (an int or a text of digits), or None for a time."""
    if isinstance(as_of, bool) or not isinstance(as_of, int | str | datetime | date):
        raise InvalidRequest(
            f"as_of {as_of!r:.60} is neither a commit id nor an ISO timestamp", hint=_AS_OF_HINT
        )
    if isinstance(as_of, datetime | date):
        return None
    if isinstance(as_of, str):
        text = as_of.strip()
        if not text.lstrip("+-").isdigit():
            return None  # a time
        # too many digits, or another script's digits (int() takes some, not all): never an id
        number = int(text) if _INTEGER.fullmatch(text) else 0
        shown = text[:40]
    else:
        number, shown = as_of, str(as_of) if as_of.bit_length() < 128 else "(a huge number)"
    if not 1 <= number <= _MAX_COMMIT_ID:
        raise InvalidRequest(
            f"as_of {shown} is not a commit id: commit ids are 1 to {_MAX_COMMIT_ID}",
            hint="List commits with `ledgerhouse commits` or GET /v1/commits.",
        )
    return number


def _parse_ts(value: str | datetime | date) -> datetime:
    """The instant ``as_of`` names, in UTC (commit times are stored in UTC)."""
    if isinstance(value, datetime):
        ts = value
    elif isinstance(value, date):
        ts = datetime(value.year, value.month, value.day, 23, 59, 59, 999999)
    else:
        text = value.strip().replace("Z", "+00:00")
        try:
            ts = datetime.fromisoformat(text)
        except ValueError:
            raise InvalidRequest(
                f"as_of {value[:60]!r} is neither a commit id nor an ISO timestamp",
                hint=_AS_OF_HINT,
            ) from None
        if len(text) == 10:  # a bare date means the end of that day
            ts = ts.replace(hour=23, minute=59, second=59, microsecond=999999)
    try:
        return ts.astimezone(UTC) if ts.tzinfo else ts.replace(tzinfo=UTC)
    except OverflowError:  # e.g. 9999-12-31T23:00:00-05:00 is past the end of year 9999
        raise InvalidRequest(
            f"as_of {ts.isoformat()} is out of range in UTC", hint=_AS_OF_HINT
        ) from None
