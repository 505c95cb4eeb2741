"""Lineage: a relation's or a column's graph at a commit, and the lineage of one cell of a
logged answer (docs/governance/lineage.md)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query

from ledgerhouse.api.deps import Me
from ledgerhouse.api.schemas import ERRORS
from ledgerhouse.api.schemas.lineage import CellExplanation, LineageResponse

router = APIRouter(prefix="/v1", tags=["governance"], responses=ERRORS)

Direction = Annotated[
    Literal["upstream", "downstream"],
    Query(description="upstream: where it comes from; downstream: what is made from it"),
]
Depth = Annotated[int | None, Query(ge=1, le=100, description="Levels to follow (all: none)")]
AsOf = Annotated[str | None, Query(description="A commit id or an ISO time (latest: none)")]


@router.get("/lineage/{relation}")
def relation_lineage(
    relation: str,
    me: Me,
    column: Annotated[str | None, Query(description="One column of the relation")] = None,
    direction: Direction = "upstream",
    depth: Depth = None,
    as_of: AsOf = None,
) -> LineageResponse:
    """The lineage of a relation (or, with ``column``, of one column)."""
    found = me.lineage(relation, column, direction=direction, depth=depth, as_of=as_of)
    return LineageResponse.model_validate(found)


@router.get("/lineage/{relation}/{column}")
def column_lineage(
    relation: str,
    column: str,
    me: Me,
    direction: Direction = "upstream",
    depth: Depth = None,
    as_of: AsOf = None,
) -> LineageResponse:
    """The lineage of one column."""
    found = me.lineage(relation, column, direction=direction, depth=depth, as_of=as_of)
    return LineageResponse.model_validate(found)


@router.get("/queries/{query_id}/cells/{row}")
def explain_cell(query_id: str, row: int, me: Me) -> CellExplanation:
    """Where row ``row`` (0-based) of a logged answer came from: its source batches, the raw
    records' location and the column paths, reproduced at the answer's commit."""
    return CellExplanation.model_validate(me.explain_cell(query_id, row))
