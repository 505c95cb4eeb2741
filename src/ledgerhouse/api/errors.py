"""The one place errors become HTTP responses: every error has the same JSON envelope,
``{"error": {"code", "message", "hint", "retryable", "details"}}``. The web framework's own
refusals (an invalid body, an unknown route, a wrong method, an unexpected exception) become
the registered errors of ledgerhouse.errors first, so they carry the same fields."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from ledgerhouse.errors import (
    HttpError,
    InvalidRequest,
    LedgerhouseError,
    MethodNotAllowed,
    NotFound,
    Overloaded,
    scrub_paths,
)

log = logging.getLogger("ledgerhouse.api")


def error_response(exc: LedgerhouseError, roots: tuple[str, ...] = ()) -> JSONResponse:
    """The envelope of a domain error (also sent by middleware, outside the handlers). It
    names no server path: ``roots`` become ``<root>``, any other absolute path ``<path>``."""
    headers = {}
    if exc.status == 401:
        headers["WWW-Authenticate"] = "Bearer"
    if exc.status == 429:
        headers["Retry-After"] = str(exc.details.get("retry_after_s", 1))
    if exc.status == 503 and exc.retryable:
        headers["Retry-After"] = "1"
    body = _scrubbed(exc.to_dict(), roots)
    return JSONResponse({"error": body}, status_code=exc.status, headers=headers)


def _not_json(error: dict[str, Any]) -> InvalidRequest:
    """A body that is not JSON: where, what the parser said, and the usual cause in words."""
    loc = error.get("loc", ())
    at = loc[1] if len(loc) > 1 and isinstance(loc[1], int) else None
    reason = str((error.get("ctx") or {}).get("error", "")).strip() or "JSON decode error"
    message = "the request body is not valid JSON"
    message += f" at character {at}" if at is not None else ""
    message += f": {reason.removesuffix(' at')}"
    hint = "Send one JSON object (see the request schema at /docs)."
    if "control character" in reason.lower():
        message += " (a raw newline or tab inside a JSON string: SQL pasted over lines?)"
        hint = (
            "Write a newline inside a string as \\n, or keep the string on one line; "
            "with curl, put the body in a file and send it with -d @body.json."
        )
    return InvalidRequest(message, hint=hint, position=at)


def _framework(exc: LedgerhouseError, status: int) -> JSONResponse:
    """The envelope of a refusal by the framework: its text is the framework's (or the
    request's own input, quoted back), not scrubbed."""
    exc.status = status
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse({"error": exc.to_dict()}, status_code=status, headers=headers)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(LedgerhouseError)
    async def _domain(req: Request, exc: LedgerhouseError) -> JSONResponse:
        warehouse = getattr(req.app.state, "warehouse", None)
        if isinstance(exc, Overloaded) and warehouse is not None:
            # a tenant over its limits is answered after a pause that costs the server
            # nothing (no thread, no CPU): a client that sends again at once, ignoring
            # Retry-After, cannot take the server's time from the other tenants
            await asyncio.sleep(warehouse.settings.overload_pause_s)
        return error_response(exc, (str(warehouse.root),) if warehouse is not None else ())

    @app.exception_handler(RequestValidationError)
    async def _validation(_req: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {}
        if first.get("type") == "json_invalid":
            invalid = _not_json(first)
        else:
            where = ".".join(str(p) for p in first.get("loc", ()))
            invalid = InvalidRequest(
                f"{where}: {first.get('msg', 'invalid request')}",
                hint="See the request schema at /docs.",
                errors=[str(e) for e in exc.errors()[:5]],
            )
        # the status of its code (400), as when a service refuses the request: one code, one
        # status, whether FastAPI or the domain notices the problem (not FastAPI's 422)
        return _framework(invalid, InvalidRequest.status)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_req: Request, exc: StarletteHTTPException) -> JSONResponse:
        kind = {404: NotFound, 405: MethodNotAllowed}.get(exc.status_code, HttpError)
        return _framework(kind(str(exc.detail), hint="See /docs for the routes."), exc.status_code)

    @app.exception_handler(Exception)
    async def _unexpected(_req: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error")
        unexpected = LedgerhouseError(
            "an unexpected error occurred",
            hint="Retry; if it persists, report it with the server log.",
        )
        return _framework(unexpected, 500)


def _scrubbed(value: Any, roots: tuple[str, ...]) -> Any:
    if isinstance(value, str):
        return scrub_paths(value, *roots)
    if isinstance(value, dict):
        return {k: _scrubbed(v, roots) for k, v in value.items()}
    if isinstance(value, list):
        return [_scrubbed(v, roots) for v in value]
    return value
