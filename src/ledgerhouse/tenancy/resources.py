"""Resources per tenant: overrides of the server's limits, set by a platform admin.

A tenant's override of a setting replaces the server's value for that tenant only; a field
without an override is the server's (``Settings``). The enforcement points read
:meth:`ResourceService.effective` on every use — admission (running and queued queries), the
engine pool (memory and threads), the row limit, the storage quota, the request rate and the
result cache budget — so a change applies without a restart: at once in this process, within
``ttl_s`` in another one (the overrides are re-read from the metadata store at most that
often). docs/tenancy/resources.md.
"""

from __future__ import annotations

import logging
import math
import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

from ledgerhouse.access import Principal, Resource, authorize
from ledgerhouse.errors import NotFound
from ledgerhouse.storage.metadata import MetadataStore
from ledgerhouse.storage.resources import OVERRIDE_FIELDS
from ledgerhouse.tenancy.auth import validate_tenant_name
from ledgerhouse.tenancy.errors import InvalidResourceValue, StorageQuotaExceeded

log = logging.getLogger("ledgerhouse.resources")

_MEMORY = re.compile(r"(\d+(?:\.\d+)?)\s*(KB|MB|GB|TB|KiB|MiB|GiB|TiB)")
_UNITS = {"KB": 10**3, "MB": 10**6, "GB": 10**9, "TB": 10**12,
          "KiB": 2**10, "MiB": 2**20, "GiB": 2**30, "TiB": 2**40}  # fmt: skip
_MAX_BYTES = 2**62

#: field -> (kind, lowest, highest, what it is); the allowed range every refusal names.
RANGES: dict[str, tuple[str, float, float, str]] = {
    "duckdb_memory_limit": ("memory", 16 * 2**20, 2**40, "engine memory, e.g. '2GB' (16MiB-1TiB)"),
    "duckdb_threads": ("int", 1, 256, "engine threads"),
    "query_concurrency": ("int", 1, 1024, "queries running at once"),
    "query_queue": ("int", 0, 100_000, "queries waiting for a slot"),
    "query_row_limit": ("int", 1, 1_000_000_000, "most rows a query returns"),
    "storage_quota_bytes": ("int", 1, _MAX_BYTES, "bytes the tenant's files may take"),
    "rate_limit_per_s": ("float", 0.001, 1_000_000, "requests per second"),
    "rate_limit_burst": ("int", 1, 1_000_000, "requests at once above the rate"),
    "result_cache_bytes": ("int", 0, _MAX_BYTES, "result-cache bytes (0: no caching)"),
}


@dataclass(frozen=True)
class TenantResources:
    """The limits in force for one tenant (its overrides over the server's settings)."""

    duckdb_memory_limit: str
    duckdb_threads: int
    query_concurrency: int
    query_queue: int
    query_row_limit: int
    #: None: no quota
    storage_quota_bytes: int | None
    #: None: no rate limit
    rate_limit_per_s: float | None
    rate_limit_burst: int | None
    #: None: a share of the server's result cache that follows the workload
    result_cache_bytes: int | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def memory_bytes(text: str) -> int:
    found = _MEMORY.fullmatch(text.strip())
    if found is None:
        raise ValueError(text)
    return int(float(found.group(1)) * _UNITS[found.group(2)])


def validate(values: Mapping[str, Any]) -> dict[str, Any]:
    """The overrides in ``values`` checked and normalized (a None value is dropped: the
    default); InvalidResourceValue names the first bad field and its range."""
    out: dict[str, Any] = {}
    for name, value in values.items():
        if name not in RANGES:
            raise InvalidResourceValue(
                f"{name!r} is not a resource setting",
                hint=f"Use one of: {', '.join(OVERRIDE_FIELDS)}.",
                field=name,
            )
        if value is None:
            continue
        kind, low, high, what = RANGES[name]
        shown = _range(kind, low, high)
        number: float
        try:
            if kind == "memory":
                if not isinstance(value, str):
                    raise ValueError(value)
                number = memory_bytes(value)
                value = value.strip()
            elif kind == "int":
                if isinstance(value, bool) or not isinstance(value, int | str):
                    raise ValueError(value)
                number = value = int(value)
            else:
                if isinstance(value, bool) or not isinstance(value, int | float | str):
                    raise ValueError(value)
                number = value = float(value)
                if not math.isfinite(number):
                    raise ValueError(value)
        except ValueError:
            raise InvalidResourceValue(
                f"{name} = {value!r:.40} is not {_kind_word(kind)}: {what}, {shown}",
                hint=f"Give {name} {shown}.",
                field=name,
                allowed=shown,
            ) from None
        if not low <= number <= high:
            raise InvalidResourceValue(
                f"{name} = {value!r:.40} is out of range: {what}, {shown}",
                hint=f"Give {name} {shown}.",
                field=name,
                allowed=shown,
            )
        out[name] = value
    if "rate_limit_burst" in out and "rate_limit_per_s" not in out:
        raise InvalidResourceValue(
            "rate_limit_burst is set without rate_limit_per_s",
            hint="Set rate_limit_per_s too (the burst is the bucket above that rate).",
            field="rate_limit_burst",
        )
    return out


def _kind_word(kind: str) -> str:
    return {"memory": "a memory size", "int": "a whole number", "float": "a number"}[kind]


def _range(kind: str, low: float, high: float) -> str:
    if kind == "memory":
        return "from 16MiB to 1TiB"
    if kind == "float":
        return f"from {low:g} to {high:g}"
    return f"from {int(low)} to {int(high)}"


