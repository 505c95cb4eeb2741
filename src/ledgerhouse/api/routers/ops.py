"""Liveness, readiness and Prometheus metrics."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from ledgerhouse.api.deps import Meters, Wh
from ledgerhouse.api.schemas import ERRORS, Status
from ledgerhouse.errors import REPAIR_HINT, StorageDamaged, StorageError

router = APIRouter(tags=["ops"])


@router.get("/healthz")
def healthz() -> Status:
    return Status(status="ok")


@router.get("/readyz", responses=ERRORS)
def readyz(
    warehouse: Wh,
    check: Annotated[
        Literal["none", "shallow"],
        Query(
            description="shallow: also check that every file each tenant's latest commit "
            "references is there with its logged size (503 storage_damaged otherwise)"
        ),
    ] = "none",
) -> Status:
    warehouse.meta.tenants_store.tenants()  # the metadata store answers
    if not warehouse.root.is_dir():
        raise StorageError(f"warehouse root {warehouse.root} is missing")
    if check == "shallow":
        problems = warehouse.check()
        if problems:
            first = problems[0]
            raise StorageDamaged(
                f"{len(problems)} storage problems, first: {first}",
                hint=REPAIR_HINT,
                problems=[p.to_dict() for p in problems[:20]],
            )
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
