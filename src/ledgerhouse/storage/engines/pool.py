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

    def get(self, tenant: str) -> Engine:
        with self._lock:
            eng = self._engines.get(tenant)
            if eng is None:
                eng = self._factory(
                    EngineOptions(
                        tenant_root=self._root_of(tenant),
                        memory_limit=self._memory,
                        threads=self._threads,
                        private_root=self._private_root,
                    )
                )
                self._engines[tenant] = eng
            return eng

    def close(self) -> None:
        with self._lock:
            for eng in self._engines.values():
                eng.close()
            self._engines.clear()
