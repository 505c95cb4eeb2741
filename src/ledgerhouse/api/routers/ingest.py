"""Ingestion: one batch per request, exactly once; the batch reports."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Query, Request, Response
from fastapi.concurrency import run_in_threadpool

from ledgerhouse.api.deps import Me, Meters, Uploader
from ledgerhouse.api.respond import read_upload
from ledgerhouse.api.schemas import ERRORS, BatchRecord
from ledgerhouse.errors import LedgerhouseError
from ledgerhouse.media import UPLOAD_FORMATS

router = APIRouter(prefix="/v1/ingest", tags=["ingest"], responses=ERRORS)

#: The upload, documented: the route reads the raw bytes itself (api/respond.py read_upload),
#: so FastAPI sees no body parameter; each accepted Content-Type is a file to send (a file
#: picker in Swagger UI).
UPLOAD_BODY = {
    "requestBody": {
        "required": True,
        "description": "The batch, as the bytes of a file in the format its Content-Type names.",
        "content": {m: {"schema": {"type": "string", "format": "binary"}} for m in UPLOAD_FORMATS},
    }
}


@router.post("/{dataset}", status_code=201, openapi_extra=UPLOAD_BODY)
async def ingest(
    dataset: str,
    request: Request,
    response: Response,
    upload: Uploader,
    metrics: Meters,
    idempotency_key: Annotated[str | None, Header()] = None,
) -> BatchRecord:
    """Ingest one batch. The format comes from Content-Type; `Idempotency-Key` is the
    batch id (default: a hash of the content). A resend returns the original report."""
    payload = await read_upload(request, upload.session.warehouse.settings.max_upload_bytes)
    try:
        report = await run_in_threadpool(
            upload.session.ingest,
            dataset,
            payload,
            fmt=upload.fmt,
            batch_id=idempotency_key,
        )
    except LedgerhouseError:
        metrics.batches.labels(dataset, "rejected").inc()
        raise
    metrics.batches.labels(dataset, report.status).inc()
    if report.status == "duplicate":
        response.status_code = 200
    else:
        metrics.ingested.labels(dataset, "accepted").inc(report.rows_accepted)
        metrics.ingested.labels(dataset, "quarantined").inc(report.rows_quarantined)
    return BatchRecord.model_validate(report.to_dict())


@router.get("/batches")
def batches(me: Me, limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> list[BatchRecord]:
    return [BatchRecord.model_validate(b) for b in me.batches(limit=limit)]


@router.get("/batches/{batch_id}")
def batch(batch_id: str, me: Me) -> BatchRecord:
    return BatchRecord.model_validate(me.batch(batch_id))
