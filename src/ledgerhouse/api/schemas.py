"""API request and response models (separate from domain models)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field


class SqlRequest(BaseModel):
    sql: str = Field(description="One SELECT (or WITH ... SELECT) over the warehouse tables.")
    as_of: str | int | None = Field(
        default=None, description="Commit id or ISO timestamp; default: the latest commit."
    )
    limit: int | None = Field(default=None, ge=1, description="Most rows to return.")
    params: list[Any] | None = Field(default=None, description="Values for ? / $1 placeholders.")
    timeout_s: float | None = Field(
        default=None, gt=0, description="Time limit (capped by the server's query_timeout_s)."
    )
    cache: bool = Field(default=True, description="false bypasses the result cache.")
    explain: Literal["plan", "analyze"] | None = Field(
        default=None,
        description="Return DuckDB's plan instead of rows ('analyze' runs the query and "
        "reports actual timings).",
    )


class Column(BaseModel):
    name: str
    type: str


class SqlResponse(BaseModel):
    query_id: str
    columns: list[Column]
    rows: list[list[Any]]
    route: str = "raw"
    cache_hit: bool = False
    commit: int
    elapsed_ms: float
    truncated: bool


class ErrorBody(BaseModel):
    code: str
    message: str
    hint: str
    details: dict[str, Any]


class ErrorEnvelope(BaseModel):
    error: ErrorBody


class KeyRequest(BaseModel):
    user: str = Field(min_length=1, max_length=128, description="Who the key is for.")
    roles: list[str] = Field(
        default_factory=lambda: ["reader"], description="admin, writer, reader"
    )


class KeyResponse(BaseModel):
    user: str
    roles: list[str]
    api_key: str = Field(description="Shown once; stored only as a hash.")
