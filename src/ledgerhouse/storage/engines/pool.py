"""One engine per tenant, opened on first use."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

from ledgerhouse.storage.engines.base import Engine, EngineFactory, EngineOptions


class EnginePool:
    """Lazily opened engines, one per tenant, all made by one registered factory."""

    def __init__(
        self,
        factory: EngineFactory,
        tenant_root_of: Callable[[str], Path],
        *,
        memory_limit: str,
        threads: int,
        private_root: Path | None = None,
    ) -> None:
        self._factory = factory
        self._root_of = tenant_root_of
        self._memory = memory_limit
        self._threads = threads
        self._private_root = private_root
        self._engines: dict[str, Engine] = {}
        self._lock = threading.Lock()
        #: tenant -> its (memory_limit, threads) (its resource overrides,
        #: docs/tenancy/resources.md): a change reaches its engine on the next ``get``
        self.options_of: Callable[[str], tuple[str, int]] = lambda _t: (self._memory, self._threads)
        self._options: dict[str, tuple[str, int]] = {}

    def get(self, tenant: str) -> Engine:
        memory, threads = wanted = self.options_of(tenant)
        with self._lock:
            eng = self._engines.get(tenant)
            if eng is None:
                eng = self._factory(
                    EngineOptions(
                        tenant_root=self._root_of(tenant),
                        memory_limit=memory,
                        threads=threads,
                        private_root=self._private_root,
                    )
                )
                self._engines[tenant] = eng
                self._options[tenant] = wanted
                return eng
            changed = self._options.get(tenant) != wanted
            self._options[tenant] = wanted
        if changed:  # outside the pool's lock: other tenants' queries do not wait for it
            # an engine that can take new limits in place (DuckDBEngine.reconfigure) keeps
            # what is bound; one that cannot keeps its limits until it is re-opened
            reconfigure = getattr(eng, "reconfigure", None)
            if reconfigure is not None:
                reconfigure(memory, threads)
        return eng

    def release(self, tenant: str) -> bool:
        """Close and forget the tenant's engine (a suspended or deleted tenant: its memory is
        freed at once); the next ``get`` opens a new one. True when one was open."""
        with self._lock:
            eng = self._engines.pop(tenant, None)
            self._options.pop(tenant, None)
        if eng is None:
            return False
        eng.close()
        return True

    def __contains__(self, tenant: object) -> bool:
        """Whether the tenant's engine is open."""
        return tenant in self._engines

    def close(self) -> None:
        with self._lock:
            for eng in self._engines.values():
                eng.close()
            self._engines.clear()
