"""Lineage answers: a relation's or column's edges (GET /v1/lineage/...) and a cell's
explanation (GET /v1/queries/{id}/cells/{row}); the CLI's ``--json`` prints the same."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class LineageEdge(BaseModel):
    from_: str = Field(alias="from", description="The source: `relation` or `relation.column`.")
    to: str = Field(description="What is made from it.")
    job: str = Field(description="The job: ingest:<dataset>, refresh:<relation>, cube <name>.")
    kind: str = Field(description="sql (derived by SQLGlot), declared (Polars) or cube.")
    depth: int = Field(description="1 for a direct edge, 2 one step further, ...")

    model_config = {"populate_by_name": True}


class LineageResponse(BaseModel):
    relation: str
    column: str | None = None
    layer: str
    direction: str
    depth: int | None = None
    commit_id: int = Field(description="The commit whose graph this is.")
    digest: str = Field(description="The graph's digest (stored once per digest).")
    recorded: bool = Field(
        description="False for a commit made before lineage was recorded: the graph is the "
        "one in force now."
    )
    jobs: list[dict[str, str]]
    edges: list[LineageEdge]
    columns: dict[str, Any] | None = Field(
        default=None, description="Each column's direct sources and how it is made."
    )
    note: str | None = None


class CellBatch(BaseModel):
    batch_id: str
    dataset: str | None
    received_at: str | None
    commit_id: int | None
    rows_in_answer: dict[str, int] = Field(
        description="Rows of this batch in the answer row's group, per relation read."
    )
    report: dict[str, Any] = Field(description="The batch's row counts from its ledger report.")
    raw: dict[str, Any] | None = Field(
        description="The raw records: relation, version, _row_number range, rows and files."
    )


class CellExplanation(BaseModel):
    query_id: str
    commit_id: int = Field(description="The answer's commit: everything is computed at it.")
    row: int
    kind: str = Field(description="cube, sql or the request's kind.")
    cube: str | None = None
    values: dict[str, Any]
    precision: str = Field(description="row, or relation when not attributable row by row.")
    scope: str
    filters: dict[str, Any]
    method: str
    provenance_sql: str | None
    columns: dict[str, list[dict[str, Any]]] = Field(
        description="Per answer column: the paths from each raw column to it."
    )
    batches: list[CellBatch]
