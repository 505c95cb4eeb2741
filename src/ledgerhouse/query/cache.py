"""The result cache: memory-bounded LRUs of query results, one per tenant.

The key holds the tenant, the normalized (checked) SQL, the parameters, the row limit, the
pinned Delta version of every table the query reads, and the digest of the policies the
answer was computed under. A commit that changes one of those tables changes the key, so a
cached answer can never be stale; `as_of` an older commit finds the older answer.

Each tenant has its own LRU and its own byte budget (docs/tenancy/resources.md): inserting an
entry evicts only the same tenant's least recently used entries, so one tenant's load never
evicts another tenant's answers. A tenant's budget is its override (``budget_of``, the
``result_cache_bytes`` of its resources) or its share of what the overrides leave of
``max_bytes``: every tenant that uses the cache gets ``FLOOR`` of an equal share for sure, and
the rest is split by each tenant's recent workload — the engine seconds its cacheable queries
cost (a hit: the seconds it saved; a miss: the seconds it spent), decayed with a half-life of
``HALF_LIFE_S``. A shrinking budget is applied on the tenant's own next insertion (never by
another tenant's), so the total may stay above ``max_bytes`` by what the tenants whose share
shrank have not inserted since.
"""

from __future__ import annotations

import json
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

CacheKey = tuple[str, str, str, int, str, tuple[tuple[str, int | None], ...], str]

#: The part of an equal share every active tenant keeps, whatever the others' workload.
FLOOR = 0.5
#: Seconds after which a tenant's recorded workload counts half.
HALF_LIFE_S = 600.0
#: Misses remembered to time their recompute (a miss whose answer never comes is dropped).
_PENDING = 10_000


def cacheable(relations: frozenset[str], volatile: bool) -> bool:
    """Whether an answer may be reused: the query reads a table (a query of no table, such as
    ``SELECT now()``, would otherwise be cached forever) and calls nothing volatile (the
    guard names every volatile call, CURRENT_DATE-style keywords included)."""
    return bool(relations) and not volatile


@dataclass(frozen=True)
class CachedResult:
    table: pa.Table
    truncated: bool


def cache_key(
    tenant: str,
    sql: str,
    params: list[Any] | None,
    limit: int,
    explain: str | None,
    versions: dict[str, int | None],
    policy: str = "",
) -> CacheKey:
    """``policy``: the digest of the row and column policies the answer was computed under
    (access/policies.py); two callers under different policies never share an answer."""
    return (
        tenant,
        sql,
        json.dumps(params, default=str, sort_keys=True),
        limit,
        explain or "",
        tuple(sorted(versions.items())),
        policy,
    )


@dataclass
class _Entry:
    result: CachedResult
    size: int
    cost_s: float  #: what computing it took (what a hit saves)


@dataclass
class _Partition:
    entries: OrderedDict[CacheKey, _Entry] = field(default_factory=OrderedDict)
    bytes: int = 0
    hits: int = 0
    misses: int = 0
    evictions: int = 0
    workload: float = 0.0  #: decayed engine seconds of cacheable queries
    at: float = 0.0  #: when ``workload`` was last decayed


class ResultCache:
    def __init__(self, max_bytes: int, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.max_bytes = max_bytes
        #: tenant -> its own budget in bytes, or None for a share (its resource override)
        self.budget_of: Callable[[str], int | None] = lambda _t: None
        self._clock = clock
        self._parts: dict[str, _Partition] = {}
        self._pending: OrderedDict[CacheKey, float] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, key: CacheKey) -> CachedResult | None:
        with self._lock:
            part = self._part(key[0])
            found = part.entries.get(key)
            if found is None:
                self.misses += 1
                part.misses += 1
                self._pending[key] = self._clock()
                if len(self._pending) > _PENDING:
                    self._pending.popitem(last=False)
                return None
            part.entries.move_to_end(key)
            self.hits += 1
            part.hits += 1
            self._add_workload(part, found.cost_s)
            return found.result

    def put(self, key: CacheKey, result: CachedResult) -> None:
        size = result.table.nbytes
        with self._lock:
            tenant = key[0]
            part = self._part(tenant)
            started = self._pending.pop(key, None)
            cost = self._clock() - started if started is not None else 0.0
            self._add_workload(part, cost)
            budget = self._budget(tenant)
            if size > budget // 4:  # one result may not evict most of the tenant's cache
                self._trim(part, budget)  # a budget that shrank applies all the same
                return
            old = part.entries.pop(key, None)
            if old is not None:
                part.bytes -= old.size
            part.entries[key] = _Entry(result, size, cost)
            part.bytes += size
            self._trim(part, budget)

    def drop_tenant(self, tenant: str) -> int:
        """Forget every entry and the workload of ``tenant`` (a suspended or deleted tenant);
        returns the bytes released."""
        with self._lock:
            part = self._parts.pop(tenant, None)
            for key in [k for k in self._pending if k[0] == tenant]:
                del self._pending[key]
            return part.bytes if part is not None else 0

    def budget(self, tenant: str) -> int:
        """The bytes ``tenant`` may hold now (its override, or its share)."""
        with self._lock:
            return self._budget(tenant)

    def stats(self) -> dict[str, dict[str, int]]:
        """Per tenant: entries, bytes, budget, hits, misses, evictions (for metrics)."""
        with self._lock:
            return {
                t: {
                    "entries": len(p.entries),
                    "bytes": p.bytes,
                    "budget": self._budget(t),
                    "hits": p.hits,
                    "misses": p.misses,
                    "evictions": p.evictions,
                }
                for t, p in self._parts.items()
            }

    @property
    def size_bytes(self) -> int:
        return sum(p.bytes for p in self._parts.values())

    def __len__(self) -> int:
        return sum(len(p.entries) for p in self._parts.values())

    # -- under the lock -----------------------------------------------------------------------
    def _part(self, tenant: str) -> _Partition:
        part = self._parts.get(tenant)
        if part is None:
            part = self._parts[tenant] = _Partition(at=self._clock())
        return part

    def _add_workload(self, part: _Partition, seconds: float) -> None:
        now = self._clock()
        part.workload = part.workload * 0.5 ** ((now - part.at) / HALF_LIFE_S) + seconds
        part.at = now

    def _decayed(self, part: _Partition, now: float) -> float:
        return part.workload * 0.5 ** ((now - part.at) / HALF_LIFE_S)

    def _budget(self, tenant: str) -> int:
        own = self.budget_of(tenant)
        if own is not None:
            return max(0, own)
        overrides = 0
        shared: dict[str, _Partition] = {}
        for name, part in self._parts.items():
            other = self.budget_of(name) if name != tenant else None
            if other is not None:
                overrides += max(0, other)
            else:
                shared[name] = part
        pool = max(0, self.max_bytes - overrides)
        now = self._clock()
        weights = {name: self._decayed(part, now) for name, part in shared.items()}
        weights.setdefault(tenant, 0.0)
        total = sum(weights.values())
        n = len(weights)
        by_workload = weights[tenant] / total if total > 0 else 1 / n
        return int(pool * (FLOOR / n + (1 - FLOOR) * by_workload))

    def _trim(self, part: _Partition, budget: int) -> None:
        while part.bytes > budget and part.entries:
            _, evicted = part.entries.popitem(last=False)
            part.bytes -= evicted.size
            part.evictions += 1
