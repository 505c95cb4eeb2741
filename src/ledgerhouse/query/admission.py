"""Admission control: per tenant, a fixed number of running queries and a bounded queue.

A query beyond both is refused at once, and one that waits longer than the bound is refused
too: overload answers 429 with Retry-After, never a hang.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from ledgerhouse.errors import Overloaded


@dataclass
class _Tenant:
    slots: threading.BoundedSemaphore
    waiting: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


class Admission:
    def __init__(self, concurrency: int, queue: int, wait_s: float) -> None:
        self.concurrency = concurrency
        self.queue = queue
        self.wait_s = wait_s
        self._tenants: dict[str, _Tenant] = {}
        self._lock = threading.Lock()

    def _tenant(self, tenant: str) -> _Tenant:
        with self._lock:
            t = self._tenants.get(tenant)
            if t is None:
                t = _Tenant(threading.BoundedSemaphore(self.concurrency))
                self._tenants[tenant] = t
            return t

    @contextmanager
    def slot(self, tenant: str) -> Iterator[None]:
        t = self._tenant(tenant)
        if not t.slots.acquire(blocking=False):
            with t.lock:
                if t.waiting >= self.queue:
                    raise self._refuse(tenant, "the queue is full")
                t.waiting += 1
            try:
                acquired = t.slots.acquire(timeout=self.wait_s)
            finally:
                with t.lock:
                    t.waiting -= 1
            if not acquired:
                raise self._refuse(tenant, f"no slot freed within {self.wait_s:g} s")
        try:
            yield
        finally:
            t.slots.release()

    def _refuse(self, tenant: str, why: str) -> Overloaded:
        return Overloaded(
            f"tenant {tenant!r} has {self.concurrency} queries running and {why}",
            hint="Retry after the number of seconds in Retry-After.",
            retry_after_s=max(1, round(self.wait_s / 4)),
        )
