"""What Ledgerhouse asks of a query engine, whatever runs the SQL (docs/engines.md).

An :class:`Engine` is one tenant's sandboxed database. Ledgerhouse binds pinned relations in it
(a Delta version's Parquet files, or an Arrow table) under names of its own, then runs each
request on a :class:`Session` of it: SQL with parameters in, Arrow out, at most ``max_rows``
rows, interruptible from another thread. The engine reads and writes nothing outside its
tenant root, and spills into a folder of its own inside it.

Engines raise Ledgerhouse errors, never their own: an interrupted statement is a
``QueryTimeout``, a file that cannot be read a ``StorageUnavailable``, anything else the engine
refuses a ``QueryFailed`` — each worded by the helpers below, so every engine says the same, and
with the server's paths written ``<root>`` or ``<path>``.
"""

from __future__ import annotations

import os
import secrets
import shutil
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, Protocol, TypeAlias

import pyarrow as pa

from ledgerhouse.errors import QueryFailed, QueryTimeout, StorageUnavailable, scrub_paths

Explain = Literal["plan", "analyze"] | None


@dataclass(frozen=True)
class EngineOptions:
    """How to open one tenant's engine."""

    tenant_root: Path  #: the only directory the engine may read or write
    memory_limit: str = "4GB"
    threads: int = 2
    #: written ``<root>`` in error messages (the warehouse root); default: the tenant root
    private_root: Path | None = None


@dataclass(frozen=True)
class PinnedFiles:
    """One version of a Delta table, as the Parquet files of its current file list."""

    relation: str
    version: int | None
    columns: tuple[str, ...]
    files: tuple[str, ...]
    #: hive partition columns (``trade_month=2024-01/``), read as text
    partition_by: tuple[str, ...] = ()
    #: every file has the same columns in the same order (no need to unify them by name)
    uniform: bool = False
    #: columns of the table this version has no data for (written by an older release,
    #: before ``ledgerhouse upgrade`` added them), read as NULLs of the given Arrow type
    absent: tuple[tuple[str, pa.DataType], ...] = ()


#: What an engine binds: a table version's files, or an Arrow table (an empty version).
Relation: TypeAlias = PinnedFiles | pa.Table


@dataclass(frozen=True)
class Rows:
    """An answer: at most ``max_rows`` rows, and whether the statement had more."""

    table: pa.Table
    truncated: bool


class Session(Protocol):
    """One request's connection to a tenant engine; closed when the request ends."""

    def bind(self, name: str, relation: Relation) -> None:
        """Make ``relation`` visible as ``name`` to this session only (a version that is not
        committed yet: a mart refresh inside an ingestion). Arrow tables are not copied."""

    def execute(
        self,
        sql: str,
        params: Sequence[Any] | None = None,
        *,
        max_rows: int | None = None,
        explain: Explain = None,
        timeout_s: float | None = None,
    ) -> Rows:
        """Run one statement in the engine's dialect with ``?`` parameters bound (never
        spliced). Reads at most one batch past ``max_rows``. ``explain`` answers the plan
        (``"plan"``) or the plan with actual timings (``"analyze"``, which runs it).
        ``timeout_s`` is the limit the caller enforces (by ``interrupt``): an interrupt once it
        has passed — counted from the session's opening or its previous statement's end —
        is reported as the time limit, an earlier one as a cancel."""
        ...

    def stream(
        self,
        sql: str,
        params: Sequence[Any] | None = None,
        *,
        batch_rows: int = 65_536,
        timeout_s: float | None = None,
    ) -> Iterator[pa.RecordBatch]:
        """Run one statement like ``execute``, with no row cap, and yield its rows as Arrow
        batches of at most ``batch_rows`` rows (at least one row each) as the engine produces
        them, so memory holds a batch, not the answer. Errors (an interrupt between batches
        included) are raised by the iteration, worded as ``execute`` words them; the session
        must stay open until the iterator is exhausted or closed."""
        ...

    def interrupt(self) -> None:
        """Stop the running statement, or the next one if none runs yet (from any thread);
        ``execute`` raises QueryTimeout."""

    def close(self) -> None: ...

    def __enter__(self) -> Session: ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...


