"""The query log: every query is recorded, refused, failed and timed-out ones included.

Entries are written by a background thread in small batches, so a query's latency does not
include a metadata-store commit (an fsync with SQLite). ``flush()`` waits until every entry
handed in so far is stored; readers of the log call it first.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import queue
import threading
from typing import Any

import sqlglot
from sqlglot import exp

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


class QueryLog:
    def __init__(self, meta: MetadataStore, max_pending: int = 10_000) -> None:
        self._meta = meta
        self._queue: queue.Queue[dict[str, Any] | None] = queue.Queue(maxsize=max_pending)
        self._thread = threading.Thread(target=self._run, name="query-log", daemon=True)
        self._thread.start()

    def record(self, entry: dict[str, Any]) -> None:
        try:
            self._queue.put_nowait(entry)
        except queue.Full:  # never block a query on the log; say so instead
            log.warning("query log queue full: dropped entry %s", entry.get("id"))

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
                self._meta.query_store.record_queries([b for b in batch if b is not None])
            except Exception:
                log.exception("could not store %d query log entries", len(batch))
            for _ in range(len(batch) + (1 if stop else 0)):
                self._queue.task_done()
            if stop:
                return
