"""The embedded query engine: one sandboxed DuckDB database per tenant.

Opened with the tenant's memory and thread limits, its own spill folder inside the tenant root
(``<tenant root>/.spill/<process>``: DuckDB adds the temp directory to the allowed
directories, and its default, ``.tmp`` in the working directory, was shared by every tenant),
``allowed_directories`` = the tenant root, then external access off and the configuration
locked, in that order (DuckDB refuses to change ``allowed_directories`` once external access
is off). After this, reading or writing a file outside the tenant root fails, and ``SET`` is
refused. ``COPY ... TO`` inside the root still works, which is why the SQL guard admits nothing
but a query and no function that reads a file.
"""

from __future__ import annotations

import os
import secrets
import shutil
import threading
from collections.abc import Callable
from pathlib import Path

import duckdb
import pyarrow as pa


class TenantEngine:
    def __init__(self, tenant_root: Path, memory_limit: str, threads: int) -> None:
        self.tenant_root = tenant_root.resolve()
        # one folder per engine: two processes (server, CLI) never share (or delete) spill files
        self.spill_dir = self.tenant_root / SPILL_FOLDER / f"{os.getpid()}-{secrets.token_hex(4)}"
        self.spill_dir.parent.mkdir(parents=True, exist_ok=True)
        _remove_stale_spill(self.spill_dir.parent)
        self._con = duckdb.connect(
            database=":memory:",
            config={
                "memory_limit": memory_limit,
                "threads": threads,
                "temp_directory": str(self.spill_dir),
            },
        )
        root = str(self.tenant_root).replace("'", "''")
        self._con.execute(f"SET allowed_directories = ['{root}/']")
        self._con.execute("SET enable_external_access = false")
        self._con.execute("SET autoinstall_known_extensions = false")
        self._con.execute("SET autoload_known_extensions = false")
        self._con.execute("SET lock_configuration = true")
        self._lock = threading.Lock()

    def cursor(self) -> duckdb.DuckDBPyConnection:
        """A fresh cursor (its own connection to the tenant database) for one request."""
        with self._lock:
            return self._con.cursor()

    def ddl(self, sql: str, empty: pa.Table | None = None) -> None:
        """Run a statement of Ledgerhouse's own (binding pinned versions) on the database's
        main connection; never a user's SQL. ``empty`` is visible to it as ``__empty``."""
        with self._lock:
            if empty is not None:
                self._con.register("__empty", empty)
            try:
                self._con.execute(sql)
            finally:
                if empty is not None:
                    self._con.unregister("__empty")

    def allowed_directories(self) -> list[str]:
        """The directories the engine may read or write (for tests and operators)."""
        with self._lock:
            row = self._con.execute("SELECT current_setting('allowed_directories')").fetchone()
        return list(row[0]) if row else []

    def close(self) -> None:
        self._con.close()
        shutil.rmtree(self.spill_dir, ignore_errors=True)


#: The folder, inside each tenant root, that holds the tenant engines' spill files.
SPILL_FOLDER = ".spill"


def _remove_stale_spill(folder: Path) -> None:
    """Spill folders of processes that are gone (killed before they could clean up)."""
    for child in folder.iterdir():
        pid = child.name.split("-", 1)[0]
        if pid.isdigit() and int(pid) != os.getpid() and not _alive(int(pid)):
            shutil.rmtree(child, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class EnginePool:
    """Lazily opened TenantEngine per tenant."""

    def __init__(
        self, tenant_root_of: Callable[[str], Path], memory_limit: str, threads: int
    ) -> None:
        self._root_of = tenant_root_of
        self._memory = memory_limit
        self._threads = threads
        self._engines: dict[str, TenantEngine] = {}
        self._lock = threading.Lock()

    def get(self, tenant: str) -> TenantEngine:
        with self._lock:
            eng = self._engines.get(tenant)
            if eng is None:
                eng = TenantEngine(self._root_of(tenant), self._memory, self._threads)
                self._engines[tenant] = eng
            return eng

    def close(self) -> None:
        with self._lock:
            for eng in self._engines.values():
                eng.close()
            self._engines.clear()
