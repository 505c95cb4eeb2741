"""The embedded query engine: one sandboxed, in-memory DuckDB database per tenant.

Opened with the tenant's memory and thread limits, its own spill folder inside the tenant root
(``<tenant root>/.spill/<process>``: DuckDB adds the temp directory to the allowed
directories, and its default, ``.tmp`` in the working directory, was shared by every tenant),
``allowed_directories`` = the tenant root, then external access off and the configuration
locked, in that order (DuckDB refuses to change ``allowed_directories`` once external access
is off). After this, reading or writing a file outside the tenant root fails, and ``SET`` is
refused. ``COPY ... TO`` inside the root still works, which is why the SQL guard admits nothing
but a query and no function that reads a file.

Pinned versions are bound on the database's main connection (visible to every cursor); each
request runs on its own cursor (DuckDB releases the GIL, so concurrent queries use every core).
This is the only module of Ledgerhouse's query path that imports ``duckdb``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

import duckdb
import pyarrow as pa

from ledgerhouse.storage.engines.base import (
    EngineOptions,
    Explain,
    PinnedFiles,
    Relation,
    Rows,
    add_cpu_seconds,
    binding_failed,
    first_line,
    interrupted,
    new_spill_dir,
    query_failed,
    remove_spill_dir,
    storage_failed,
)

#: Rows per Arrow batch read from a result (the row cap is checked between batches).
BATCH_ROWS = 8192


class DuckDBEngine:
    name = "duckdb"
    dialect = "duckdb"

    def __init__(self, options: EngineOptions) -> None:
        self.tenant_root = options.tenant_root.resolve()
        self.spill_dir = new_spill_dir(self.tenant_root)
        self._private_root = options.private_root or self.tenant_root
        self.memory_limit, self.threads = options.memory_limit, options.threads
        self._con = self._connect(options.memory_limit, options.threads)
        self._lock = threading.Lock()
        self._kinds: dict[str, str] = {}  # bound name -> TABLE | VIEW
        # what each name binds, to bind it again in a reconfigured database
        self._sources: dict[str, tuple[Relation, bool]] = {}
        # open sessions per connection; a replaced connection closes when its last one ends
        self._open: dict[int, int] = {}
        self._retired: dict[int, duckdb.DuckDBPyConnection] = {}

    def _connect(self, memory_limit: str, threads: int) -> duckdb.DuckDBPyConnection:
        con = duckdb.connect(
            database=":memory:",
            config={
                "memory_limit": memory_limit,
                "threads": threads,
                "temp_directory": str(self.spill_dir),
            },
        )
        root = str(self.tenant_root).replace("'", "''")
        con.execute(f"SET allowed_directories = ['{root}/']")
        con.execute("SET enable_external_access = false")
        con.execute("SET autoinstall_known_extensions = false")
        con.execute("SET autoload_known_extensions = false")
        con.execute("SET lock_configuration = true")
        return con

    def reconfigure(self, memory_limit: str, threads: int) -> None:
        """Open the database again with other limits (the configuration is locked, so a
        running database cannot take them) and bind in it what is bound; sessions opened
        after this run on it, those already open finish on the old one, closed after them."""
        if (memory_limit, threads) == (self.memory_limit, self.threads):
            return
        with self._lock:
            new = self._connect(memory_limit, threads)
            old, self._con = self._con, new
            for name, (relation, materialize) in list(self._sources.items()):
                try:
                    self._create(name, relation, materialize)
                except Exception:  # a file gone since: the next query binds it again
                    self._kinds.pop(name, None)
                    self._sources.pop(name, None)
            self.memory_limit, self.threads = memory_limit, threads
            in_use = bool(self._open.get(id(old), 0))
            if in_use:
                self._retired[id(old)] = old
        if not in_use:
            old.close()

    def cursor(self) -> duckdb.DuckDBPyConnection:
        """A fresh cursor (its own connection to the tenant database). DuckDB's own object,
        for sessions and for tests that check the sandbox below the guard."""
        with self._lock:
            return self._con.cursor()

    def session(self) -> DuckDBSession:
        with self._lock:
            con = self._con
            cursor = con.cursor()
            self._open[id(con)] = self._open.get(id(con), 0) + 1
        return DuckDBSession(
            cursor, self._private_root, self.tenant_root, lambda: self._session_closed(con)
        )

    def _session_closed(self, con: duckdb.DuckDBPyConnection) -> None:
        with self._lock:
            left = self._open[id(con)] = self._open.get(id(con), 1) - 1
            if left:
                return
            del self._open[id(con)]
            retired = self._retired.pop(id(con), None)
        if retired is not None:
            retired.close()

    def bind(self, name: str, relation: Relation, *, materialize: bool = False) -> None:
        with self._lock:
            self._create(name, relation, materialize)
            self._sources[name] = (relation, materialize)

    def _create(self, name: str, relation: Relation, materialize: bool) -> None:
        quoted = _ident(name)
        kind = "TABLE" if materialize or isinstance(relation, pa.Table) else "VIEW"
        if self._kinds.get(name, kind) != kind:
            self._drop(name)
        try:
            if isinstance(relation, pa.Table):
                self._con.register("__arrow", relation)
                try:
                    self._con.execute(f"CREATE OR REPLACE TABLE {quoted} AS FROM __arrow")
                finally:
                    self._con.unregister("__arrow")
            else:
                source = read_parquet_sql(relation)
                self._con.execute(f"CREATE OR REPLACE {kind} {quoted} AS {source}")
        except (OSError, duckdb.IOException) as exc:  # a file of the version vanished
            assert isinstance(relation, PinnedFiles)
            raise binding_failed(
                relation.relation, relation.version, first_line(exc, self._private_root)
            ) from exc
        self._kinds[name] = kind

    def unbind(self, name: str) -> None:
        with self._lock:
            self._drop(name)

    def _drop(self, name: str) -> None:
        self._sources.pop(name, None)
        kind = self._kinds.pop(name, None)
        if kind is not None:
            self._con.execute(f"DROP {kind} IF EXISTS {_ident(name)}")

    def allowed_directories(self) -> list[str]:
        with self._lock:
            row = self._con.execute("SELECT current_setting('allowed_directories')").fetchone()
        return list(row[0]) if row else []

    def close(self) -> None:
        self._con.close()
        for con in self._retired.values():
            con.close()
        self._retired.clear()
        remove_spill_dir(self.spill_dir)


class DuckDBSession:
    """One request's cursor of a tenant database."""

    def __init__(
        self,
        cursor: duckdb.DuckDBPyConnection,
        private_root: Path,
        tenant_root: Path | None = None,
        on_close: Any = None,
    ) -> None:
        self._cur = cursor
        self._private_root = private_root
        self._tenant_root = tenant_root or private_root
        self._on_close = on_close  # the engine's count of sessions per connection
        # when the statement being run began to count: the session's opening or the end of
        # its previous statement, so a time limit armed just before ``execute`` counts in full
        self._idle_since = time.perf_counter()
        self._interrupted = False

    def bind(self, name: str, relation: Relation) -> None:
        if isinstance(relation, pa.Table):
            self._cur.register(name, relation)
            return
        try:
            source = read_parquet_sql(relation)
            self._cur.execute(f"CREATE OR REPLACE TEMP VIEW {_ident(name)} AS {source}")
        except (OSError, duckdb.IOException) as exc:
            raise binding_failed(
                relation.relation, relation.version, first_line(exc, self._private_root)
            ) from exc

    def execute(
        self,
        sql: str,
        params: Sequence[Any] | None = None,
        *,
        max_rows: int | None = None,
        explain: Explain = None,
        timeout_s: float | None = None,
    ) -> Rows:
        if explain is not None:
            sql = ("EXPLAIN ANALYZE " if explain == "analyze" else "EXPLAIN ") + sql
        cpu_started = time.thread_time()  # the caller thread's CPU (docs/tenancy/resources.md)
        try:
            # DuckDB forgets an interrupt that comes before its statement starts (a cancel
            # while the query's versions were being bound): remember it and stop here instead
            self._stop_if_interrupted()
            relation = self._cur.sql(sql, params=params or None)
            if relation is None:  # a statement that answers nothing (ran already)
                return Rows(pa.table({}), False)
            self._stop_if_interrupted()
            reader = relation.to_arrow_reader(BATCH_ROWS)
            batches, count = [], 0
            try:
                for batch in reader:
                    batches.append(batch)
                    count += batch.num_rows
                    if max_rows is not None and count > max_rows:
                        break
            except OSError as exc:  # how pyarrow raises DuckDB's error while rows stream
                raise _duckdb_error(exc) from exc
            table = pa.Table.from_batches(batches, schema=reader.schema)
        except duckdb.InterruptException as exc:
            raise interrupted(timeout_s, time.perf_counter() - self._idle_since) from exc
        except duckdb.IOException as exc:  # a data or spill file vanished, a disk error
            raise storage_failed(first_line(exc, self._private_root)) from exc
        except duckdb.Error as exc:
            raise query_failed(first_line(exc, self._private_root), "DuckDB") from exc
        finally:
            self._idle_since = time.perf_counter()
            self._interrupted = False  # consumed by this statement
            add_cpu_seconds(self._tenant_root, time.thread_time() - cpu_started)
        truncated = max_rows is not None and table.num_rows > max_rows
        return Rows(table.slice(0, max_rows) if truncated else table, truncated)

    def stream(
        self,
        sql: str,
        params: Sequence[Any] | None = None,
        *,
        batch_rows: int = 65_536,
        timeout_s: float | None = None,
    ) -> Iterator[pa.RecordBatch]:
        try:
            self._stop_if_interrupted()
            relation = self._cur.sql(sql, params=params or None)
            if relation is None:
                return
            reader = relation.to_arrow_reader(batch_rows)
            while True:
                # an interrupt between two batches (the consumer was writing) stops it here
                self._stop_if_interrupted()
                try:
                    batch = reader.read_next_batch()
                except StopIteration:
                    return
                except OSError as exc:  # how pyarrow raises DuckDB's error while rows stream
                    raise _duckdb_error(exc) from exc
                for start in range(0, batch.num_rows, batch_rows):
                    yield batch.slice(start, batch_rows)
        except duckdb.InterruptException as exc:
            raise interrupted(timeout_s, time.perf_counter() - self._idle_since) from exc
        except duckdb.IOException as exc:
            raise storage_failed(first_line(exc, self._private_root)) from exc
        except duckdb.Error as exc:
            raise query_failed(first_line(exc, self._private_root), "DuckDB") from exc
        finally:
            self._idle_since = time.perf_counter()
            self._interrupted = False

    def interrupt(self) -> None:
        self._interrupted = True
        self._cur.interrupt()

    def _stop_if_interrupted(self) -> None:
        if self._interrupted:
            raise duckdb.InterruptException("INTERRUPT Error: Interrupted!")

    def close(self) -> None:
        self._cur.close()
        if self._on_close is not None:
            self._on_close, done = None, self._on_close
            done()

    def __enter__(self) -> DuckDBSession:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def read_parquet_sql(files: PinnedFiles) -> str:
    """The SELECT of a table version's columns from its Parquet files (a column the version
    lacks, from an older release, as typed NULLs: old commits answer as they did)."""
    absent = dict(files.absent)
    cols = ", ".join(
        f"CAST(NULL AS {_sql_type(absent[c])}) AS {_ident(c)}" if c in absent else _ident(c)
        for c in files.columns
    )
    file_list = "[" + ", ".join(_literal(f) for f in files.files) + "]"
    options = f"union_by_name = {'false' if files.uniform else 'true'}"
    if files.partition_by:
        types = ", ".join(f"{_literal(p)}: 'VARCHAR'" for p in files.partition_by)
        options += f", hive_partitioning = true, hive_types = {{{types}}}"
    else:
        options += ", hive_partitioning = false"
    return f"SELECT {cols} FROM read_parquet({file_list}, {options})"


def _sql_type(t: pa.DataType) -> str:
    if pa.types.is_decimal(t):
        return f"DECIMAL({t.precision}, {t.scale})"
    names = {"int16": "SMALLINT", "int32": "INTEGER", "int64": "BIGINT", "double": "DOUBLE"}
    names |= {"bool": "BOOLEAN", "date32[day]": "DATE", "string": "VARCHAR"}
    return names.get(str(t), "VARCHAR")


def _duckdb_error(exc: OSError) -> duckdb.Error:
    """The DuckDB exception an OSError from a streaming result stands for (its message
    starts with DuckDB's error type: ``IO Error: ...``, ``INTERRUPT Error: ...``)."""
    text = str(exc)
    if text.startswith("INTERRUPT"):
        return duckdb.InterruptException(text)
    if text.startswith("IO Error"):
        return duckdb.IOException(text)
    return duckdb.Error(text)


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"