class Engine(Protocol):
    """One tenant's sandboxed query engine, shared by that tenant's requests (thread-safe)."""

    @property
    def name(self) -> str:
        """The name it is registered under (``duckdb``)."""
        ...

    @property
    def dialect(self) -> str:
        """The SQLGlot dialect its SQL is written in."""
        ...

    @property
    def tenant_root(self) -> Path: ...

    @property
    def spill_dir(self) -> Path:
        """This engine's own spill folder, inside the tenant root; removed on close."""
        ...

    def bind(self, name: str, relation: Relation, *, materialize: bool = False) -> None:
        """Make ``relation`` visible as ``name`` to every later session. ``materialize``
        copies the files' rows into the engine (small serving tables); an Arrow table is
        always copied."""

    def unbind(self, name: str) -> None:
        """Drop what ``bind`` made (nothing when nothing is bound under ``name``)."""

    def session(self) -> Session:
        """A session for one request."""
        ...

    def allowed_directories(self) -> list[str]:
        """The directories the engine may read or write (for tests and operators)."""
        ...

    def close(self) -> None: ...


#: Opens one tenant's engine; what a registered engine's loader returns.
EngineFactory = Callable[[EngineOptions], Engine]


# -- CPU metering ------------------------------------------------------------------------------
_CPU = threading.local()


def add_cpu_seconds(tenant_root: Path, seconds: float) -> None:
    """Count CPU seconds a statement took on this thread for the engine of ``tenant_root``
    (engines call it around each statement they run for a caller)."""
    spent: dict[str, float] = _CPU.__dict__.setdefault("spent", {})
    spent[str(tenant_root)] = spent.get(str(tenant_root), 0.0) + seconds


def take_cpu_seconds(tenant_root: Path) -> float:
    """The CPU seconds counted on this thread for ``tenant_root``'s engine since the last
    take (the usage meter takes them when the query is logged, on the query's thread)."""
    spent: dict[str, float] = _CPU.__dict__.setdefault("spent", {})
    return spent.pop(str(tenant_root.resolve()), 0.0)


# -- the errors every engine raises, worded once -------------------------------------------
def first_line(exc: BaseException, *roots: str | os.PathLike[str] | None) -> str:
    """An engine's message, first line, with no server path in it (each root is ``<root>``)."""
    text = str(exc)
    return scrub_paths(text.splitlines()[0][:400] if text else repr(exc), *(r for r in roots if r))


def interrupted(timeout_s: float | None, elapsed_s: float) -> QueryTimeout:
    """A statement stopped by ``interrupt()``: by its time limit, or by a cancel."""
    ran_out = timeout_s is not None and elapsed_s >= timeout_s * 0.99
    why = f"it ran past its {timeout_s:g} s limit" if ran_out else "it was cancelled"
    return QueryTimeout(
        f"the query was interrupted: {why}",
        hint="Narrow the query (filters, fewer months), or raise the limit with "
        "timeout_s / LEDGERHOUSE_QUERY_TIMEOUT_S.",
        timeout_s=timeout_s,
    )


def storage_failed(reason: str) -> StorageUnavailable:
    """A data or spill file vanished under a running statement, or a disk error."""
    return StorageUnavailable(
        f"reading the warehouse's storage failed: {reason}",
        hint="Retry; if it persists, the server log names the file that failed.",
    )


def binding_failed(relation: str, version: int | None, reason: str) -> StorageUnavailable:
    """A file of a pinned version could not be read while binding it."""
    return StorageUnavailable(
        f"reading the storage of {relation} at version {version} failed: {reason}",
        hint="Retry; if it persists, the server log names the file that failed.",
        table=relation,
    )


def query_failed(reason: str, engine: str) -> QueryFailed:
    """The engine refused an accepted statement (a type error, division by zero...)."""
    hint = f"Fix the SQL; the error names the part {engine} could not run."
    if "Overflow in" in reason:  # exact decimals (decision 0014) have 38 digits, no more
        hint = (
            "An exact decimal result needs more than 38 digits: a product of decimals adds "
            "their scales (amount × rate × rate has 30 places). Round a factor first "
            "(CAST(x * fx_rate AS DECIMAL(38, 6))), or CAST to DOUBLE for an approximate value."
        )
    return QueryFailed(f"the query failed: {reason}", hint=hint)


# -- spill folders ---------------------------------------------------------------------------
#: The folder, inside each tenant root, that holds the tenant engines' spill files.
SPILL_FOLDER = ".spill"


def new_spill_dir(tenant_root: Path) -> Path:
    """A spill folder for one engine, ``<tenant root>/.spill/<pid>-<random>`` (not created:
    engines create it when they first spill). One per engine, so two processes (server, CLI)
    never share or delete each other's files; folders of processes that are gone go first."""
    folder = tenant_root / SPILL_FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    _remove_stale_spill(folder)
    return folder / f"{os.getpid()}-{secrets.token_hex(4)}"


def remove_spill_dir(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)


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
