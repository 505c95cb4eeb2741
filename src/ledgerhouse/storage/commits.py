"""The commit writer: the one way a tenant's tables change (docs/storage.md, decision 0009).

Every writer (ingestion, tenant creation, anomaly scoring) runs the same sequence::

    with writer.transaction(tenant, "ml_score") as txn:   # 1. the tenant's writer lock
        ...                                              # 2. recovery, before the body runs
        txn.append(ML_TRADE_ANOMALY, rows)               # 3. staged Delta versions
    txn.commit                                           # 4. listeners, 5. the commit point

1. The tenant's writer lock (``fcntl``): commits of one tenant apply one at a time, across
   processes.
2. Recovery of a crashed predecessor: every table whose Delta version is ahead of the last
   warehouse commit is restored to its committed version (Delta RESTORE); a table no commit
   knows yet is restored to its empty version 0. So a transaction always starts from exactly
   the committed state, and nothing a crashed writer left can be published by the next one.
3. The body stages appends, overwrites or any other write (``stage``), each returning the
   new Delta version. Until the commit point readers and recovery ignore them.
4. Commit listeners, registered once (``add_listener``), run inside the commit with the
   tenant, the committed versions and the new versions, and return the versions of the tables
   they rewrote (marts and rollups, in the order registered; then the quality checks), which
   join the same commit. A listener that raises aborts the commit.
5. One metadata transaction records the warehouse commit (and the ledger entry of the batch,
   when there is one): the commit point.

Observers (``add_observer``) hear each transaction start, commit or fail (lineage events,
quality results); they cannot change the outcome. A body that raises, or stages nothing,
records no commit. ``LEDGERHOUSE_FAILPOINT`` names a
point (a table, after its write; or ``before-commit``) where the process SIGKILLs itself, as a
power cut would; the crash tests use it.
"""

from __future__ import annotations

import fcntl
import logging
import os
import shutil
import signal
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any, Protocol

import polars as pl
import pyarrow as pa

from ledgerhouse.errors import (
    LedgerhouseError,
    MetadataUnavailable,
    StorageFull,
    disk_full,
    metadata_refused,
)
from ledgerhouse.model.schema import TableDef
from ledgerhouse.storage.delta import DeltaStore
from ledgerhouse.storage.metadata import MetadataStore, WarehouseCommit

log = logging.getLogger("ledgerhouse.commits")

#: ``listener(tenant, committed_versions, new_versions) -> versions of the tables it rewrote``
CommitListener = Callable[[str, dict[str, int], dict[str, int]], dict[str, int]]


class CommitObserver(Protocol):
    """Hears each transaction's outcome (lineage events, quality results): ``started`` once
    recovery is done and before the body runs, then ``committed`` after the commit point (the
    commit is visible; ``txn.commit`` is set) or ``failed`` when the body or a listener raised
    (nothing was published), or ``abandoned`` when the body staged nothing. An observer must
    not raise: a failure it has is logged, and the
    transaction's outcome stands."""

    def started(self, txn: Transaction) -> None: ...

    def committed(self, txn: Transaction) -> None: ...

    def failed(self, txn: Transaction, error: BaseException) -> None: ...

    def abandoned(self, txn: Transaction) -> None:
        """The body staged nothing (a duplicate batch, nothing to do): no commit, no error."""


