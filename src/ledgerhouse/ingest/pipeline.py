"""The ingestion pipeline: one batch in, exactly once, all or nothing.

1. The batch id (given, or the SHA-256 of dataset + payload) is looked up in the ledger: a
   committed batch is not loaded again; its original report is returned.
2. In a transaction of the commit writer (``storage/commits.py``): under the tenant's writer
   lock, tables left ahead of the last warehouse commit by a crashed writer are restored to
   their committed version (Delta RESTORE).
3. The payload is read, validated against the dataset contract, and conformed (dimension
   versions, FX). Refused rows go to quarantine with a reason; if their share exceeds the
   limit, the batch is rejected whole and nothing is written.
4. The raw rows, the quarantine and the core tables are staged as new Delta versions, the
   commit listeners refresh the marts and rollups and run the quality checks, then one
   metadata transaction records the warehouse commit and the ledger entry. That transaction is
   the commit point: until it, readers and recovery ignore the new versions.
5. A quality check of severity ``error`` that fails refuses the commit: the batch is reported
   ``rejected_by_quality`` (HTTP 422) with the failing checks and sample rows, nothing is
   published, and a resend after a fix is loaded (docs/governance/quality.md).
"""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import polars as pl

from ledgerhouse.errors import (
    BatchIdConflict,
    InvalidRequest,
    PayloadTooLarge,
    RejectedByQuality,
    UnprocessableBatch,
)
from ledgerhouse.ingest import load_dims, load_facts, load_trades
from ledgerhouse.ingest.bounds import ReadLimits
from ledgerhouse.ingest.context import LoadContext, LoadPlan
from ledgerhouse.ingest.datasets import contract
from ledgerhouse.ingest.errors import BatchRejected
from ledgerhouse.ingest.extensions import ExtensionDataset
from ledgerhouse.ingest.models import BatchReport, Contract
from ledgerhouse.ingest.plausibility import DEFAULT_RULES, IngestRules
from ledgerhouse.ingest.progress import Progress
from ledgerhouse.ingest.readers import read_payload
from ledgerhouse.ingest.tables import RAW_TABLES
from ledgerhouse.ingest.validate import REASON, ROW, quarantine_records, validate
from ledgerhouse.model.schema import DIM_INSTRUMENT, DIM_PORTFOLIO, QUARANTINE, TableDef
from ledgerhouse.storage.commits import CommitWriter, Transaction
from ledgerhouse.storage.delta import DeltaStore
from ledgerhouse.storage.metadata import MetadataStore

_BATCH_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:\-]{0,127}$")


@dataclass(frozen=True)
class _Scd2Spec:
    dim: TableDef
    code: str
    key: str
    attributes: tuple[str, ...]
    currency: str  # the column whose currencies join dim_currency


_SCD2: dict[str, _Scd2Spec] = {
    "instruments": _Scd2Spec(
        DIM_INSTRUMENT,
        "instrument_code",
        "instrument_key",
        ("isin", "name", "asset_class", "sector", "industry", "currency", "country", "issuer"),
        "currency",
    ),
    "portfolios": _Scd2Spec(
        DIM_PORTFOLIO,
        "portfolio_code",
        "portfolio_key",
        ("name", "firm", "desk", "manager", "strategy", "base_currency", "benchmark_code"),
        "base_currency",
    ),
}


def _scd2_planner(dataset: str) -> Callable[[LoadContext, pl.DataFrame], LoadPlan]:
    spec = _SCD2[dataset]

    def plan(ctx: LoadContext, good: pl.DataFrame) -> LoadPlan:
        out = load_dims.plan_scd2(
            ctx,
            good,
            dim=spec.dim,
            raw=RAW_TABLES[dataset],
            code=spec.code,
            key=spec.key,
            attributes=list(spec.attributes),
        )
        load_dims.plan_currencies(ctx, good[spec.currency], out)
        return out

    return plan


def _planner(dataset: str) -> Callable[[LoadContext, pl.DataFrame], LoadPlan]:
    planners: dict[str, Callable[[LoadContext, pl.DataFrame], LoadPlan]] = {
        "instruments": _scd2_planner("instruments"),
        "portfolios": _scd2_planner("portfolios"),
        "counterparties": load_dims.plan_counterparties,
        "fx_rates": load_facts.plan_fx_rates,
        "prices": load_facts.plan_prices,
        "benchmarks": load_facts.plan_benchmarks,
        "positions": load_facts.plan_positions,
        "performance": load_facts.plan_performance,
        "trades": load_trades.plan_trades,
    }
    return planners[dataset]


