"""API request and response models (separate from domain models)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, Field, StrictInt, field_validator

from ledgerhouse.query.params import params_problem
from ledgerhouse.semantic import CubeQuery


class SqlRequest(BaseModel):
    sql: str = Field(description="One SELECT (or WITH ... SELECT) over the warehouse tables.")
    as_of: str | StrictInt | None = Field(
        default=None, description="Commit id or ISO timestamp; default: the latest commit."
    )
    limit: int | None = Field(default=None, ge=1, description="Most rows to return.")
    params: list[str | int | float | bool | None] | None = Field(
        default=None,
        description="Values for ? / $1 placeholders: a flat list of strings, numbers, booleans "
        "or nulls.",
    )
    timeout_s: float | None = Field(
        default=None, gt=0, description="Time limit (capped by the server's query_timeout_s)."
    )
    cache: bool = Field(default=True, description="false bypasses the result cache.")
    explain: Literal["plan", "analyze"] | None = Field(
        default=None,
        description="Return DuckDB's plan instead of rows ('analyze' runs the query and "
        "reports actual timings).",
    )

    @field_validator("params", mode="before")
    @classmethod
    def _flat_params(cls, value: Any) -> Any:
        problem = params_problem(value)  # one clear message instead of one per union member
        if problem is not None:
            raise ValueError(problem)
        return value


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


class Drill(BaseModel):
    hierarchy: str = Field(description="portfolio, instrument, date, ... (GET /v1/cubes)")
    direction: Literal["down", "up"] = "down"
    value: Any = Field(
        default=None, description="Drilling down: keep only this member of the current level."
    )


class CubeRequest(CubeQuery):
    """A cube query (docs/cubes.md) plus how to run it."""

    dry_run: bool = Field(default=False, description="Return the SQL and route; run nothing.")
    timeout_s: float | None = Field(default=None, gt=0, description="Time limit in seconds.")
    drill: Drill | None = Field(
        default=None, description="Roll up or drill down one level before running."
    )


class CubeResponse(BaseModel):
    query_id: str | None
    cube: str
    route: str = Field(description="raw, rollup:<name> or cache")
    cache_hit: bool
    commit: int
    columns: list[Column]
    rows: list[list[Any]]
    elapsed_ms: float
    truncated: bool
    sql: str = Field(description="The SQL that ran (or would run, for a dry run).")
    params: list[Any]
    navigation: dict[str, dict[str, str | None]] = Field(
        description="Per hierarchy: the level shown and the levels up and down."
    )
    rollups_considered: dict[str, str] = Field(
        description="Each rollup of the cube and why it was (not) chosen."
    )
    dry_run: bool
    query: dict[str, Any] = Field(description="The query that ran (after any drill).")


class AnalyticsRequest(BaseModel):
    portfolios: list[str] | None = Field(
        default=None, description="Portfolio codes; every portfolio of the tenant when absent."
    )
    start: date | None = Field(default=None, description="First day (inclusive).")
    end: date | None = Field(default=None, description="Last day (inclusive).")
    as_of: str | StrictInt | None = Field(default=None, description="Commit id or ISO timestamp.")
    conventions: dict[str, Any] | None = Field(
        default=None,
        description="periods_per_year, risk_free, risk_free_unit, var_method, confidence, "
        "horizon_days, return_type (docs/analytics.md).",
    )


Day = date  # a field named `date` cannot be annotated `date` in the same class
Breakdown = Literal["asset_class", "sector", "currency", "country"]


def _by_asset_class() -> list[Breakdown]:
    return ["asset_class"]


class ExposuresRequest(BaseModel):
    date: Day = Field(description="The day of the positions.")
    by: list[Breakdown] = Field(default_factory=_by_asset_class, description="Breakdowns.")
    level: Literal["firm", "desk", "portfolio"] = Field(
        default="portfolio", description="Level of the portfolio hierarchy."
    )
    as_of: str | StrictInt | None = None


class ReconcileRequest(BaseModel):
    date: Day = Field(description="Rebuild positions from trades up to this day.")
    as_of: str | StrictInt | None = None


class PnlRequest(BaseModel):
    date: Day = Field(description="P&L of the trades up to this day, at its latest close.")
    portfolios: list[str] | None = None
    as_of: str | StrictInt | None = None


class CorrelationRequest(BaseModel):
    portfolios: list[str] | None = None
    start: date | None = None
    end: date | None = None
    min_periods: int = Field(default=20, ge=2, description="Fewest shared days for a value.")
    as_of: str | StrictInt | None = None


class TradingRequest(BaseModel):
    start: date
    end: date
    instrument: str | None = None
    as_of: str | StrictInt | None = None


class AttributionRequest(BaseModel):
    portfolios: list[str] | None = None
    start: date
    end: date
    daily: bool = Field(default=False, description="Per-day effects instead of linked ones.")
    as_of: str | StrictInt | None = None


class AnomaliesRequest(BaseModel):
    train_start: date
    train_end: date
    score_start: date
    score_end: date
    contamination: float = Field(default=0.01, gt=0, lt=0.5, description="Expected share.")
    seed: int = 0


class ReturnsRequest(BaseModel):
    portfolios: list[str] | None = None
    start: date | None = None
    end: date | None = None
    as_of: str | StrictInt | None = None
    every: Literal["month", "quarter", "year"] = Field(
        default="month", description="Sub-period of the Modified Dietz returns."
    )


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


class KeyRecord(BaseModel):
    """An API key as it may be shown: never its secret, nor the secret's hash."""

    id: int
    user: str
    roles: list[str]
    created_at: datetime
    last_used_at: datetime | None = Field(
        description="When the key last authenticated a request (to about a minute); null if never."
    )
    revoked_at: datetime | None = Field(description="Null while the key works.")


class RotatedKeyResponse(KeyRecord):
    api_key: str = Field(description="The new secret: shown once; stored only as a hash.")
    replaces: int = Field(description="The id of the old key, revoked in the same transaction.")
