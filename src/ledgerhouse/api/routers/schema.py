"""The tenant's own schema: extensions of the shared dimensions, cubes, marts and rollups
(admins: ``manage_schema``; everyone who may read lists them), and the rollup advisor.
docs/tenancy/schemas.md, docs/tenancy/rollups.md."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from ledgerhouse.api.deps import Me
from ledgerhouse.api.schemas import ERRORS
from ledgerhouse.api.schemas.tenant_schema import (
    AdviceRequest,
    RollupProposal,
    SchemaObjectRecord,
    SchemaUpload,
)

router = APIRouter(tags=["schema"], responses=ERRORS)


@router.get("/v1/schema")
def schema_objects(me: Me) -> list[SchemaObjectRecord]:
    """Every extension, cube and mart of the tenant (active and dropped)."""
    return [SchemaObjectRecord.model_validate(o) for o in me.schema()]


@router.post("/v1/schema", status_code=201)
def add_schema_object(body: SchemaUpload, me: Me) -> SchemaObjectRecord:
    """Add an extension (`extension:`), a mart (`mart:`) or a cube (the format of
    docs/cubes.md). A bad declaration answers 400 naming the field; a taken name 409."""
    return SchemaObjectRecord.model_validate(me.add_schema(body.yaml))


@router.delete("/v1/schema/{kind}/{name}")
def drop_schema_object(kind: str, name: str, me: Me) -> SchemaObjectRecord:
    """Drop an extension, cube or mart (409 while a cube or mart of the tenant reads it)."""
    return SchemaObjectRecord.model_validate(me.drop_schema(kind, name))


@router.post("/v1/cubes", status_code=201)
def add_cube(body: SchemaUpload, me: Me) -> SchemaObjectRecord:
    """Add (or replace) one of the tenant's own cubes (the YAML of docs/cubes.md)."""
    return SchemaObjectRecord.model_validate(me.add_cube(body.yaml))


@router.delete("/v1/cubes/{name}")
def drop_cube(name: str, me: Me) -> SchemaObjectRecord:
    """Drop one of the tenant's own cubes (a shared cube answers 404)."""
    return SchemaObjectRecord.model_validate(me.drop_schema("cube", name))


@router.get("/v1/optimize/rollups")
def rollup_advice(
    me: Me,
    days: Annotated[float, Query(gt=0, le=3660)] = 30.0,
    min_queries: Annotated[int, Query(ge=1, le=1_000_000)] = 2,
    limit: Annotated[int, Query(ge=1, le=100)] = 10,
) -> list[RollupProposal]:
    """The rollups the advisor proposes from the tenant's cube queries the star answered,
    with their measured cost and size (admins: `manage_schema`)."""
    found = me.advise_rollups(days=days, min_queries=min_queries, limit=limit)
    return [RollupProposal.model_validate(p) for p in found]


@router.post("/v1/optimize/rollups")
def apply_rollup_advice(body: AdviceRequest, me: Me) -> list[RollupProposal]:
    """Apply the advisor's proposals (or those named) as the tenant's own rollups."""
    found = me.advise_rollups(
        days=body.days, min_queries=body.min_queries, limit=body.limit, apply=True,
        names=body.names,
    )  # fmt: skip
    return [RollupProposal.model_validate(p) for p in found]
