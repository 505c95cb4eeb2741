"""Request bodies of the API. They mirror the domain's inputs but are not the domain models: a
route converts them (``CubeRequest.to_query``), so the domain can change without changing the
published request schema, and the other way round."""

from __future__ import annotations

from datetime import date
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt, ValidationError, field_validator

from ledgerhouse.query.params import params_problem
from ledgerhouse.semantic import CubeQuery
from ledgerhouse.semantic.cube_query import FilterOp
from ledgerhouse.semantic.models import Granularity

AsOf = str | StrictInt | None


class SqlRequest(BaseModel):
    sql: str = Field(description="One SELECT (or WITH ... SELECT) over the warehouse tables.")
    as_of: AsOf = Field(
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
    export: bool = Field(
        default=True,
        description="With Accept CSV, Parquet or Arrow: every row, streamed (true), or an "
        "interactive answer capped at query_row_limit, as JSON is (false: the HTTP client's "
        "query()).",
    )
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


# -- cubes (docs/cubes.md) ------------------------------------------------------------------
class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TimeDimension(_Strict):
    dimension: str | None = Field(
        default=None, description="A time dimension; default: the cube's default one."
    )
    granularity: Granularity | None = Field(
        default=None, description="day, week, month, quarter or year; none: no time grouping."
    )
    date_range: tuple[date, date] | None = Field(
        default=None, description="Inclusive [first, last] dates."
    )


class Filter(_Strict):
    member: str = Field(description="A dimension (filters rows) or a measure (filters groups).")
    op: FilterOp = "equals"
    values: list[Any] = Field(default_factory=list)

    @field_validator("values")
    @classmethod
    def _scalars(cls, values: list[Any]) -> list[Any]:
        # here, not only in the domain: a nested value would not survive the conversion
        if any(isinstance(v, dict | list) for v in values):
            raise ValueError("filter values must be numbers, strings, booleans or dates")
        return values


class Order(_Strict):
    member: str
    desc: bool = False


class Drill(BaseModel):
    hierarchy: str = Field(description="portfolio, instrument, date, ... (GET /v1/cubes)")
    direction: Literal["down", "up"] = "down"
    value: Any = Field(
        default=None, description="Drilling down: keep only this member of the current level."
    )


class CubeRequest(_Strict):
    """A cube query (docs/cubes.md) plus how to run it."""

    cube: str | None = Field(
        default=None,
        description="The cube the document is for (as in a tour.json file); when given, it "
        "must be the cube of the path (else 400).",
    )
    measures: list[str] = Field(default_factory=list)
    dimensions: list[str] = Field(default_factory=list)
    time_dimension: TimeDimension | None = None
    hierarchies: dict[str, str] = Field(
        default_factory=dict,
        description="Hierarchy -> level to show, e.g. {'portfolio': 'desk'} groups by firm and "
        "desk; {'date': 'quarter'} sets the time granularity.",
    )
    filters: list[Filter] = Field(default_factory=list)
    segments: list[str] = Field(default_factory=list)
    order: list[Order] = Field(default_factory=list)
    limit: int | None = Field(default=None, ge=1)
    pivot: str | None = Field(
        default=None, description="A dimension whose values become columns (one per measure)."
    )
    as_of: AsOf = None
    route: Literal["auto", "raw"] = Field(
        default="auto", description="'raw' skips the rollups (to compare routes)."
    )
    cache: bool = True
    dry_run: bool = Field(default=False, description="Return the SQL and route; run nothing.")
    timeout_s: float | None = Field(default=None, gt=0, description="Time limit in seconds.")
    drill: Drill | None = Field(
        default=None, description="Roll up or drill down one level before running."
    )

    def to_query(self) -> CubeQuery:
        """The domain's cube query. Its own rules (a filter's number of values, a date range in
        order, something asked) answer 422 like any invalid body, at the same place."""
        from fastapi.exceptions import RequestValidationError

        asked = self.model_dump(
            mode="json", exclude={"dry_run", "timeout_s", "drill"}, exclude_unset=True
        )
        try:
            return CubeQuery.model_validate(asked)
        except ValidationError as exc:
            errors = exc.errors(include_url=False)
            raise RequestValidationError(
                [{**e, "loc": ("body", *e["loc"])} for e in errors]
            ) from None


# -- analytics (docs/analytics.md) ----------------------------------------------------------
class AnalyticsRequest(BaseModel):
    portfolios: list[str] | None = Field(
        default=None, description="Portfolio codes; every portfolio of the tenant when absent."
    )
    start: date | None = Field(default=None, description="First day (inclusive).")
    end: date | None = Field(default=None, description="Last day (inclusive).")
    as_of: AsOf = Field(default=None, description="Commit id or ISO timestamp.")
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
    as_of: AsOf = None


class ReconcileRequest(BaseModel):
    date: Day = Field(description="Rebuild positions from trades up to this day.")
    as_of: AsOf = None


class PnlRequest(BaseModel):
    date: Day = Field(description="P&L of the trades up to this day, at its latest close.")
    portfolios: list[str] | None = None
    as_of: AsOf = None


class CorrelationRequest(BaseModel):
    portfolios: list[str] | None = None
    start: date | None = None
    end: date | None = None
    min_periods: int = Field(default=20, ge=2, description="Fewest shared days for a value.")
    as_of: AsOf = None


class TradingRequest(BaseModel):
    start: date
    end: date
    instrument: str | None = None
    as_of: AsOf = None


class AttributionRequest(BaseModel):
    portfolios: list[str] | None = None
    start: date
    end: date
    daily: bool = Field(default=False, description="Per-day effects instead of linked ones.")
    as_of: AsOf = None


class AnomaliesRequest(BaseModel):
    train_start: date
    train_end: date
    score_start: date
    score_end: date
    contamination: float = Field(default=0.01, gt=0, lt=0.5, description="Expected share.")
    seed: int = 0
    timeout_s: float | None = Field(
        default=None,
        gt=0,
        description="Time limit of each read, in seconds (capped by the server's query_timeout_s).",
    )


class ReturnsRequest(BaseModel):
    portfolios: list[str] | None = None
    start: date | None = None
    end: date | None = None
    as_of: AsOf = None
    every: Literal["month", "quarter", "year"] = Field(
        default="month", description="Sub-period of the Modified Dietz returns."
    )


# -- keys -----------------------------------------------------------------------------------
class KeyRequest(BaseModel):
    user: str = Field(min_length=1, max_length=128, description="Who the key is for.")
    roles: list[str] = Field(
        default_factory=lambda: ["reader"],
        description="Built-in (reader, writer, admin, steward, auditor) or the tenant's own.",
    )
    attributes: dict[str, Any] | None = Field(
        default=None,
        description="What row policies are parameterized by: {name: value or [values]}, "
        'e.g. {"desks": ["Rates"]} (docs/tenancy/policies.md).',
    )
