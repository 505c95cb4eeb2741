"""The ingestion service: a caller's batches in (exactly once) and the ledger of batches out."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ledgerhouse.access import Principal, Resource, authorize
from ledgerhouse.errors import InvalidRequest, NotFound
from ledgerhouse.ingest.models import BatchReport
from ledgerhouse.ingest.pipeline import Ingestor
from ledgerhouse.ingest.progress import Progress
from ledgerhouse.media import format_from_path
from ledgerhouse.storage.metadata import MetadataStore


class IngestService:
    def __init__(self, ingestor: Ingestor, meta: MetadataStore) -> None:
        self.ingestor = ingestor
        self.meta = meta

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
        return self.ingestor.ingest(principal.tenant, dataset, payload, fmt, batch_id, progress)

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
