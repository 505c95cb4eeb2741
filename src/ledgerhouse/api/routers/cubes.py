"""Cubes: their metadata, and cube queries answered from rollups or the star schema."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from ledgerhouse.api.deps import Me, Meters
from ledgerhouse.api.respond import cancellable, result, result_headers
from ledgerhouse.api.schemas import (
    ERRORS,
    CubeRecord,
    CubeRequest,
    CubeResponse,
    cube_answer,
    with_formats,
)
from ledgerhouse.media import negotiate

router = APIRouter(prefix="/v1/cubes", tags=["cubes"], responses=ERRORS)


@router.get("")
def cubes(me: Me, as_of: str | None = None) -> list[CubeRecord]:
    """Every cube: measures, dimensions, hierarchies, segments and rollups (with rows)."""
    return [CubeRecord.model_validate(c) for c in me.cubes(as_of=as_of)]


@router.get("/{cube}")
def cube_meta(cube: str, me: Me, as_of: str | None = None) -> CubeRecord:
    """One cube's metadata."""
    me.warehouse.cube_service.layer_of(me.principal.tenant).cube(cube)  # 404: unknown cube
    found = next(c for c in me.cubes(as_of=as_of) if c["name"] == cube)
    return CubeRecord.model_validate(found)


@router.post(
    "/{cube}/query",
    response_model=CubeResponse,
    responses=with_formats("JSON by default; CSV, Parquet or an Arrow IPC stream by Accept."),
)
async def cube_query(
    cube: str, body: CubeRequest, me: Me, metrics: Meters, request: Request
) -> Response:
    """Answer a cube query (docs/cubes.md) from the smallest rollup that answers it exactly,
    or from the star schema; `dry_run` returns the SQL and the route without running."""
    media = negotiate(request.headers.get("accept"))
    query = body.to_query()
    if body.drill is not None:
        up = body.drill.direction == "up"
        query = me.cube_drill(cube, query, body.drill.hierarchy, up=up, value=body.drill.value)
    if body.dry_run:
        res = me.cube(cube, query, dry_run=True)
    else:
        res = await cancellable(
            request,
            metrics,
            me.cube,
            cube,
            query,
            timeout_s=body.timeout_s,
        )
    headers = result_headers(res.query_id or "", res.commit, res.route, res.truncated, res.policy)
    return result(media, res.table, lambda: cube_answer(res, query), headers)
