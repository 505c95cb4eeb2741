"""Pinned table versions bound once in the tenant's DuckDB database, not once per query.

A query reads each relation at the version its commit pins. Binding that version (a view
over its Parquet files) costs DuckDB a read of the file footers; doing it on every request was
the largest fixed cost of a small query (about 10 ms at SF 1). So each (relation, version)
becomes a named object of the tenant database the first time a query needs it:

- a **native table** (copied into memory) for small serving tables — marts, rollups and
  dimensions up to ``native_rows`` rows — which DuckDB then scans several times faster than
  Parquet (the serving accelerator of ARCHITECTURE.md, rebuilt from Delta at any time);
- a **view** over the version's Parquet files otherwise.

Queries refer to these objects through the guard's rendered SQL (``"fact_trade@12" AS
fact_trade``). Old versions are dropped when newer ones exist and no running query holds them.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

import duckdb
import pyarrow.parquet as pq

from ledgerhouse.errors import StorageUnavailable, scrub_paths
from ledgerhouse.model.schema import TableDef
from ledgerhouse.storage.delta import DeltaStore
from ledgerhouse.storage.engine import EnginePool

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
                except (OSError, duckdb.IOException) as exc:  # a file of the version vanished
                    raise StorageUnavailable(
                        f"reading the storage of {key[1]} at version {key[2]} failed: "
                        + scrub_paths(str(exc).splitlines()[0][:400], self.store.root),
                        hint="Retry; if it persists, the server log names the file that failed.",
                        table=key[1],
                    ) from exc
                with self._lock:
                    self._bound[key] = hit
                    self._build_locks.pop(key, None)
                self._evict(key)
        return hit.split("#")[0]

    def _create(self, table: TableDef, key: Key) -> str:
        tenant, relation, version = key
        name = f"{relation}@{version if version is not None else 'none'}"
        quoted = '"' + name.replace('"', '""') + '"'
        engine = self.engines.get(tenant)
        files = self.store.files(tenant, table, version) if version is not None else []
        if not files:
            engine.ddl(
                f"CREATE OR REPLACE TABLE {quoted} AS SELECT * FROM __empty",
                table.schema.empty_table(),
            )
            return f"{name}#native"
        source = read_parquet_sql(table, files, uniform=_uniform(files))
        small = table.layer == "mart" or (table.layer == "core" and not table.partition_by)
        if small and version is not None and self.native_rows:
            rows = self.store.row_count(tenant, table, version)
            if rows <= self.native_rows:
                engine.ddl(f"CREATE OR REPLACE TABLE {quoted} AS {source}")
                return f"{name}#native"
        engine.ddl(f"CREATE OR REPLACE VIEW {quoted} AS {source}")
        return name

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
            base, _, kind = name.partition("#")
            quoted = '"' + base.replace('"', '""') + '"'
            engine.ddl(f"DROP {'TABLE' if kind == 'native' else 'VIEW'} IF EXISTS {quoted}")


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


def read_parquet_sql(table: TableDef, files: list[str], *, uniform: bool = False) -> str:
    """The SELECT of a table's columns from a list of its Parquet files."""
    cols = ", ".join(_ident(c) for c in table.column_names)
    file_list = "[" + ", ".join(_literal(f) for f in files) + "]"
    options = f"union_by_name = {'false' if uniform else 'true'}"
    if table.partition_by:
        types = ", ".join(f"{_literal(p)}: 'VARCHAR'" for p in table.partition_by)
        options += f", hive_partitioning = true, hive_types = {{{types}}}"
    else:
        options += ", hive_partitioning = false"
    return f"SELECT {cols} FROM read_parquet({file_list}, {options})"


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"
