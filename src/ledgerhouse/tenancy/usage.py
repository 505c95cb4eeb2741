"""Usage metering per tenant: queries, rows, bytes scanned, CPU, storage, ingested rows.

What is counted, and how (docs/tenancy/resources.md):

- **queries** / **query_errors** / **throttled**: one per query-log entry (``QueryLog.record``
  calls :meth:`UsageMeter.on_query` on the query's thread), by status: ``ok``; failed, refused
  by the guard or timed out; refused by admission (``overloaded``) — plus each request the
  rate limit refused (:meth:`on_throttled`);
- **rows_returned**: the rows of each answer (an export: the rows that streamed);
- **bytes_scanned**: the on-disk size of the pinned Parquet files of every relation the query
  names (not of what the engine actually read: a filter that skips row groups still counts
  the whole version); a cache hit scans nothing;
- **cpu_seconds**: the CPU time (``time.thread_time``) of the thread that ran each engine
  statement, taken from the engine (storage/engines) when the query is logged. DuckDB's own
  worker threads are not included (threads of a native pool, not attributable from Python),
  so it is a lower bound: exact with ``duckdb_threads = 1``, about 1/threads of the engine's
  work otherwise. Streamed exports' CPU is not counted;
- **ingest_batches** / **ingested_rows**: per batch report, the rows stored (a duplicate or
  rejected batch stores none), and the CPU of the marts it refreshed on the same thread;
- **storage_bytes**: the size of the tenant's files (its folder, spill files excluded), a
  level sampled on each flush.

Counts are added in memory on the request path (a lock and a few additions) and written to
``tenant_usage`` (one row per tenant and UTC hour) by a background thread every ``flush_s``;
the file sizes behind ``bytes_scanned`` are worked out there too. :meth:`flush` writes
everything counted so far (the readers call it first).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from ledgerhouse.access import Principal, Resource, authorize
from ledgerhouse.errors import Quiet, metadata_refused
from ledgerhouse.storage.engines.base import SPILL_FOLDER, take_cpu_seconds
from ledgerhouse.storage.metadata import MetadataStore
from ledgerhouse.storage.resources import USAGE_SUMS
from ledgerhouse.tenancy.auth import validate_tenant_name

log = logging.getLogger("ledgerhouse.usage")


@dataclass
class Counts:
    queries: int = 0
    query_errors: int = 0
    throttled: int = 0
    rows_returned: int = 0
    bytes_scanned: int = 0
    cpu_seconds: float = 0.0
    ingest_batches: int = 0
    ingested_rows: int = 0

    def add(self, other: Counts) -> None:
        for f in fields(self):
            setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


#: relations a query read, waiting for the flush thread to size their files
_Scan = tuple[str, datetime, dict[str, int | None]]


class UsageMeter:
    def __init__(
        self,
        meta: MetadataStore,
        tenant_root: Callable[[str], Path],
        pinned_bytes: Callable[[str, str, int], int],
        *,
        flush_s: float = 5.0,
        storage_ttl_s: float = 5.0,
    ) -> None:
        self.meta = meta
        self._tenant_root = tenant_root
        self._pinned_bytes = pinned_bytes
        self.flush_s = flush_s
        self.storage_ttl_s = storage_ttl_s
        self._refused = Quiet()  # the metadata store refusing writes: said once in a while
        #: since this process started, per tenant (what the Prometheus counters show)
        self.totals: dict[str, Counts] = {}
        self._pending: dict[tuple[str, datetime], Counts] = {}
        self._scans: list[_Scan] = []
        self._sizes: dict[tuple[str, str, int], int] = {}
        self._storage: dict[str, tuple[float, int]] = {}
        self._lock = threading.Lock()
        self._flush_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="usage-meter", daemon=True)
        self._thread.start()

    # -- counted on the request path (no I/O) -------------------------------------------------
    def on_query(self, entry: dict[str, Any]) -> None:
        """A query-log entry (the query's thread): its counts, and its engine CPU."""
        tenant = entry["tenant_id"]
        c = Counts(cpu_seconds=take_cpu_seconds(self._tenant_root(tenant)))
        status = entry.get("status", "ok")
        if status == "ok":
            c.queries = 1
            c.rows_returned = int(entry.get("rows") or 0)
        elif status == "overloaded":
            c.throttled = 1
        else:
            c.query_errors = 1
        at = entry.get("started_at") or datetime.now(UTC)
        relations = entry.get("relations")
        with self._lock:
            self._count(tenant, _hour(at), c)
            if status == "ok" and relations and entry.get("route") != "cache":
                self._scans.append((tenant, _hour(at), dict(relations)))

    def on_ingest(self, tenant: str, report: Any) -> None:
        """After each batch (None: refused before a report): rows stored, CPU of the marts."""
        c = Counts(cpu_seconds=take_cpu_seconds(self._tenant_root(tenant)))
        if report is not None:
            c.ingest_batches = 1
            c.ingested_rows = int(getattr(report, "rows_accepted", 0) or 0)
            if getattr(report, "status", "") == "committed":
                self._storage.pop(tenant, None)  # measured again on the next look
        with self._lock:
            self._count(tenant, _hour(datetime.now(UTC)), c)

    def on_throttled(self, tenant: str) -> None:
        """A request the rate limit refused."""
        with self._lock:
            self._count(tenant, _hour(datetime.now(UTC)), Counts(throttled=1))

    def _count(self, tenant: str, hour: datetime, c: Counts) -> None:
        self._pending.setdefault((tenant, hour), Counts()).add(c)
        self.totals.setdefault(tenant, Counts()).add(c)

    # -- storage ------------------------------------------------------------------------------
    def storage_bytes(self, tenant: str) -> int:
        """The bytes of the tenant's files (spill files excluded), measured at most every
        ``storage_ttl_s`` seconds (and after each committed batch)."""
        now = time.monotonic()
        hit = self._storage.get(tenant)
        if hit is not None and now - hit[0] < self.storage_ttl_s:
            return hit[1]
        size = _folder_bytes(self._tenant_root(tenant))
        self._storage[tenant] = (now, size)
        return size

    # -- written off the request path ---------------------------------------------------------
    def flush(self) -> None:
        """Write everything counted so far to the metadata store."""
        with self._flush_lock:
            with self._lock:
                pending, self._pending = self._pending, {}
                scans, self._scans = self._scans, []
            for tenant, hour, relations in scans:
                scanned = sum(self._size(tenant, r, v) for r, v in relations.items())
                pending.setdefault((tenant, hour), Counts()).bytes_scanned += scanned
                with self._lock:
                    self.totals.setdefault(tenant, Counts()).bytes_scanned += scanned
            if not pending:
                return
            buckets = []
            for (tenant, hour), c in pending.items():
                counts: dict[str, Any] = c.to_dict()
                try:
                    counts["storage_bytes"] = self.storage_bytes(tenant)
                except OSError:
                    counts["storage_bytes"] = None
                buckets.append((tenant, hour, counts))
            try:
                self.meta.resources.add_usage(buckets)
            except Exception as exc:  # keep the counts for the next flush
                if not metadata_refused(exc):
                    log.exception("could not store the usage of %d tenant-hours", len(buckets))
                elif self._refused.due() is not None:  # one warning, no traceback
                    log.warning("usage kept in memory: the metadata store refuses writes "
                                "(read-only or locked)")  # fmt: skip
                with self._lock:
                    for (tenant, hour), c in pending.items():
                        self._pending.setdefault((tenant, hour), Counts()).add(c)

    def _size(self, tenant: str, relation: str, version: int | None) -> int:
        if version is None:
            return 0
        key = (tenant, relation, version)
        size = self._sizes.get(key)
        if size is None:
            try:
                size = self._pinned_bytes(tenant, relation, version)
            except Exception:  # a relation gone, a file vacuumed: nothing to count
                size = 0
            if len(self._sizes) > 50_000:
                self._sizes.clear()
            self._sizes[key] = size
        return size

    def _run(self) -> None:
        while not self._stop.wait(self.flush_s):
            try:
                self.flush()
            except Exception:
                log.exception("usage flush failed")

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
        try:
            self.flush()
        except Exception:
            log.exception("usage flush at close failed")

    # -- read (authorized) --------------------------------------------------------------------
    def usage(
        self,
        principal: Principal,
        tenant: str | None = None,
        *,
        since: datetime | str | None = None,
        until: datetime | str | None = None,
    ) -> dict[str, Any]:
        """The metered hours of ``tenant`` (the caller's own when None; every tenant for a
        platform admin who names none), with their sums and the storage now. ``since`` and
        ``until``: a time, or a text :func:`parse_since` reads (ISO, or ``24h``, ``7d``)."""
        since = parse_since(since) if isinstance(since, str) else since
        until = parse_since(until) if isinstance(until, str) else until
        if tenant is None and not principal.is_platform_admin:
            tenant = principal.tenant
        if tenant is not None:
            tenant = validate_tenant_name(tenant)
            authorize(principal, "read_usage", Resource(tenant, "usage"))
        else:
            authorize(principal, "read_usage")
        self.flush()
        hours = self.meta.resources.usage(tenant, since, until)
        tenants = [tenant] if tenant is not None else sorted({h["tenant"] for h in hours})
        out = []
        for name in tenants:
            mine = [h for h in hours if h["tenant"] == name]
            totals = {n: sum(h[n] for h in mine) for n in USAGE_SUMS}
            try:
                stored: int | None = self.storage_bytes(name)
            except OSError:
                stored = None
            out.append({"tenant": name, "totals": totals, "storage_bytes": stored,
                        "hours": mine})  # fmt: skip
        return {"since": since, "until": until, "tenants": out}


def _hour(at: datetime) -> datetime:
    at = at.astimezone(UTC) if at.tzinfo else at.replace(tzinfo=UTC)
    return at.replace(minute=0, second=0, microsecond=0)


def _folder_bytes(root: Path) -> int:
    total = 0
    stack = [str(root)]
    while stack:
        try:
            with os.scandir(stack.pop()) as it:
                for item in it:
                    if item.is_dir(follow_symlinks=False):
                        if item.name != SPILL_FOLDER:
                            stack.append(item.path)
                    elif item.is_file(follow_symlinks=False):
                        total += item.stat(follow_symlinks=False).st_size
        except FileNotFoundError:
            continue
    return total


def parse_since(text: str | None) -> datetime | None:
    """``--since``: an ISO time or date, or a duration back from now (``24h``, ``7d``)."""
    if text is None or not text.strip():
        return None
    value = text.strip()
    unit = value[-1:].lower()
    if unit in ("h", "d", "m") and value[:-1].isdigit():
        n = int(value[:-1])
        delta = {"h": timedelta(hours=n), "d": timedelta(days=n), "m": timedelta(minutes=n)}
        return datetime.now(UTC) - delta[unit]
    from ledgerhouse.errors import InvalidRequest

    try:
        at = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidRequest(
            f"since {value[:40]!r} is neither a time nor a duration",
            hint="Give an ISO time (2026-01-31T00:00:00Z), a date, or 24h / 7d.",
        ) from None
    return at.astimezone(UTC) if at.tzinfo else at.replace(tzinfo=UTC)
