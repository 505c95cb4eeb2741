"""SQL over a pinned commit, the query log, the tables and the commits."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from ledgerhouse.api.deps import Me, Meters
from ledgerhouse.api.respond import cancellable, exported, result, result_headers
from ledgerhouse.api.schemas import (
    ERRORS,
    CommitRecord,
    QueryRecord,
    SqlRequest,
    SqlResponse,
    TableRecord,
    sql_answer,
    with_formats,
)
from ledgerhouse.media import negotiate

router = APIRouter(prefix="/v1", tags=["query"], responses=ERRORS)


@router.get("/queries", response_model_exclude_unset=True)
def queries(
    me: Me,
    status: Annotated[str | None, Query(description="ok, error, rejected or timeout")] = None,
    slowest: Annotated[bool, Query(description="Slowest first instead of newest")] = False,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[QueryRecord]:
    """The query log of the caller's tenant."""
    entries = me.query_log_entries(status=status, slowest=slowest, limit=limit)
    return [QueryRecord.model_validate(e) for e in entries]


@router.get("/queries/{query_id}", response_model_exclude_unset=True)
def query_entry(
    query_id: str,
    me: Me,
    plan: Annotated[bool, Query(description="Add DuckDB's plan")] = False,
) -> QueryRecord:
    return QueryRecord.model_validate(me.query_log_entry(query_id, plan=plan))


@router.get("/tables")
def tables(me: Me, as_of: str | None = None) -> list[TableRecord]:
    return [TableRecord.model_validate(t) for t in me.tables(as_of=as_of)]


@router.get("/commits")
def commits(me: Me, limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> list[CommitRecord]:
    return [CommitRecord.of(c) for c in me.commits(limit=limit)]


@router.post(
    "/query/sql",
    response_model=SqlResponse,
    responses=with_formats(
        "JSON by default (at most query_row_limit rows); CSV, Parquet or an Arrow IPC "
        "stream by Accept: every row (or `limit`), streamed, never cached; with X-Query-Id, "
        "X-Commit, X-Route, X-Cache-Hit and X-Truncated headers."
    ),
)
async def query_sql(body: SqlRequest, me: Me, metrics: Meters, request: Request) -> Response:
    """Run one read-only SQL query over a pinned commit (latest, or `as_of`). The query is
    interrupted past its time limit, and as soon as the client disconnects. The result
    comes as JSON, or as CSV, Parquet or an Arrow IPC stream when `Accept` asks for it."""
    media = negotiate(request.headers.get("accept"))
    if media[0] != "json" and body.explain is None and body.export:  # every row (docs/api.md)
        return await exported(
            request, metrics, media, me.stream,
            sql=body.sql, as_of=body.as_of, limit=body.limit, params=body.params,
            timeout_s=body.timeout_s,
        )  # fmt: skip
    res = await cancellable(
        request,
        metrics,
        me.query,
        body.sql,
        as_of=body.as_of,
        limit=body.limit,
        params=body.params,
        timeout_s=body.timeout_s,
        explain=body.explain,
        use_cache=body.cache,
    )
    headers = result_headers(res.query_id, res.commit.id, res.route, res.truncated, res.policy)
    return result(media, res.table, lambda: sql_answer(res), headers)
