"""A tenant's own schema: its extensions, cubes and marts (GET/POST/DELETE /v1/schema,
POST/DELETE /v1/cubes, `ledgerhouse schema ... --json`)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class SchemaObjectRecord(BaseModel):
    """One extension, cube or mart of the tenant."""

    kind: str = Field(description="extension, cube, mart or rollup")
    name: str
    status: str = Field(description="active, or dropped (an extension's or mart's data is kept)")
    relation: str | None = Field(
        default=None, description="The table it adds (ext_<dimension>_<name>, tmart_<name>)"
    )
    description: str = ""
    created_by: str
    created_at: datetime
    reads: list[str] = Field(default_factory=list, description="The relations it reads")
    dimension: str | None = Field(default=None, description="An extension's dimension")
    attributes: list[dict[str, Any]] | None = Field(
        default=None, description="An extension's attributes: name, type, required, description"
    )
    sql: str | None = Field(default=None, description="A mart's SQL")
    yaml: str | None = Field(default=None, description="A cube's YAML, as declared")
    cube: str | None = Field(default=None, description="A rollup's cube")
    rollup: dict[str, Any] | None = Field(
        default=None,
        description="A rollup's dimensions, measures, time_dimension, granularity, segments",
    )


class SchemaUpload(BaseModel):
    """The YAML text of one extension, mart or cube (docs/tenancy/schemas.md)."""

    model_config = ConfigDict(extra="forbid")

    yaml: str = Field(min_length=1, max_length=200_000)


class RollupProposal(BaseModel):
    """A rollup the advisor proposes from the tenant's query log (docs/tenancy/rollups.md)."""

    rollup: str = Field(description="Its proposed name")
    cube: str
    dimensions: list[str]
    measures: list[str]
    time_dimension: str | None = None
    granularity: str | None = None
    segments: list[str] = Field(default_factory=list)
    description: str = ""
    queries: int = Field(description="Logged queries the star answered that it would answer")
    users: int = Field(description="Distinct users who sent them")
    star_ms: float = Field(description="Their measured time on the star, summed (ms)")
    estimated_ms: float = Field(description="Their estimated time on the rollup (ms)")
    rows: int = Field(description="The rollup's rows at the latest commit (measured)")
    fact_rows: int = Field(description="The fact table's rows at the latest commit")
    reduction: float = Field(description="Fact rows per rollup row")
    estimated_bytes: int = Field(description="Its estimated storage")
    keeps: list[str] = Field(
        default_factory=list, description="Policed codes kept so row-restricted callers use it"
    )
    examples: list[dict[str, Any]] = Field(default_factory=list, description="Logged queries")
    declined: bool = Field(
        default=False, description="An admin dropped this rollup before (auto mode skips it)"
    )
    applied: str | None = Field(default=None, description="The rollup table, once applied")
    error: str | None = Field(default=None, description="Why applying it was refused")


class AdviceRequest(BaseModel):
    """Which proposals to apply (POST /v1/optimize/rollups)."""

    model_config = ConfigDict(extra="forbid")

    days: float = Field(default=30.0, gt=0, le=3660)
    min_queries: int = Field(default=2, ge=1, le=1_000_000)
    limit: int = Field(default=10, ge=1, le=100)
    names: list[str] | None = Field(default=None, description="Only these proposals")
