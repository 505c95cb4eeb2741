"""The error envelope, and the error answers each route documents."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from ledgerhouse.media import ANSWER_FORMATS


class ErrorBody(BaseModel):
    code: str = Field(description="Stable and machine-readable (ledgerhouse.errors.REGISTRY).")
    message: str
    hint: str = Field(description="What to do about it.")
    retryable: bool = Field(description="Whether the same request may succeed when sent again.")
    details: dict[str, Any]


class ErrorEnvelope(BaseModel):
    error: ErrorBody


#: The error answers every route documents (one envelope for all of them).
ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorEnvelope}
    for code in (400, 401, 403, 404, 408, 409, 413, 422, 429, 500, 503)
}


def with_formats(description: str) -> dict[int | str, dict[str, Any]]:
    """ERRORS, and a 200 that comes as JSON or as any other answer format by ``Accept``."""
    return {
        **ERRORS,
        200: {"content": {m: {} for m in ANSWER_FORMATS}, "description": description},
    }
