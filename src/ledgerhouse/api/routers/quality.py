"""Data quality of the caller's tenant: checks (stewards and admins change them), results,
scores, trend, runs on demand."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.concurrency import run_in_threadpool

from ledgerhouse.api.deps import Me
from ledgerhouse.api.schemas import ERRORS
from ledgerhouse.api.schemas.quality import (
    QualityCheckRecord,
    QualityChecksUpload,
    QualityResultRecord,
    QualityRunRequest,
    QualityScoreRecord,
    QualityTrendPoint,
)

router = APIRouter(prefix="/v1/quality", tags=["governance"], responses=ERRORS)


@router.get("/checks")
def quality_checks(me: Me) -> list[QualityCheckRecord]:
    """Every check of the tenant: built-in, of the cube folder, and its own."""
    return [QualityCheckRecord.model_validate(c) for c in me.quality_checks()]


@router.post("/checks", status_code=201)
def add_quality_checks(body: QualityChecksUpload, me: Me) -> list[QualityCheckRecord]:
    """Validate and store the tenant's checks of a YAML text (stewards and admins); one named
    like an existing check replaces it. An unknown kind, column or severity answers 400."""
    return [QualityCheckRecord.model_validate(c) for c in me.add_quality_checks(body.yaml)]


@router.delete("/checks/{name}")
def remove_quality_check(name: str, me: Me) -> QualityCheckRecord:
    """Remove one of the tenant's own checks (stewards and admins)."""
    return QualityCheckRecord.model_validate(me.remove_quality_check(name))


@router.get("/results")
def quality_results(
    me: Me,
    relation: Annotated[str | None, Query(description="Only this relation's results")] = None,
    check: Annotated[str | None, Query(description="Only this check's results")] = None,
    status: Annotated[str | None, Query(description="pass, warn, fail, error, skipped")] = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 100,
) -> list[QualityResultRecord]:
    """Check results, newest first."""
    found = me.quality_results(relation, check=check, status=status, limit=limit)
    return [QualityResultRecord.model_validate(r) for r in found]


@router.get("/scores")
def quality_scores(me: Me) -> list[QualityScoreRecord]:
    """The quality score of each checked relation (docs/governance/quality.md)."""
    return [QualityScoreRecord.model_validate(s) for s in me.quality_scores()]


@router.get("/trend")
def quality_trend(
    me: Me,
    relation: Annotated[str | None, Query(description="Only this relation")] = None,
    by: Annotated[str, Query(pattern="^(day|commit)$")] = "day",
    since: Annotated[str | None, Query(description="ISO date or time")] = None,
) -> list[QualityTrendPoint]:
    """Each relation's score after each commit or at each day's end."""
    found = me.quality_trend(relation, by=by, since=since)
    return [QualityTrendPoint.model_validate(p) for p in found]


@router.post("/run")
async def run_quality(body: QualityRunRequest, me: Me) -> list[QualityResultRecord]:
    """Run the checks over the whole latest commit now; results recorded (stewards, admins)."""
    found = await run_in_threadpool(me.run_quality, body.relation)
    return [QualityResultRecord.model_validate(r) for r in found]
