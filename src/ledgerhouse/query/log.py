"""The query log: every query is recorded, refused, failed and timed-out ones included.

Entries are written by a background thread in small batches, so a query's latency does not
include a metadata-store commit (an fsync with SQLite). ``flush()`` waits until every entry
handed in so far is stored; readers of the log call it first.

The same thread computes the columns each query read (``columns_read``: sqlglot's ``qualify``
with the relations' schemas, then the source columns per relation) and appends each query's
audit entry (``storage/audit.py``) in the same metadata transaction as its log row: neither
costs the query anything but the hand-over. ``lineage_capture=False`` skips the columns.
"""

from __future__ import annotations

import collections
import functools
import hashlib
import logging
import queue
import threading
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Any

import sqlglot
from sqlglot import exp
from sqlglot.optimizer.qualify import qualify
from sqlglot.optimizer.scope import traverse_scope

from ledgerhouse.errors import Quiet, metadata_refused
from ledgerhouse.storage.audit import AuditItem, make_item
from ledgerhouse.storage.metadata import MetadataStore

log = logging.getLogger("ledgerhouse.query")


def fingerprint(sql: str) -> str:
    """The same query with other literal values has the same fingerprint. A long text (10k
    characters or more) is not parsed for it: its fingerprint is that of its normalized text
    (parsing it here, outside admission control, let one tenant's long texts hold the
    interpreter while another tenant waited)."""
    if len(sql) >= 10_000:
        return hashlib.sha256(" ".join(sql.split()).lower().encode()).hexdigest()[:16]
    return _fingerprint_cached(sql)


def _fingerprint(sql: str) -> str:
    try:
        tree = sqlglot.parse_one(sql, read="duckdb")
        text = tree.transform(lambda n: exp.Placeholder() if isinstance(n, exp.Literal) else n).sql(
            dialect="duckdb"
        )
    except Exception:  # unparseable text still gets a stable fingerprint
        text = " ".join(sql.split()).lower()
    return hashlib.sha256(text.encode()).hexdigest()[:16]


_fingerprint_cached = functools.lru_cache(maxsize=4096)(_fingerprint)


#: A text this long is not analysed for its columns (its entry records relations only): the
#: parse would hold the interpreter, and so the queries running beside it, for too long.
MAX_ANALYSED_CHARS = 20_000
#: How many distinct query texts' columns the log remembers.
_COLUMNS_CACHED = 4096


def columns_read(
    sql: str, relations: Collection[str], schemas: Mapping[str, Sequence[str]]
) -> dict[str, list[str]] | None:
    """The columns of each relation in ``relations`` that ``sql`` (DuckDB's dialect) reads:
    every column it names anywhere (select list, join, filter, grouping, ordering, inside
    CTEs and subqueries), ``*`` counting as every column. A column a CTE selects counts even
    when the outer query drops it (conservative). None when the text cannot be analysed."""
    if len(sql) > MAX_ANALYSED_CHARS:
        return None
    wanted = {r.lower() for r in relations}
    schema: dict[str, object] = {
        r: {c: "TEXT" for c in schemas.get(r, ())} for r in wanted if r in schemas
    }
    try:
        tree = sqlglot.parse_one(sql, read="duckdb")
        tree = qualify(
            tree, schema=schema, dialect="duckdb", validate_qualify_columns=False,
            quote_identifiers=False, identify=False,
        )  # fmt: skip
        found: dict[str, set[str]] = {r: set() for r in wanted}
        for scope in traverse_scope(tree):
            tables = {
                alias: src.name.lower()
                for alias, src in scope.sources.items()
                if isinstance(src, exp.Table) and src.name.lower() in wanted
            }
            for column in scope.columns:
                relation = tables.get(column.table)
                if relation is None and not column.table and len(tables) == 1:
                    relation = next(iter(tables.values()))
                if relation is not None:
                    found[relation].add(column.name.lower())
            select = scope.expression
            if isinstance(select, exp.Select) and any(
                isinstance(e, exp.Star) for e in select.expressions
            ):  # a star qualify could not expand: every column of its tables
                for relation in tables.values():
                    found[relation].update(c.lower() for c in schemas.get(relation, ()))
    except Exception:  # never raise for a text we cannot analyse: relations only
        log.debug("could not analyse the columns of a query", exc_info=True)
        return None
    return {r: sorted(c) for r, c in sorted(found.items())}


def audit_item(entry: Mapping[str, Any], columns: dict[str, list[str]] | None) -> AuditItem:
    """The audit entry of one query-log entry: a query, cube, analytics call or export."""
    request = entry.get("request")
    kind = request.get("kind") if isinstance(request, Mapping) else None
    route = entry.get("route", "raw")
    action = "export" if route == "export" else kind if kind in ("cube", "analytics") else "query"
    detail: dict[str, Any] = {
        "route": route,
        "commit_id": entry.get("commit_id"),
        "fingerprint": entry.get("fingerprint"),
        "text": str(entry.get("text", ""))[:2000],
    }
    if request is not None:
        detail["request"] = request
    return make_item(
        entry["tenant_id"],
        entry["user"],
        entry.get("_roles", ()),
        action,
        relations=entry.get("relations"),
        columns=columns,
        rows=entry.get("rows"),
        query_id=entry["id"],
        status=entry.get("status", "ok"),
        detail=detail,
        at=entry.get("started_at"),
    )


