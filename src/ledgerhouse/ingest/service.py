"""The ingestion service: a caller's batches in (exactly once) and the ledger of batches out."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ledgerhouse.access import Principal, Resource, authorize
from ledgerhouse.errors import InvalidRequest, LedgerhouseError, MetadataUnavailable, NotFound
from ledgerhouse.ingest.models import BatchReport
from ledgerhouse.ingest.pipeline import Ingestor
from ledgerhouse.ingest.progress import Progress
from ledgerhouse.media import format_from_path
from ledgerhouse.storage.metadata import MetadataStore

log = logging.getLogger("ledgerhouse.ingest")


class IngestService:
    def __init__(self, ingestor: Ingestor, meta: MetadataStore) -> None:
        self.ingestor = ingestor
        self.meta = meta
        #: before anything is written: (tenant, bytes sent) -> raises when the tenant may not
        #: store them (its storage quota, docs/tenancy/resources.md)
        self.before_write: Callable[[str, int], None] = lambda _tenant, _size: None
        #: after each batch (None when it was refused): the usage meter
        self.on_report: Callable[[str, BatchReport | None], None] = lambda _t, _r: None

    def ingest(
        self,
        principal: Principal,
        dataset: str,
        data: bytes | str | Path,
        *,
        fmt: str | None = None,
        batch_id: str | None = None,
        progress: Progress | None = None,
    ) -> BatchReport:
        """Ingest one batch of ``dataset`` from bytes or a file path; exactly once."""
        authorize(principal, "ingest", Resource(principal.tenant, "table", dataset))
        if isinstance(data, str | Path):
            path = Path(data)
            fmt = fmt or format_from_path(path)
            if not path.is_file():
                raise InvalidRequest(f"no file at {path}", hint="Check the path.")
            payload = path.read_bytes()
        else:
            payload = data
            if fmt is None:
                raise InvalidRequest("fmt is required for bytes input", hint="Pass fmt='csv'.")
        report = None
        try:
            self.before_write(principal.tenant, len(payload))
            report = self.ingestor.ingest(
                principal.tenant, dataset, payload, fmt, batch_id, progress
            )
        except LedgerhouseError as exc:
            self._audit_rejected(principal, dataset, batch_id, exc)
            raise
        finally:
            self.on_report(principal.tenant, report)
        self._audit_report(principal, report)
        return report

    def _audit_report(self, principal: Principal, report: BatchReport) -> None:
        """A committed (or duplicate) batch in the audit trail: the tables and versions it
        wrote, its rows. The batch is committed whatever happens here: a failure is logged."""
        try:
            self.meta.audit.append(
                principal.tenant, principal.user, principal.roles, "ingest",
                relations=report.tables_written if report.status == "committed" else {},
                rows=report.rows_accepted, batch_id=report.batch_id, status=report.status,
                detail={"dataset": report.dataset, "commit_id": report.commit_id,
                        "rows_received": report.rows_received,
                        "rows_quarantined": report.rows_quarantined,
                        "content_digest": report.content_digest},
            )  # fmt: skip
        except Exception:
            log.exception("could not append batch %s to the audit trail", report.batch_id)

    def _audit_rejected(
        self, principal: Principal, dataset: str, batch_id: str | None, exc: LedgerhouseError
    ) -> None:
        """A refused batch in the audit trail (its report's reason when it has one)."""
        report = exc.details.get("report") if isinstance(exc.details, dict) else None
        report = report if isinstance(report, dict) else {}
        try:
            self.meta.audit.append(
                principal.tenant, principal.user, principal.roles, "ingest_rejected",
                rows=0, batch_id=report.get("batch_id", batch_id), status=exc.code,
                detail={"dataset": dataset, "reason": exc.message[:500],
                        "rows_received": report.get("rows_received"),
                        "rows_quarantined": report.get("rows_quarantined")},
            )  # fmt: skip
        except MetadataUnavailable as refused:  # the refusal itself says why; one line here
            log.warning("a rejected batch is not in the audit trail: %s", refused.message)
        except Exception:
            log.exception("could not append a rejected batch to the audit trail")

    def batch(self, principal: Principal, batch_id: str) -> dict[str, Any]:
        """One batch's report (committed or rejected)."""
        authorize(principal, "read", Resource(principal.tenant, "batches"))
        found = self.meta.commit_log.batch(principal.tenant, batch_id)
        if found is None:
            raise NotFound(
                f"no batch {batch_id!r}",
                hint="List batches with `ledgerhouse batches` or GET /v1/ingest/batches.",
            )
        return found[1]

    def batches(self, principal: Principal, limit: int = 100) -> list[dict[str, Any]]:
        """The newest batches' reports, newest first."""
        authorize(principal, "read", Resource(principal.tenant, "batches"))
        return self.meta.commit_log.batches(principal.tenant, limit)
