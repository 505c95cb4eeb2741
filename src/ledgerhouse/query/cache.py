"""The result cache: a memory-bounded LRU of query results.

The key holds the tenant, the normalized (checked) SQL, the parameters, the row limit, and the
pinned Delta version of every table the query reads. A commit that changes one of those tables
changes the key, so a cached answer can never be stale; `as_of` an older commit finds the older
answer.
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

CacheKey = tuple[str, str, str, int, str, tuple[tuple[str, int | None], ...]]


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
) -> CacheKey:
    return (
        tenant,
        sql,
        json.dumps(params, default=str, sort_keys=True),
        limit,
        explain or "",
        tuple(sorted(versions.items())),
    )


class ResultCache:
    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._entries: OrderedDict[CacheKey, CachedResult] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, key: CacheKey) -> CachedResult | None:
        with self._lock:
            found = self._entries.get(key)
            if found is None:
                self.misses += 1
                return None
            self._entries.move_to_end(key)
            self.hits += 1
            return found

    def put(self, key: CacheKey, result: CachedResult) -> None:
        size = result.table.nbytes
        if size > self.max_bytes // 4:  # one result may not evict most of the cache
            return
        with self._lock:
            old = self._entries.pop(key, None)
            if old is not None:
                self._bytes -= old.table.nbytes
            self._entries[key] = result
            self._bytes += size
            while self._bytes > self.max_bytes and self._entries:
                _, evicted = self._entries.popitem(last=False)
                self._bytes -= evicted.table.nbytes

    @property
    def size_bytes(self) -> int:
        return self._bytes

    def __len__(self) -> int:
        return len(self._entries)
