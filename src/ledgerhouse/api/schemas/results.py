"""Answers that are not records: query, cube and analytics results, and the ops statuses.

A result's rows are many: ``sql_answer`` and ``cube_answer`` build the JSON answer without
validating every row against its model (that doubled the time of a cached answer); the models
document the shape, and the CLI prints the same dicts (``--format json``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field

from ledgerhouse.api.schemas.records import Column

if TYPE_CHECKING:
    from ledgerhouse.query import QueryResult
    from ledgerhouse.semantic import CubeQuery, CubeResult


class Status(BaseModel):
    status: str = Field(description="ok (alive) or ready (the metadata store answers).")


class SqlResponse(BaseModel):
    query_id: str
    columns: list[Column]
    rows: list[list[Any]]
    route: str = "raw"
    cache_hit: bool = False
    commit: int
    elapsed_ms: float
    truncated: bool
    hint: str | None = Field(
        default=None, description="When truncated: how to get every row (a streamed format)."
    )
    policy: dict[str, Any] | None = Field(
        default=None,
        description="The row and column policies the answer was computed under: their names, "
        "the relations filtered, the columns masked or left out (absent: none applied).",
    )


#: How a capped JSON answer's rows can all be had: the streamed formats (docs/api.md).
TRUNCATED_HINT = (
    "JSON answers stop at query_row_limit rows: ask for every row with Accept: text/csv, "
    "application/vnd.apache.parquet or application/vnd.apache.arrow.stream (streamed), "
    "or narrow the query."
)


def sql_answer(res: QueryResult) -> dict[str, Any]:
    """A query result as a JSON-ready dict in the SqlResponse shape."""
    from ledgerhouse.model.values import json_rows  # pyarrow: not at the CLI's start-up

    return {
        "query_id": res.query_id,
        "columns": res.columns,
        "rows": json_rows(res.table),
        "route": res.route,
        "cache_hit": res.cache_hit,
        "commit": res.commit.id,
        "elapsed_ms": round(res.elapsed_ms, 3),
        "truncated": res.truncated,
        **({"hint": TRUNCATED_HINT} if res.truncated else {}),
        **({"policy": res.policy} if res.policy else {}),
    }


class CubeResponse(BaseModel):
    query_id: str | None
    cube: str
    route: str = Field(description="raw, rollup:<name> or cache")
    cache_hit: bool
    commit: int
    columns: list[Column]
    rows: list[list[Any]]
    elapsed_ms: float
    truncated: bool
    sql: str = Field(description="The SQL that ran (or would run, for a dry run).")
    params: list[Any]
    navigation: dict[str, dict[str, str | None]] = Field(
        description="Per hierarchy: the level shown and the levels up and down."
    )
    rollups_considered: dict[str, str] = Field(
        description="Each rollup of the cube and why it was (not) chosen."
    )
    dry_run: bool
    query: dict[str, Any] = Field(description="The query that ran (after any drill).")
    policy: dict[str, Any] | None = Field(
        default=None,
        description="The row and column policies the answer was computed under: their names, "
        "the relations filtered, the columns masked or left out (absent: none applied).",
    )


def cube_answer(res: CubeResult, query: CubeQuery) -> dict[str, Any]:
    """A cube result as a JSON-ready dict in the CubeResponse shape."""
    return {**res.to_dict(), "query": query.model_dump(mode="json", exclude_defaults=True)}


class FrameResponse(BaseModel):
    """An analytics answer: a table at a commit."""

    commit: int = Field(description="The commit the answer was read at.")
    columns: list[Column]
    rows: list[list[Any]]
    policy: dict[str, Any] | None = Field(
        default=None,
        description="The row and column policies the caller's reads are under (absent: none).",
    )


class PerformanceResponse(FrameResponse):
    conventions: dict[str, Any] = Field(description="The conventions the report used.")


class ReturnsResponse(FrameResponse):
    method: str = Field(description="modified_dietz")
    every: str


class ReconcileResponse(FrameResponse):
    mismatches: int = Field(description="Positions that differ from the stored snapshot.")


class PnlResponse(FrameResponse):
    cost_method: str = Field(description="average_cost")


class AttributionResponse(FrameResponse):
    linking: str = Field(description="carino, or none for per-day effects")