def content_digest(payload: bytes) -> str:
    """``sha256:<hex>`` of a batch's bytes, kept in its report."""
    return "sha256:" + hashlib.sha256(payload).hexdigest()


def batch_id_for(dataset: str, payload: bytes) -> str:
    digest = hashlib.sha256(dataset.encode() + b"\0" + payload).hexdigest()
    return f"sha256-{digest[:40]}"


@dataclass
class IngestLimits:
    max_error_rate: float
    max_field_chars: int
    max_upload_bytes: int
    max_decoded_bytes: int = ReadLimits.max_decoded_bytes
    max_batch_rows: int = ReadLimits.max_rows
    rules: IngestRules = DEFAULT_RULES  # the plausibility rules' settings

    @property
    def read(self) -> ReadLimits:
        return ReadLimits(self.max_decoded_bytes, self.max_batch_rows)


class Ingestor:
    def __init__(
        self,
        store: DeltaStore,
        meta: MetadataStore,
        writer: CommitWriter,
        limits: IngestLimits,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        reporting_currency: str = "USD",
    ) -> None:
        self.writer = writer
        self.store = store
        self.meta = meta
        self.limits = limits
        self.clock = clock
        self.reporting_currency = reporting_currency
        #: a tenant's extension datasets (its schema: docs/tenancy/schemas.md), by name
        self.extension_of: Callable[[str, str], ExtensionDataset | None] = lambda _t, _d: None

    def _contract(self, tenant: str, dataset: str) -> Contract:
        """The contract of a shared dataset or of one of the tenant's extensions."""
        ext = self.extension_of(tenant, dataset)
        return ext.contract if ext is not None else contract(dataset)

    def ingest(
        self,
        tenant: str,
        dataset: str,
        payload: bytes,
        fmt: str,
        batch_id: str | None = None,
        progress: Progress | None = None,
    ) -> BatchReport:
        say = progress or (lambda _stage: None)
        started = time.perf_counter()
        self._contract(tenant, dataset)  # unknown dataset: a clear error before anything else
        if len(payload) > self.limits.max_upload_bytes:
            raise PayloadTooLarge(
                f"payload of {len(payload):,} bytes exceeds the {self.limits.max_upload_bytes:,}"
                "-byte limit",
                hint="Split the batch, or raise LEDGERHOUSE_MAX_UPLOAD_BYTES.",
            )
        if batch_id is not None and not _BATCH_ID.fullmatch(batch_id):
            raise InvalidRequest(
                f"batch id {batch_id[:80]!r} is not valid",
                hint="Use 1-128 characters: letters, digits, '_', '.', ':', '-'.",
            )
        batch_id = batch_id or batch_id_for(dataset, payload)
        digest = content_digest(payload)
        done = self._already_committed(tenant, batch_id, dataset, digest)
        if done is not None:
            return done
        say("recovering")
        batch = (batch_id, dataset)
        gate = _QualityGate(self.meta, tenant, started)  # an error check refusing the commit
        with gate, self.writer.transaction(tenant, f"ingest:{dataset}", batch) as txn:
            # the batch as an input of this run, for the observers (OpenLineage events)
            txn.notes["inputs"] = [{"batch_id": batch_id, "dataset": dataset,
                                    "content_digest": digest, "format": fmt,
                                    "bytes": len(payload)}]  # fmt: skip
            done = self._already_committed(tenant, batch_id, dataset, digest)
            if done is not None:
                return done  # nothing staged: no commit
            if txn.base is None:
                raise InvalidRequest(
                    f"tenant {tenant!r} has no warehouse", hint="Run `ledgerhouse init` first."
                )
            say("reading")
            report = self._load(txn, dataset, payload, fmt, batch_id, say, digest)
            gate.report = report
            # the ledger entry is recorded at the commit point, after this body: it carries
            # the duration up to here (the derived tables' refresh is not in it)
            _timed(report, started)
            txn.report = report.to_dict()
        assert txn.commit is not None
        report.tables_written = dict(txn.written)  # the marts and rollups included
        report.commit_id = txn.commit.id
        report.quality = list(txn.report.get("quality", []))  # warnings of the quality checks
        say("committed")
        return _timed(report, started)

    # -- exactly once -------------------------------------------------------------------------
    def _already_committed(
        self, tenant: str, batch_id: str, dataset: str, digest: str
    ) -> BatchReport | None:
        """The committed report of ``batch_id`` as a duplicate, when the same content was
        sent; a batch id already naming another dataset or other content is a conflict."""
        found = self.meta.commit_log.batch(tenant, batch_id)
        if found is None or found[0] != "committed":
            return None
        report = BatchReport.from_dict(found[1])
        if report.dataset != dataset:
            raise BatchIdConflict(
                f"batch id {batch_id!r} was already used for dataset {report.dataset!r}",
                hint="Use a new batch id for a different dataset.",
                batch_id=batch_id,
            )
        # reports stored before 0.2 have no digest: a resend is taken as the same batch
        if report.content_digest and report.content_digest != digest:
            raise BatchIdConflict(
                f"batch id {batch_id!r} was already used for other content "
                f"(commit {report.commit_id}); this batch was not stored",
                hint="Send new content under a new batch id (Idempotency-Key / --batch-id); "
                "resend the same bytes to get the original report.",
                batch_id=batch_id,
                stored_digest=report.content_digest,
                sent_digest=digest,
            )
        report.status = "duplicate"
        return report

    # -- the load -----------------------------------------------------------------------------
    def _load(
        self,
        txn: Transaction,
        dataset: str,
        payload: bytes,
        fmt: str,
        batch_id: str,
        say: Progress,
        digest: str,
    ) -> BatchReport:
        tenant = txn.tenant
        spec = self._contract(tenant, dataset)
        ext = self.extension_of(tenant, dataset)
        report = BatchReport(
            batch_id=batch_id, dataset=dataset, status="committed", content_digest=digest
        )
        try:
            df = read_payload(payload, fmt, self.limits.read)
            report.rows_received = df.height
            say("validating")
            checked = validate(df, spec, self.limits.max_field_chars)
        except UnprocessableBatch as exc:
            report.status, report.reason = "rejected", exc.message
            self.meta.commit_log.record_rejection(tenant, batch_id, dataset, report.to_dict())
            exc.details["report"] = report.to_dict()
            raise
        report.warnings = checked.warnings
        ctx = LoadContext(
            tenant,
            self.store,
            txn.committed,
            batch_id,
            self.clock(),
            reporting_currency=self.reporting_currency,
            rules=self.limits.rules,
        )
        say("conforming")
        plan = ext.plan(ctx, checked.good) if ext else _planner(dataset)(ctx, checked.good)
        report.warnings += plan.warnings
        bad = pl.concat([checked.bad, plan.bad]).unique(ROW, keep="first").sort(ROW)
        report.rows_quarantined = bad.height
        report.rows_valid = report.rows_received - bad.height
        report.rows_accepted = report.rows_valid
        report.quarantine_reasons = _reason_counts(bad)
        quarantined = quarantine_records(checked.original, bad)
        report.quarantine_sample = quarantined.head(10).to_dicts()
        rate = bad.height / max(report.rows_received, 1)
        if rate > self.limits.max_error_rate:
            report.status = "rejected"
            report.rows_accepted = 0  # nothing is stored; rows_valid says how many passed
            report.reason = (
                f"{bad.height} of {report.rows_received} rows ({rate:.1%}) failed validation, "
                f"above the {self.limits.max_error_rate:.1%} limit"
            )
            self.meta.commit_log.record_rejection(tenant, batch_id, dataset, report.to_dict())
            raise BatchRejected(
                report.reason,
                hint="Fix the rows listed (the report's quarantine_sample: row number, reason "
                "and the record as sent) and send again; nothing was stored.",
                report=report.to_dict(),
            )
        say("writing")
        self._write(txn, ctx, checked.typed, bad, quarantined, dataset, plan)
        txn.report = report.to_dict()  # the ledger entry, recorded with the commit
        if self.writer.listeners:  # derived tables (marts, rollups) join the same commit
            say("refreshing marts")
        return report

    def _write(
        self,
        txn: Transaction,
        ctx: LoadContext,
        typed: pl.DataFrame,
        bad: pl.DataFrame,
        quarantined: pl.DataFrame,
        dataset: str,
        plan: LoadPlan,
    ) -> None:
        ext = self.extension_of(ctx.tenant, dataset)
        raw = ext.raw if ext is not None else RAW_TABLES[dataset]
        loaded_at = pl.lit(ctx.loaded_at).cast(pl.Datetime("us", "UTC"))
        raw_rows = (
            typed.drop(REASON)
            .join(bad, on=ROW, how="left")
            .select(
                *self._contract(ctx.tenant, dataset).names,
                pl.lit(ctx.batch_id).alias("_batch_id"),
                pl.col(ROW).alias("_row_number"),
                loaded_at.alias("_loaded_at"),
                pl.col(REASON).alias("_reason"),
            )
        )
        writes: list[tuple[TableDef, Callable[[], int]]] = [
            (raw, lambda: self.store.append(ctx.tenant, raw, raw_rows))
        ]
        if not quarantined.is_empty():
            q = quarantined.select(
                pl.lit(ctx.batch_id).alias("batch_id"),
                pl.lit(dataset).alias("dataset"),
                pl.col(ROW).alias("row_number"),
                pl.col(REASON).alias("reason"),
                "record",
                loaded_at.alias("loaded_at"),
            )
            writes.append((QUARANTINE, lambda: self.store.append(ctx.tenant, QUARANTINE, q)))
        # Sequential on purpose: at 10M rows, writing tables concurrently saved nothing and
        # raised peak memory from 16 GB to 23 GB (docs/decisions/0004-ingestion-write-path.md).
        for table, write in [*writes, *plan.writes]:
            txn.stage(table, write)  # a failpoint after each write (tests/ingest)