class Transaction:
    """One pending warehouse commit of a tenant: what the body stages, what it commits."""

    def __init__(
        self,
        store: DeltaStore,
        tenant: str,
        operation: str,
        base: WarehouseCommit | None,
        committed: dict[str, int],
    ) -> None:
        self._store = store
        self.tenant = tenant
        self.operation = operation
        #: The last warehouse commit before this one (None for a tenant's first).
        self.base = base
        #: Its table versions, after recovery (a restored table has the version RESTORE made,
        #: with the committed content).
        self.committed = committed
        #: Tables this transaction wrote and their new versions (the listeners' included).
        self.written: dict[str, int] = {}
        #: The ledger entry of the batch committed with it (``transaction(batch=...)``).
        self.report: dict[str, Any] = {}
        #: The recorded commit, once the ``with`` block has ended without an error.
        self.commit: WarehouseCommit | None = None
        #: What the body and the listeners tell the observers (e.g. the batch's inputs, the
        #: quality results): free-form, by key.
        self.notes: dict[str, Any] = {}

    @property
    def versions(self) -> dict[str, int]:
        """The table versions this transaction will commit."""
        return {**self.committed, **self.written}

    def stage(self, table: TableDef, write: Callable[[], int]) -> int:
        """Run one Delta write of ``table`` (returning its new version) as part of the commit."""
        version = write()
        self.written[table.relation] = version
        failpoint(table.relation)
        return version

    def append(self, table: TableDef, data: pa.Table | pl.DataFrame) -> int:
        return self.stage(table, lambda: self._store.append(self.tenant, table, data))

    def overwrite(
        self, table: TableDef, data: pa.Table | pl.DataFrame, predicate: str | None = None
    ) -> int:
        return self.stage(
            table, lambda: self._store.overwrite(self.tenant, table, data, predicate=predicate)
        )

    def create(self, table: TableDef) -> int:
        """Create ``table`` empty (no-op if it exists); it joins the commit at that version.
        No failpoint: creating is idempotent, and recovery empties an uncommitted table."""
        version = self._store.create(self.tenant, table)
        self.written[table.relation] = version
        return version


