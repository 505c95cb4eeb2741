"""How a route turns a service's result into an HTTP answer: queries run cancellable in the
thread pool, results stream in the format ``Accept`` asks for, uploads are read bounded."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from contextlib import ExitStack
from typing import Any

import pyarrow as pa
from fastapi import Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import StreamingResponse
from starlette.responses import Response

from ledgerhouse.api.formats import json_response, stream
from ledgerhouse.api.metrics import Metrics
from ledgerhouse.errors import LedgerhouseError, PayloadTooLarge
from ledgerhouse.media import negotiate
from ledgerhouse.model.values import json_rows
from ledgerhouse.query import CancelToken


async def cancellable(request: Request, metrics: Metrics, fn: Any, *args: Any, **kw: Any) -> Any:
    """Run a query in the thread pool; interrupt it as soon as the client disconnects."""
    token = CancelToken()
    task = asyncio.ensure_future(run_in_threadpool(fn, *args, cancel=token, **kw))
    try:
        while not task.done():
            await asyncio.wait({task}, timeout=0.1)
            if not task.done() and await request.is_disconnected():
                token.cancel()
        res = await task
    except LedgerhouseError:
        metrics.queries.labels("error").inc()
        raise
    metrics.queries.labels("ok").inc()
    metrics.query_latency.labels(res.route).observe(res.elapsed_ms / 1000)
    metrics.cache.labels("hit" if res.cache_hit else "miss").inc()
    return res


async def exported(
    request: Request, metrics: Metrics, media: tuple[str, str], open_export: Any, **kw: Any
) -> Response:
    """Every row of a query streamed in ``media``'s format (``open_export(cancel=..., **kw)``:
    a session's ``stream``). Guard, authorization and the first batch run before the response
    starts, so they answer the usual error envelope; the admission slot, the pinned versions
    and the time limit are held until the last byte. A failure once rows have gone out (the
    time limit) cannot change the status: the connection is dropped, so the answer is never
    mistaken for a whole one. A client that disconnects cancels the query."""
    from ledgerhouse.query.exports import encode

    fmt, media_type = media
    token = CancelToken()
    stack = ExitStack()

    def start() -> Any:
        with stack:  # closed here on failure; handed to the body on success
            export = stack.enter_context(open_export(cancel=token, **kw))
            chunks = encode(export.schema, export.batches, fmt, quote_text=True)
            return export, chunks, stack.pop_all()

    try:
        export, chunks, held = await run_in_threadpool(start)
    except LedgerhouseError:
        metrics.queries.labels("error").inc()
        raise

    async def body() -> AsyncIterator[bytes]:
        try:
            while True:
                chunk = await run_in_threadpool(next, chunks, None)
                if chunk is None:
                    break
                yield chunk
                if await request.is_disconnected():
                    token.cancel()
        except BaseException as exc:  # the export logs it as its outcome (a timeout...)
            metrics.queries.labels("error").inc()
            await run_in_threadpool(held.__exit__, type(exc), exc, exc.__traceback__)
            raise
        await run_in_threadpool(held.close)
        metrics.queries.labels("ok").inc()

    headers = result_headers(export.query_id, export.commit.id, "export", False, export.policy)
    return StreamingResponse(body(), media_type=media_type, headers=headers)


def result(
    media: tuple[str, str],
    table: pa.Table | None,
    answer: Callable[[], dict[str, Any]],
    headers: dict[str, str],
) -> Response:
    """A query or cube result: the table streamed in the negotiated (format, media type) with
    ``headers``, or ``answer()`` as JSON (also when there is no table: a dry run)."""
    fmt, media_type = media
    if fmt != "json" and table is not None:
        return StreamingResponse(stream(table, fmt), media_type=media_type, headers=headers)
    return json_response(answer())


def result_headers(
    query_id: str, commit: int, route: str, truncated: bool, policy: dict[str, Any] | None = None
) -> dict[str, str]:
    """The headers of a streamed answer; ``X-Policy`` names the row and column policies it was
    computed under (absent when none applied)."""
    return {
        "X-Query-Id": query_id,
        "X-Commit": str(commit),
        "X-Route": route,
        "X-Cache-Hit": str(route == "cache").lower(),
        "X-Truncated": str(truncated).lower(),
        **(
            {"X-Policy": ",".join(policy["policies"]),
             "X-Policy-Detail": json.dumps(policy, separators=(",", ":"))}
            if policy
            else {}
        ),
    }  # fmt: skip


def frame(frame: Any, commit: int, accept: str | None = None, **extra: Any) -> Response:
    """An analytics answer: JSON, or CSV / Parquet / an Arrow IPC stream by Accept."""
    fmt, media = negotiate(accept)
    if fmt != "json":
        import polars as pl

        if fmt == "csv":  # CSV has no lists: join them
            lists = [c for c, t in frame.schema.items() if isinstance(t, pl.List)]
            frame = frame.with_columns(pl.col(c).list.join("; ") for c in lists)
        table = frame.to_arrow(compat_level=pl.CompatLevel.oldest())
        headers = {"X-Commit": str(commit), "X-Route": "analytics"}
        if extra.get("policy"):
            headers["X-Policy"] = ",".join(extra["policy"]["policies"])
        return StreamingResponse(stream(table, fmt), media_type=media, headers=headers)
    table = frame.to_arrow()
    if not extra.get("policy"):
        extra.pop("policy", None)
    return json_response(
        {
            "commit": commit,
            **extra,
            "columns": [{"name": f.name, "type": str(arrow_type(f.type))} for f in table.schema],
            "rows": json_rows(table),
        }
    )


_LISTS = (
    pa.types.is_list,
    pa.types.is_large_list,
    pa.types.is_list_view,
    pa.types.is_large_list_view,
)


def arrow_type(t: pa.DataType) -> pa.DataType:
    """The Arrow type a SQL answer names for a column of type ``t``: an analytics frame's
    columns are described by their Arrow types, as DuckDB's are, not by Polars' names; Polars
    hands out 64-bit offsets (``large_string``) where DuckDB uses 32-bit ones (``string``),
    which hold the same values, so those are named the same way."""
    if pa.types.is_large_string(t) or pa.types.is_string_view(t):
        return pa.string()
    if pa.types.is_large_binary(t) or pa.types.is_binary_view(t):
        return pa.binary()
    if any(is_list(t) for is_list in _LISTS):
        return pa.list_(arrow_type(t.value_type))
    if pa.types.is_struct(t):
        return pa.struct([f.with_type(arrow_type(f.type)) for f in t])
    return t


def effective_conventions(conventions: dict[str, Any] | None) -> dict[str, Any]:
    """The conventions a report used: the request's, over the defaults (already validated
    by the report itself)."""
    from ledgerhouse.analytics import Conventions

    return Conventions.model_validate(conventions or {}).model_dump()


async def read_upload(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(
            f"payload of {int(declared):,} bytes exceeds the {limit:,}-byte limit",
            hint="Split the batch, or raise LEDGERHOUSE_MAX_UPLOAD_BYTES.",
        )
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(
                f"payload exceeds the {limit:,}-byte limit",
                hint="Split the batch, or raise LEDGERHOUSE_MAX_UPLOAD_BYTES.",
            )
        chunks.append(chunk)
    return b"".join(chunks)
