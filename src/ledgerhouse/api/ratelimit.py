"""The request rate limit of each tenant: a token bucket per tenant, checked after
authentication (api/deps.py ``get_principal``), before the route runs.

A tenant with ``rate_limit_per_s`` (its resource overrides; none by default) has a bucket of
``rate_limit_burst`` tokens refilled at that rate; each authenticated request takes one, and a
request that finds the bucket empty answers 429 ``rate_limited`` with ``Retry-After`` (whole
seconds until a token is back). A platform principal is not limited. The buckets live in the
process: with several server processes, each allows the rate (docs/tenancy/resources.md).
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ledgerhouse.tenancy.errors import RateLimited


@dataclass
class _Bucket:
    tokens: float
    at: float
    rate: float
    burst: int


class RateLimiter:
    def __init__(
        self,
        limit_of: Callable[[str], tuple[float | None, int | None]],
        *,
        on_refused: Callable[[str], None] = lambda _t: None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        #: tenant -> (requests per second, burst), or (None, _) for no limit
        self.limit_of = limit_of
        self.on_refused = on_refused
        self._clock = clock
        self._buckets: dict[str, _Bucket] = {}
        self._lock = threading.Lock()

    def check(self, tenant: str) -> None:
        """Take a token of ``tenant``'s bucket, or raise RateLimited."""
        rate, burst = self.limit_of(tenant)
        if rate is None:
            return
        burst = burst or max(1, math.ceil(rate))
        now = self._clock()
        with self._lock:
            b = self._buckets.get(tenant)
            if b is None or (b.rate, b.burst) != (rate, burst):  # new, or a changed limit
                b = self._buckets[tenant] = _Bucket(float(burst), now, rate, burst)
            b.tokens = min(burst, b.tokens + (now - b.at) * rate)
            b.at = now
            if b.tokens >= 1:
                b.tokens -= 1
                return
            wait = (1 - b.tokens) / rate
        self.on_refused(tenant)
        raise RateLimited(
            f"tenant {tenant!r} sent more than its request rate allows: "
            f"{rate:g} requests per second with a burst of {burst}",
            hint="Retry after the number of seconds in Retry-After; a platform admin can raise "
            "the tenant's rate_limit_per_s (`ledgerhouse resources set`).",
            retry_after_s=max(1, math.ceil(wait)),
            exceeded="rate_limit_per_s",
            limit=rate,
            burst=burst,
        )


def tenant_rate_limiter(warehouse: Any) -> RateLimiter:
    """The limiter of one app: each tenant's rate from its resources, refusals metered."""

    def limit_of(tenant: str) -> tuple[float | None, int | None]:
        r = warehouse.resources.effective(tenant)
        return r.rate_limit_per_s, r.rate_limit_burst

    return RateLimiter(limit_of, on_refused=warehouse.usage.on_throttled)
