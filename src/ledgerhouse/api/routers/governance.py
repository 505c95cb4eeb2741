"""The governance report (auditors and admins): GET /v1/governance/report."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from starlette.responses import HTMLResponse, PlainTextResponse, Response

from ledgerhouse.api.deps import Me
from ledgerhouse.api.schemas import ERRORS

router = APIRouter(prefix="/v1/governance", tags=["governance"], responses=ERRORS)


@router.get(
    "/report",
    responses={
        200: {
            "content": {"text/markdown": {}, "text/html": {}},
            "description": "The report: JSON (default), Markdown or HTML by `format`.",
        }
    },
)
def governance_report(
    me: Me,
    start: Annotated[date, Query(alias="from", description="First day (YYYY-MM-DD, UTC)")],
    end: Annotated[date, Query(alias="to", description="Last day, inclusive")],
    format: Annotated[Literal["json", "md", "html"], Query(description="json, md or html")] = (
        "json"
    ),
) -> Any:
    """Quality scores and trend per table, failing checks, batches and quarantine by reason,
    freshness against each table's declared expectation, lineage coverage, who read classified
    columns, and metadata changes, for the days `from` to `to` (auditors and admins)."""
    if format == "json":
        return me.governance_report(start, end)
    text = me.governance_report(start, end, format=format)
    media: type[Response] = HTMLResponse if format == "html" else PlainTextResponse
    return media(text, media_type="text/html" if format == "html" else "text/markdown")
