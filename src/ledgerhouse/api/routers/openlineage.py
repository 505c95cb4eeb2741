"""The OpenLineage run events of the caller's tenant (``read_governance``: every role)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from ledgerhouse.api.deps import Me
from ledgerhouse.api.schemas import ERRORS
from ledgerhouse.api.schemas.openlineage import OpenLineageEvent

router = APIRouter(prefix="/v1/lineage", tags=["governance"], responses=ERRORS)


@router.get("/events")
def lineage_events(
    me: Me,
    limit: Annotated[int, Query(ge=1, le=10_000, description="Most events, newest first")] = 100,
    job: Annotated[
        str | None,
        Query(max_length=200, description="Only this job's, e.g. ingest.trades"),
    ] = None,
) -> list[OpenLineageEvent]:
    """The tenant's latest OpenLineage run events (START, COMPLETE, FAIL of every job that
    wrote: ingestion, mart and rollup refresh, ML scoring), newest first, as emitted."""
    return [OpenLineageEvent.model_validate(e) for e in me.lineage_events(limit=limit, job=job)]