class QueryLog:
    def __init__(
        self,
        meta: MetadataStore,
        schemas: Mapping[str, Sequence[str]] | None = None,
        *,
        lineage_capture: bool = True,
        max_pending: int = 10_000,
    ) -> None:
        self._meta = meta
        #: relation -> its columns (the composition root's TableDefs)
        self._schemas = dict(schemas or {})
        self.lineage_capture = lineage_capture
        #: (digest of the checked SQL, relations) -> its columns: a repeated query (a dashboard,
        #: a cube query asked again) costs a lookup, not a parse; only this thread touches it
        self._columns: collections.OrderedDict[tuple[bytes, tuple[str, ...]], Any] = (
            collections.OrderedDict()
        )
        self._queue: queue.Queue[dict[str, Any] | None] = queue.Queue(maxsize=max_pending)
        #: called with every entry as it is recorded, on the query's thread (the usage meter:
        #: a few counters, no I/O; docs/tenancy/resources.md)
        self.listeners: list[Callable[[dict[str, Any]], None]] = []
        self._refused = Quiet()  # the metadata store refusing writes: said once in a while
        #: tenant -> (when its last refusal was stored, refusals not stored since)
        self._refusals: dict[str, tuple[float, int]] = {}
        self._refusals_lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="query-log", daemon=True)
        self._thread.start()

    def record(self, entry: dict[str, Any]) -> None:
        if entry.get("status") == "overloaded" and not self._refusal_logged(entry):
            for listener in self.listeners:  # counted (usage: throttled), not stored
                try:
                    listener(entry)
                except Exception:
                    log.exception("a query log listener failed")
            return
        try:  # queued first: a listener that flushes the log (the rollup advisor) sees it
            self._queue.put_nowait(entry)
        except queue.Full:  # never block a query on the log; say so instead
            log.warning("query log queue full: dropped entry %s", entry.get("id"))
        for listener in self.listeners:
            try:
                listener(entry)
            except Exception:  # metering never fails a query
                log.exception("a query log listener failed")

    def _refusal_logged(self, entry: dict[str, Any]) -> bool:
        """Whether to store this refusal (429 ``overloaded``): one per tenant per second,
        which says how many were refused since the last one stored. A tenant that resends
        at once, ignoring Retry-After, would otherwise have every refusal written to the
        metadata store, at the other tenants' expense; the usage meter counts them all."""
        tenant = str(entry.get("tenant_id"))
        now = time.monotonic()
        with self._refusals_lock:
            last, skipped = self._refusals.get(tenant, (-1e18, 0))
            if now - last < 1.0:
                self._refusals[tenant] = (last, skipped + 1)
                return False
            self._refusals[tenant] = (now, 0)
        if skipped:
            entry["error"] = f"{entry.get('error') or ''} ({skipped} more refused since the last "
            entry["error"] += "refusal logged)"
        return True

    def flush(self) -> None:
        self._queue.join()

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join(timeout=10)

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            batch = [first] if first is not None else []
            stop = first is None
            while not stop and len(batch) < 500:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    stop = True
                else:
                    batch.append(item)
            try:
                self._store([b for b in batch if b is not None])
            except Exception as exc:
                if not metadata_refused(exc):
                    log.exception("could not store %d query log entries", len(batch))
                elif (count := self._refused.due()) is not None:  # one warning, no traceback
                    log.warning(
                        "the query log cannot be written: the metadata store refuses writes "
                        "(read-only or locked); queries are answered, their entries dropped "
                        "(%d batches since the last warning)", count,
                    )  # fmt: skip
            for _ in range(len(batch) + (1 if stop else 0)):
                self._queue.task_done()
            if stop:
                return

    def _store(self, batch: list[dict[str, Any]]) -> None:
        """Each entry's columns, then its log row and its audit entry, in one transaction."""
        audit = []
        for entry in batch:
            columns = None
            relations = entry.get("relations")
            sql = entry.get("_sql")
            if self.lineage_capture and relations and isinstance(sql, str):
                columns = self._columns_of(sql, tuple(sorted(relations)))
            entry["columns"] = columns
            audit.append(audit_item(entry, columns))
        self._meta.query_store.record_queries(batch, audit)

    def _columns_of(self, sql: str, relations: tuple[str, ...]) -> dict[str, list[str]] | None:
        key = (hashlib.sha256(sql.encode()).digest(), relations)
        if key in self._columns:
            self._columns.move_to_end(key)
            found: dict[str, list[str]] | None = self._columns[key]
            return None if found is None else {r: list(c) for r, c in found.items()}
        found = columns_read(sql, relations, self._schemas)
        self._columns[key] = found
        if len(self._columns) > _COLUMNS_CACHED:
            self._columns.popitem(last=False)
        return None if found is None else {r: list(c) for r, c in found.items()}
