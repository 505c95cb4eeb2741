"""One root exception for Ledgerhouse.

Every error carries the HTTP status it maps to, a stable machine-readable ``code``, a message
that names the offending value, and a ``hint`` that says what to do. The API and the CLI render
them through one handler each, as the same JSON envelope:
``{"error": {"code", "message", "hint", "details"}}``.
"""

from __future__ import annotations

import os
import re
from typing import Any


class LedgerhouseError(Exception):
    """Root of every error Ledgerhouse raises on purpose."""

    status: int = 500
    code: str = "internal_error"
    retryable: bool = False

    def __init__(self, message: str, *, hint: str = "", **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.details = details

    def to_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "message": self.message,
            "hint": self.hint,
            "details": _jsonable(self.details),
        }


class ConfigError(LedgerhouseError):
    status = 400
    code = "config_error"


class InvalidRequest(LedgerhouseError):
    """The request itself is malformed (bad parameter, unknown dataset, bad format)."""

    status = 400
    code = "invalid_request"


class NotFound(LedgerhouseError):
    status = 404
    code = "not_found"


class Unauthorized(LedgerhouseError):
    status = 401
    code = "unauthorized"


class Forbidden(LedgerhouseError):
    status = 403
    code = "forbidden"


class Conflict(LedgerhouseError):
    status = 409
    code = "conflict"
    retryable = True


class PayloadTooLarge(LedgerhouseError):
    status = 413
    code = "payload_too_large"


class BodyTimeout(LedgerhouseError):
    """A request body did not arrive in full within its deadline (a stalled or trickled
    upload); the connection is closed."""

    status = 408
    code = "body_timeout"
    retryable = True


class UnprocessableBatch(LedgerhouseError):
    """A batch was read but rejected whole (validation error rate, empty, missing columns)."""

    status = 422
    code = "batch_rejected"


class QueryRejected(LedgerhouseError):
    """A SQL text was refused by the guard before it reached the engine."""

    status = 400
    code = "query_rejected"


class QueryFailed(LedgerhouseError):
    """The engine could not run an accepted query (type error, division by zero...)."""

    status = 400
    code = "query_failed"


class QueryTimeout(LedgerhouseError):
    """A query ran past its time limit, or its caller went away, and was interrupted."""

    status = 408
    code = "query_timeout"
    retryable = True


class Overloaded(LedgerhouseError):
    """Too many queries in flight for the tenant: come back after ``retry_after_s``."""

    status = 429
    code = "overloaded"
    retryable = True


class StorageError(LedgerhouseError):
    status = 500
    code = "storage_error"


class StorageUnavailable(StorageError):
    """Reading the warehouse's files failed under a running query (a data file or a spill file
    vanished, a disk error): the request was fine and may succeed when retried."""

    status = 503
    code = "storage_unavailable"
    retryable = True


def validated(model: Any, data: Any, what: str, hint: str) -> Any:
    """``model.model_validate(data)``; a pydantic error becomes an InvalidRequest that names
    the field (``<what> <field>: <problem>``) and says where the format is documented."""
    from pydantic import ValidationError

    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"]) or what
        raise InvalidRequest(f"{what} {field}: {first['msg']}", hint=hint, field=field) from None


#: An absolute POSIX path of two or more parts, not inside a URL or after ``<root>``.
_ABSOLUTE_PATH = re.compile(r"(?<![\w.:/<>~-])/(?:[^\s\"'`/<>|,;()\[\]]+/)+[^\s\"'`/<>|,;()\[\]]*")


def scrub_paths(text: str, *roots: str | os.PathLike[str]) -> str:
    """``text`` with each of ``roots`` written ``<root>`` and any other absolute path
    ``<path>``: messages from DuckDB, delta-rs or Polars name files, and an answer must not
    tell a client where the server keeps them."""
    for root in sorted({os.fspath(r).rstrip("/") for r in roots if r}, key=len, reverse=True):
        if root:
            text = text.replace(root, "<root>")
    return _ABSOLUTE_PATH.sub("<path>", text)


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [_jsonable(v) for v in value]
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)
