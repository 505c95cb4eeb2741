"""Admission control: per tenant, a number of running queries and a bounded queue.

A query beyond both is refused at once, and one that waits longer than the bound is refused
too: overload answers 429 with Retry-After, never a hang. Each tenant's two numbers are the
server's (``query_concurrency``, ``query_queue``) unless ``limits_of(tenant)`` says otherwise
(its resource overrides, docs/tenancy/resources.md); they are read on every admission, so a
change applies to the next query without a restart (a lowered limit lets the running queries
finish and admits no new one until the tenant is under it).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from ledgerhouse.errors import Overloaded


@dataclass
class _Tenant:
    running: int = 0
    waiting: int = 0
    freed: threading.Condition = field(default_factory=threading.Condition)


class Admission:
    def __init__(self, concurrency: int, queue: int, wait_s: float) -> None:
        self.concurrency = concurrency
        self.queue = queue
        self.wait_s = wait_s
        #: tenant -> (running queries, queued queries) it may have
        self.limits_of: Callable[[str], tuple[int, int]] = lambda _t: (
            self.concurrency,
            self.queue,
        )
        #: hears each refusal (tenant, why): the usage meter counts them
        self.on_refused: Callable[[str, str], None] = lambda _t, _why: None
        self._tenants: dict[str, _Tenant] = {}
        self._lock = threading.Lock()

    def _tenant(self, tenant: str) -> _Tenant:
        with self._lock:
            t = self._tenants.get(tenant)
            if t is None:
                t = self._tenants[tenant] = _Tenant()
            return t

    def running(self, tenant: str) -> int:
        """The tenant's queries running now (for metrics)."""
        t = self._tenants.get(tenant)
        return t.running if t is not None else 0

    def refusal(self, tenant: str) -> Overloaded | None:
        """The refusal a query of ``tenant`` would get now (its slots and its queue full),
        or None: a caller may refuse before it does any work (the API, before reading the
        body). Decided again by ``slot``: a slot freed meanwhile admits the query."""
        t = self._tenants.get(tenant)
        if t is None:
            return None
        concurrency, queue = self.limits_of(tenant)
        with t.freed:
            if t.running < concurrency or t.waiting < queue:
                return None
            return self._refuse(tenant, t, concurrency, queue, "the queue is full")

    @contextmanager
    def slot(self, tenant: str) -> Iterator[None]:
        t = self._tenant(tenant)
        concurrency, queue = self.limits_of(tenant)
        with t.freed:
            if t.running >= concurrency:
                if t.waiting >= queue:
                    raise self._refuse(tenant, t, concurrency, queue, "the queue is full")
                t.waiting += 1
                deadline = time.monotonic() + self.wait_s
                try:
                    while t.running >= concurrency:
                        left = deadline - time.monotonic()
                        if left <= 0:
                            raise self._refuse(
                                tenant, t, concurrency, queue,
                                f"no slot freed within {self.wait_s:g} s",
                            )  # fmt: skip
                        t.freed.wait(left)
                        concurrency, queue = self.limits_of(tenant)
                finally:
                    t.waiting -= 1
            t.running += 1
        try:
            yield
        finally:
            with t.freed:
                t.running -= 1
                t.freed.notify_all()  # a raised limit may admit more than one

    def _refuse(
        self, tenant: str, t: _Tenant, concurrency: int, queue: int, why: str
    ) -> Overloaded:
        self.on_refused(tenant, "concurrency")
        return Overloaded(
            f"tenant {tenant!r} has {t.running} queries running (its limit is {concurrency}) "
            f"and {t.waiting} queued (its queue holds {queue}): {why}",
            hint="Retry after the number of seconds in Retry-After; a platform admin can raise "
            "the tenant's query_concurrency or query_queue (`ledgerhouse resources set`).",
            retry_after_s=max(1, round(self.wait_s / 4)),
            exceeded="query_concurrency",
            limit=concurrency,
            running=t.running,
            queue=queue,
            queued=t.waiting,
        )