class _QualityGate:
    """Turns a commit refused by a quality check (``RejectedByQuality``, raised by the quality
    listener inside the commit) into a batch ``rejected_by_quality``: recorded in the ledger
    (not as committed, so a resend after a fix is loaded), with the failing checks, their
    counts and sample rows in the report. The staged versions were never published; recovery
    rolls them back on the next transaction."""

    def __init__(self, meta: MetadataStore, tenant: str, started: float) -> None:
        self.meta = meta
        self.tenant = tenant
        self.started = started
        self.report: BatchReport | None = None

    def __enter__(self) -> _QualityGate:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: Any
    ) -> None:
        if not isinstance(exc, RejectedByQuality) or self.report is None:
            return
        report = self.report
        report.status = "rejected_by_quality"
        report.rows_accepted = 0
        report.tables_written = {}
        report.reason = exc.message
        report.quality = list(exc.details.get("checks", []))
        _timed(report, self.started)
        self.meta.commit_log.record_rejection(
            self.tenant, report.batch_id, report.dataset, report.to_dict(), status=report.status
        )
        exc.details["report"] = report.to_dict()


#: A value in a reason: a number, a date or a timestamp ("2024-01-02 10:00:00.000000+00:00").
_VALUE = r"-?(?:\d+(?:[.:T+\-]\d+)*(?:[eE][+\-]?\d+)?(?: \d\d:\d\d(?:[:.+\-]\d+)*)?|inf|NaN)"
#: ...unless it is the bound of a comparison ("must be > 0"): the text before it is kept ($1)
#: (the regex engine has no look-behind).
_NOT_A_BOUND = r"(^|[^<>≤≥= ] |[^<>≤≥= \d.\-])"


def _timed(report: BatchReport, started: float) -> BatchReport:
    report.duration_s = time.perf_counter() - started
    report.rows_per_s = report.rows_received / report.duration_s if report.duration_s else 0
    return report


def _reason_counts(bad: pl.DataFrame) -> dict[str, int]:
    if bad.is_empty():
        return {}
    # group reasons by their rule, not their value: "column quantity: … must be > 0" for
    # "column quantity: -5.0 must be > 0"; quoted values and key lists are values too
    kind = (
        pl.col(REASON)
        .str.replace_all(r"'[^']*'", "…")
        .str.replace_all(r"\(([^()=]+=[^,()]*(?:, )?)+\)", "(…)")
        .str.replace_all(rf"{_NOT_A_BOUND}(?:{_VALUE})\b", "${1}…")
    )
    counts = bad.group_by(kind.alias("k")).len().sort("len", descending=True).head(20)
    return dict(zip(counts["k"].to_list(), counts["len"].to_list(), strict=True))
