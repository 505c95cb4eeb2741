"""Analytics for a caller: the analytics service reading as that caller, the performance
report, period returns, and the anomaly-scoring job with its model records.

Analytics never run SQL themselves: every read goes through the ``Queries`` port (the
composition root passes ``query.QueryService``) as the caller, so analytics see exactly what
the caller may read, at the commit asked for, through the same guard and grants as SQL.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from datetime import date
from pathlib import Path
from types import FrameType
from typing import Any, Protocol

import polars as pl

from ledgerhouse.access import Principal, Resource, authorize
from ledgerhouse.analytics.anomalies import TradeAnomalies
from ledgerhouse.analytics.models import Conventions
from ledgerhouse.analytics.service import AnalyticsService, Read
from ledgerhouse.errors import validated
from ledgerhouse.storage.commits import CommitWriter
from ledgerhouse.storage.delta import DeltaStore
from ledgerhouse.storage.metadata import MetadataStore


class Queries(Protocol):
    """What analytics need of the query service."""

    def sql(self, principal: Principal, sql: str, **options: Any) -> Any: ...


class Analytics:
    def __init__(
        self, queries: Queries, writer: CommitWriter, store: DeltaStore, meta: MetadataStore
    ) -> None:
        self.queries = queries
        self.writer = writer
        self.store = store
        self.meta = meta

    def _read(self, principal: Principal, timeout_s: float | None = None) -> Read:
        """The guarded reads of analytics jobs, as the caller: (frame, commit id) of a query.
        ``timeout_s`` limits each read (capped by the query service's limit)."""

        def read(sql: str, params: list[Any], as_of: Any) -> tuple[pl.DataFrame, int]:
            # analytics inputs can be millions of rows: never fill the result cache with them
            call = _analytics_call()
            # each call is granted on its own (analytics:pnl), or all of them (analytics)
            authorize(principal, "analyze", Resource(principal.tenant, "analytics", call))
            request = {"kind": "analytics", "call": call}  # for the audit trail
            res = self.queries.sql(
                principal, sql, as_of=as_of, params=params, timeout_s=timeout_s,
                unlimited=True, route="analytics", use_cache=False, request=request,
            )  # fmt: skip
            return res.to_polars(), int(res.commit.id)

        return read

    def service(self, principal: Principal) -> AnalyticsService:
        """The analytics service reading as ``principal``: performance, period_returns,
        exposures, correlation, vwap, slippage, pnl (docs/analytics.md)."""
        authorize(principal, "analyze", Resource(principal.tenant, "analytics"))
        return AnalyticsService(self._read(principal))

    def performance(
        self,
        principal: Principal,
        portfolios: list[str] | None = None,
        *,
        start: date | None = None,
        end: date | None = None,
        conventions: Conventions | dict[str, Any] | None = None,
        as_of: Any = None,
    ) -> tuple[pl.DataFrame, int]:
        """Performance and risk of the named portfolios (every portfolio of the tenant when
        none) on one commit: the report and the commit id."""
        conv = _conventions(conventions)
        return self.service(principal).performance(portfolios, start, end, conv, as_of)

    def period_returns(
        self,
        principal: Principal,
        portfolios: list[str] | None = None,
        *,
        every: str = "month",
        start: date | None = None,
        end: date | None = None,
        as_of: Any = None,
    ) -> tuple[pl.DataFrame, int]:
        """Modified Dietz returns per month, quarter or year, chain-linked."""
        return self.service(principal).period_returns(portfolios, start, end, every, as_of)

    def detect_anomalies(
        self,
        principal: Principal,
        train_start: date,
        train_end: date,
        score_start: date,
        score_end: date,
        *,
        contamination: float = 0.01,
        seed: int = 0,
        timeout_s: float | None = None,
        progress: Callable[[str], None] | None = None,
    ) -> dict[str, Any]:
        """Train, score, write the scores to ``ml_trade_anomaly`` in a new warehouse commit and
        record the model (``TradeAnomalies.detect``). Writers and admins only: it writes.
        ``timeout_s`` limits each of its reads; ``progress`` hears its stages."""
        authorize(principal, "ingest", Resource(principal.tenant, "table", "ml_trade_anomaly"))
        read = self._read(principal, timeout_s)
        job = TradeAnomalies(principal.tenant, read, self.writer, self.store, self.meta)
        return job.detect(
            train_start, train_end, score_start, score_end,
            contamination=contamination, seed=seed, progress=progress,
        )  # fmt: skip

    def models(self, principal: Principal) -> list[dict[str, Any]]:
        """The tenant's trained models, newest first, with their metadata."""
        authorize(principal, "read", Resource(principal.tenant, "models"))
        root = self.store.tenant_root(principal.tenant)
        return [
            _relative_artifact(m, root) for m in self.meta.models_store.models(principal.tenant)
        ]


def _analytics_call() -> str | None:
    """The public analytics call (``performance``, ``pnl``, ``detect``...) a read is made for:
    the outermost public method of the analytics classes on the stack (a few frames up)."""
    frame: FrameType | None = sys._getframe(2)
    found = None
    for _ in range(12):
        if frame is None:
            break
        code = frame.f_code
        owner, _, name = code.co_qualname.rpartition(".")
        if owner in _CALLERS and not name.startswith("_"):
            found = name
        frame = frame.f_back
    return found


#: The classes whose public methods name an analytics call.
_CALLERS = frozenset({"AnalyticsService", "TradeAnomalies"})


def _conventions(value: Conventions | dict[str, Any] | None) -> Conventions:
    if value is None or isinstance(value, Conventions):
        return value or Conventions()
    hint = "See docs/analytics.md for the conventions and their defaults."
    conventions: Conventions = validated(Conventions, value, "convention", hint)
    return conventions


def _relative_artifact(model: dict[str, Any], tenant_root: Path) -> dict[str, Any]:
    """A model record's artifact relative to the tenant root (records before 0.3 held the
    absolute path, which an answer must not show)."""
    artifact = model.get("artifact")
    if isinstance(artifact, str) and Path(artifact).is_absolute():
        path = Path(artifact)
        relative = path.relative_to(tenant_root) if path.is_relative_to(tenant_root) else path.name
        model = {**model, "artifact": str(relative)}
    return model