class ResourceService:
    """A tenant's overrides: shown to its admin and the platform, set by the platform."""

    def __init__(
        self,
        meta: MetadataStore,
        defaults: TenantResources,
        storage_bytes: Callable[[str], int],
        *,
        ttl_s: float = 2.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.meta = meta
        self.defaults = defaults
        #: tenant -> the bytes its files take now (the usage meter's measure)
        self.storage_bytes = storage_bytes
        self.ttl_s = ttl_s
        self._clock = clock
        self._lock = threading.Lock()
        self._cached: dict[str, dict[str, Any]] = {}
        self._read_at = -math.inf
        #: called with the tenant after each change (the engines, the cache: applied at once)
        self.listeners: list[Callable[[str], None]] = []

    # -- the limits in force (every enforcement point, on every use) --------------------------
    def overrides_of(self, tenant: str) -> dict[str, Any]:
        now = self._clock()
        if now - self._read_at > self.ttl_s:
            try:
                fresh = self.meta.resources.all_overrides()
            except Exception:  # the store unreachable: the last overrides read stay
                log.exception("could not read the tenants' resource overrides")
                fresh = self._cached
            with self._lock:
                self._cached, self._read_at = fresh, now
        return self._cached.get(tenant, {})

    def effective(self, tenant: str) -> TenantResources:
        own = self.overrides_of(tenant)
        if not own:
            return self.defaults
        values = {**self.defaults.to_dict(), **own}
        if own.get("rate_limit_per_s") is not None and "rate_limit_burst" not in own:
            values["rate_limit_burst"] = max(1, math.ceil(own["rate_limit_per_s"]))
        return TenantResources(**values)

    def admission_limits(self, tenant: str) -> tuple[int, int]:
        r = self.effective(tenant)
        return r.query_concurrency, r.query_queue

    def engine_options(self, tenant: str) -> tuple[str, int]:
        r = self.effective(tenant)
        return r.duckdb_memory_limit, r.duckdb_threads

    def check_storage(self, tenant: str, incoming: int) -> None:
        """Refuse (507) a write of ``incoming`` bytes that would take the tenant past its
        storage quota: the bytes sent count as what they will take (conservative: Parquet
        is usually smaller than the CSV or JSON it comes from)."""
        quota = self.effective(tenant).storage_quota_bytes
        if quota is None:
            return
        used = self.storage_bytes(tenant)
        if used + incoming > quota:
            raise StorageQuotaExceeded(
                f"tenant {tenant!r} stores {used} bytes and its storage quota is {quota} bytes:"
                f" this batch of {incoming} bytes would take it past the quota",
                hint="Nothing was stored. Ask a platform admin to raise storage_quota_bytes "
                "(`ledgerhouse resources set --tenant ... --storage-quota-bytes N`), or send a "
                "smaller batch.",
                exceeded="storage_quota_bytes",
                limit=quota,
                used=used,
                incoming=incoming,
            )

    # -- shown and set (authorized) -----------------------------------------------------------
    def show(self, principal: Principal, tenant: str) -> dict[str, Any]:
        """The tenant's overrides, the limits in force and the server's defaults: for a
        platform admin (any tenant) or the tenant's admin or auditor (``read_usage``)."""
        tenant = validate_tenant_name(tenant)
        authorize(principal, "read_usage", Resource(tenant, "usage"))
        self._known(tenant)
        overrides = self.meta.resources.overrides(tenant)
        self._forget()
        return {
            "tenant": tenant,
            "overrides": overrides,
            "effective": self.effective(tenant).to_dict(),
            "defaults": self.defaults.to_dict(),
        }

    def set(
        self, principal: Principal, tenant: str, values: Mapping[str, Any], *, replace: bool = False
    ) -> dict[str, Any]:
        """Set overrides (a platform admin only): ``values`` are merged into the tenant's
        overrides (a None value resets that field), or replace them all with ``replace``."""
        tenant = validate_tenant_name(tenant)
        authorize(principal, "manage_resources", Resource(tenant, "resources"))
        self._known(tenant)
        before = self.meta.resources.overrides(tenant)
        checked = validate(values)
        dropped = {k for k, v in values.items() if v is None}
        after = checked if replace else {
            **{k: v for k, v in before.items() if k not in dropped}, **checked
        }  # fmt: skip
        validate(after)  # a burst without a rate, once merged
        self.meta.resources.put_overrides(tenant, after, principal.user)
        self._changed(principal, tenant, before, after)
        return self.show_unchecked(tenant)

    def reset(
        self, principal: Principal, tenant: str, fields: list[str] | None = None
    ) -> dict[str, Any]:
        """Drop the named overrides (every one when None): back to the server's values."""
        if not fields:
            return self.set(principal, tenant, {}, replace=True)
        return self.set(principal, tenant, dict.fromkeys(fields))

    def show_unchecked(self, tenant: str) -> dict[str, Any]:
        self._forget()
        return {
            "tenant": tenant,
            "overrides": self.meta.resources.overrides(tenant),
            "effective": self.effective(tenant).to_dict(),
            "defaults": self.defaults.to_dict(),
        }

    def _changed(
        self, principal: Principal, tenant: str, before: dict[str, Any], after: dict[str, Any]
    ) -> None:
        self._forget()
        self.meta.audit.append(
            tenant, principal.user, principal.roles, "resources_changed",
            detail={"before": before, "after": after, "by_tenant": principal.tenant},
        )  # fmt: skip
        for listener in self.listeners:
            listener(tenant)

    def _forget(self) -> None:
        with self._lock:
            self._read_at = -math.inf

    def _known(self, tenant: str) -> str:
        name = validate_tenant_name(tenant)
        if name not in self.meta.tenants_store.tenants():
            raise NotFound(
                f"no tenant {name!r}",
                hint="List tenants with `ledgerhouse tenants list`.",
                tenant=name,
            )
        return name
