"""Pinned table versions bound once in the tenant's engine, not once per query.

A query reads each relation at the version its commit pins. Binding that version (a view
over its Parquet files) costs the engine a read of the file footers; doing it on every request was
the largest fixed cost of a small query (about 10 ms at SF 1). So each (relation, version)
becomes a named object of the tenant engine the first time a query needs it:

- a **native table** (copied into memory) for small serving tables — marts, rollups and
  dimensions up to ``native_rows`` rows — which DuckDB then scans several times faster than
  Parquet (the serving accelerator of ARCHITECTURE.md, rebuilt from Delta at any time);
- a **view** over the version's Parquet files otherwise.

Queries refer to these objects through the guard's rendered SQL (``"fact_trade@12" AS
fact_trade``). Old versions are dropped when newer ones exist and no running query holds them.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import pyarrow as pa
import pyarrow.parquet as pq

from ledgerhouse.model.schema import TableDef
from ledgerhouse.storage.delta import DeltaStore
from ledgerhouse.storage.engines import EnginePool, PinnedFiles, Relation
from ledgerhouse.storage.engines.base import binding_failed, first_line

Key = tuple[str, str, int | None]  # tenant, relation, version


class Bindings:
    def __init__(
        self, store: DeltaStore, engines: EnginePool, native_rows: int, keep_versions: int = 3
    ) -> None:
        self.store = store
        self.engines = engines
        self.native_rows = native_rows
        self.keep_versions = keep_versions
        self._lock = threading.Lock()
        self._bound: dict[Key, str] = {}
        self._in_use: dict[Key, int] = {}
        self._build_locks: dict[Key, threading.Lock] = {}

    @contextmanager
    def pinned(
        self, tenant: str, tables: list[TableDef], versions: dict[str, int]
    ) -> Iterator[dict[str, str]]:
        """Bind the pinned version of each table (once) and hold them while a query runs;
        yields relation -> the object name to query."""
        keys = [(tenant, t.relation, versions.get(t.relation)) for t in tables]
        names: dict[str, str] = {}
        with self._lock:
            for key in keys:
                self._in_use[key] = self._in_use.get(key, 0) + 1
        try:
            for table, key in zip(tables, keys, strict=True):
                names[table.relation] = self._bind(table, key)
            yield names
        finally:
            with self._lock:
                for key in keys:
                    self._in_use[key] -= 1
                    if not self._in_use[key]:
                        del self._in_use[key]

    def native(self, tenant: str, relation: str, version: int | None) -> bool:
        """Whether that version is served from a native in-memory table (for tests/metrics)."""
        name = self._bound.get((tenant, relation, version), "")
        return name.endswith("#native")

    def _bind(self, table: TableDef, key: Key) -> str:
        with self._lock:
            hit = self._bound.get(key)
            if hit is not None:
                return hit.split("#")[0]
            build = self._build_locks.setdefault(key, threading.Lock())
        with build:  # one builder per key; others wait for it instead of building twice
            with self._lock:
                hit = self._bound.get(key)
            if hit is None:
                try:
                    hit = self._create(table, key)
                except (OSError, pa.ArrowInvalid) as exc:  # a file of the version vanished
                    # or is not Parquet (the engine's own failures to read it are
                    # StorageUnavailable already)
                    raise binding_failed(key[1], key[2], first_line(exc, self.store.root)) from exc
                with self._lock:
                    self._bound[key] = hit
                    self._build_locks.pop(key, None)
                self._evict(key)
        return hit.split("#")[0]

    def _create(self, table: TableDef, key: Key) -> str:
        tenant, relation, version = key
        name = f"{relation}@{version if version is not None else 'none'}"
        engine = self.engines.get(tenant)
        source = self.source(tenant, table, version, check_uniform=True)
        if not isinstance(source, PinnedFiles):  # no files: an empty table
            engine.bind(name, source)
            return f"{name}#native"
        small = table.layer == "mart" or (table.layer == "core" and not table.partition_by)
        if small and version is not None and self.native_rows:
            rows = self.store.row_count(tenant, table, version)
            if rows <= self.native_rows:
                engine.bind(name, source, materialize=True)
                return f"{name}#native"
        engine.bind(name, source)
        return name

    def source(
        self, tenant: str, table: TableDef, version: int | None, *, check_uniform: bool = False
    ) -> Relation:
        """What a table's version reads: its Parquet files, or an empty Arrow table when it
        has none (or no version). ``check_uniform`` reads every footer to learn whether the
        files agree on their columns (then the engine need not unify them on each read)."""
        files = self.store.files(tenant, table, version) if version is not None else []
        if not files or version is None:
            return table.schema.empty_table()
        stored = set(self.store.column_names(tenant, table, version))
        absent = tuple((n, t) for n, t in table.columns if n not in stored)
        return PinnedFiles(
            relation=table.relation,
            version=version,
            columns=tuple(table.column_names),
            files=tuple(files),
            partition_by=tuple(table.partition_by),
            uniform=check_uniform and _uniform(files) and not absent,
            absent=absent,
        )

    def members(self, tenant: str, values: frozenset[str]) -> str:
        """A one-column table (``code``) of ``values`` bound in the tenant's engine, once per
        set: what a row policy's filter reads (``code IN (SELECT code FROM it)``), so a query
        under a policy of a thousand members plans as fast as one without (an inlined list
        of literals cost DuckDB about 5 ms of planning per 200 members)."""
        digest = hashlib.sha256("\x1f".join(sorted(values)).encode()).hexdigest()[:24]
        key: Key = (tenant, f"__members_{digest}", None)
        with self._lock:
            hit = self._bound.get(key)
            if hit is not None:
                return hit
            build = self._build_locks.setdefault(key, threading.Lock())
        with build:
            with self._lock:
                hit = self._bound.get(key)
            if hit is None:
                table = pa.table({"code": pa.array(sorted(values), pa.string())})
                self.engines.get(tenant).bind(key[1], table, materialize=True)
                with self._lock:
                    self._bound[key] = hit = key[1]
                    self._build_locks.pop(key, None)
        return hit

    def drop_tenant(self, tenant: str) -> None:
        """Forget what is bound for ``tenant``: its engine was released (a suspended or
        deleted tenant), and the next one starts with nothing bound."""
        with self._lock:
            for key in [k for k in self._bound if k[0] == tenant]:
                del self._bound[key]

    def _evict(self, newest: Key) -> None:
        """Drop versions of the relation older than the ``keep_versions`` newest, unless a
        running query holds them (a query pinning an old commit binds it again)."""
        tenant, relation, _ = newest
        with self._lock:
            versions = sorted(
                (k for k in self._bound if k[0] == tenant and k[1] == relation),
                key=lambda k: -1 if k[2] is None else k[2],
                reverse=True,
            )
            drop = [k for k in versions[self.keep_versions :] if k not in self._in_use]
            names = [self._bound.pop(k) for k in drop]
        engine = self.engines.get(tenant)
        for name in names:
            engine.unbind(name.partition("#")[0])


def _uniform(files: list[str]) -> bool:
    """Whether every file has the same columns in the same order (then DuckDB need not read
    every footer on each bind to unify them by name)."""
    first = None
    for f in files:
        names = pq.read_schema(f).names
        if first is None:
            first = names
        elif names != first:
            return False
    return True