class CommitWriter:
    def __init__(self, store: DeltaStore, meta: MetadataStore, tables: Iterable[TableDef]) -> None:
        self.store = store
        self.meta = meta
        self.tables = tuple(tables)  # every table recovery restores (from the composition root)
        #: a tenant's own tables, restored too (its schema: docs/tenancy/schemas.md)
        self.tables_of: Callable[[str], Iterable[TableDef]] = lambda _tenant: ()
        self.listeners: list[CommitListener] = []
        self.observers: list[CommitObserver] = []
        #: ``damaged(tenant, versions, error)`` raises StorageDamaged when a failed write's
        #: tables are damaged on disk (storage/check.py); returns otherwise
        self.damaged: Callable[[str, dict[str, int], BaseException], None] = lambda _t, _v, _e: None
        #: The transaction running in this thread (a listener reads and notes on it).
        self._current = threading.local()

    def add_listener(self, listener: CommitListener) -> None:
        """Run ``listener`` inside every commit, after the ones registered before it (it sees
        their tables in the new versions)."""
        self.listeners.append(listener)

    def add_observer(self, observer: CommitObserver) -> None:
        """Tell ``observer`` when each transaction starts, commits or fails."""
        self.observers.append(observer)

    @property
    def current(self) -> Transaction | None:
        """The transaction this thread is in (for a listener: the one it runs inside)."""
        return getattr(self._current, "txn", None)

    def _notify(self, event: str, txn: Transaction, *args: Any) -> None:
        for observer in self.observers:
            try:
                getattr(observer, event)(txn, *args)
            except Exception:  # an observer never changes a transaction's outcome
                log.exception("commit observer %r failed on %s", observer, event)

    @contextmanager
    def writer_lock(self, tenant: str) -> Iterator[None]:
        """The tenant's writer lock (fcntl): commits of one tenant apply one at a time."""
        root = self.store.tenant_root(tenant)
        root.mkdir(parents=True, exist_ok=True)
        with open(root / "_writer.lock", "w") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    @contextmanager
    def transaction(
        self, tenant: str, operation: str, batch: tuple[str, str] | None = None
    ) -> Iterator[Transaction]:
        """Lock, recover, let the body stage writes, run the listeners, record the commit.

        ``batch`` (batch id, dataset) records the ledger entry ``txn.report`` in the same
        metadata transaction, with the tables written and the commit id filled in.
        """
        with self.writer_lock(tenant):
            started = time.time()
            base = self.meta.commit_log.latest_commit(tenant)
            txn = Transaction(self.store, tenant, operation, base, self.recover(tenant, base))
            self._current.txn = txn
            self._notify("started", txn)
            try:
                try:
                    yield txn
                    if txn.written:
                        self._commit(txn, batch)
                except Exception as exc:
                    if disk_full(exc):
                        raise self._disk_full(txn, started) from exc
                    if metadata_refused(exc):
                        raise MetadataUnavailable(
                            "the metadata store refuses writes (read-only or locked): the "
                            "commit was not recorded and nothing of it is visible",
                            hint="Make the metadata store writable (the file and its folder, "
                            "its disk, or the database user's rights), then send it again: "
                            "it lands once.",
                        ) from exc
                    if not isinstance(exc, LedgerhouseError):  # a Delta write failed: damage?
                        self.damaged(tenant, txn.committed, exc)
                    raise
            except BaseException as exc:
                self._notify("failed", txn, exc)
                raise
            finally:
                self._current.txn = None
            self._notify("committed" if txn.commit is not None else "abandoned", txn)

    def _disk_full(self, txn: Transaction, started: float) -> StorageFull:
        """After a write failed on a full disk: remove the data files this transaction wrote
        (no committed version holds them: they only take the space a retry needs), roll the
        tables back if the disk allows, and say so."""
        from ledgerhouse.storage.vacuum import live_files

        freed = 0
        tenant_root = self.store.tenant_root(txn.tenant)
        named = self.meta.commit_log.versions_named(txn.tenant)
        for table in (*self.tables, *self.tables_of(txn.tenant)):
            path = self.store.path(txn.tenant, table)
            if not path.is_dir():
                continue
            fresh = [
                p
                for p in path.rglob("*.parquet")
                if "_delta_log" not in p.parts and p.stat().st_mtime >= started - 1
            ]
            if not fresh:
                continue
            live = live_files(path, named.get(table.relation, ())) or set()
            for p in fresh:
                if p.relative_to(path).as_posix() not in live:
                    freed += p.stat().st_size
                    p.unlink()
        try:  # the tables back to their committed versions (else the next writer does it)
            self.recover(txn.tenant, txn.base)
        except Exception:
            log.warning("recovery after a full disk failed; the next commit retries it")
        free = shutil.disk_usage(tenant_root).free
        return StorageFull(
            f"the disk holding the warehouse is full ({free:,} bytes free): the write failed "
            f"and nothing of it is stored; its files were removed ({freed:,} bytes freed)",
            hint="Free space on the disk (or give the warehouse a larger one), then send it "
            "again: it lands once.",
            free_bytes=free,
            freed_bytes=freed,
        )

    def recover(self, tenant: str, base: WarehouseCommit | None) -> dict[str, int]:
        """Restore every table ahead of ``base`` (a crashed writer's versions) to its committed
        version, and empty a table no commit knows yet; return the committed versions, with the
        version RESTORE made for a restored table. Call under the writer lock."""
        committed = dict(base.table_versions) if base else {}
        for table in (*self.tables, *self.tables_of(tenant)):
            target = committed.get(table.relation)
            if target is None:  # created by a crashed writer, maybe filled: back to empty
                if not self.store.exists(tenant, table):
                    continue
                target = 0
            if self.store.version(tenant, table) != target:
                self.store.restore(tenant, table, target)
                if table.relation in committed:
                    # same content, pinned by the next commit: the next recovery has nothing
                    # to restore again
                    committed[table.relation] = self.store.version(tenant, table)
        return committed

    def _commit(self, txn: Transaction, batch: tuple[str, str] | None) -> None:
        for listener in self.listeners:  # derived tables join the same commit
            derived = listener(txn.tenant, txn.committed, txn.versions)
            for name in derived:
                failpoint(name)
            txn.written.update(derived)
        failpoint("before-commit")
        ledger = None
        if batch is not None:
            ledger = (*batch, {**txn.report, "tables_written": dict(txn.written)})
        txn.commit = self.meta.commit_log.record_commit(
            txn.tenant, txn.operation, txn.versions, sorted(txn.written), batch=ledger
        )


def failpoint(point: str) -> None:
    """Crash-testing hook: ``LEDGERHOUSE_FAILPOINT=<table>|before-commit`` makes the process
    SIGKILL itself right after that write, as a power cut would. Used by the test suite."""
    if os.environ.get("LEDGERHOUSE_FAILPOINT") == point:
        os.kill(os.getpid(), signal.SIGKILL)
