"""Liveness, readiness and Prometheus metrics."""

from __future__ import annotations

from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from ledgerhouse.api.deps import Meters, Wh
from ledgerhouse.api.schemas import ERRORS, Status
from ledgerhouse.errors import StorageError

router = APIRouter(tags=["ops"])


@router.get("/healthz")
def healthz() -> Status:
    return Status(status="ok")


@router.get("/readyz", responses=ERRORS)
def readyz(warehouse: Wh) -> Status:
    warehouse.meta.tenants_store.tenants()  # the metadata store answers
    if not warehouse.root.is_dir():
        raise StorageError(f"warehouse root {warehouse.root} is missing")
    return Status(status="ready")


@router.get(
    "/metrics",
    response_class=Response,
    responses={
        200: {
            "content": {CONTENT_TYPE_LATEST.split(";")[0]: {"schema": {"type": "string"}}},
            "description": "Prometheus text exposition format.",
        }
    },
)
def prometheus(metrics: Meters) -> Response:
    return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)
