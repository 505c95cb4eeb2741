"""The cube query language: what a caller asks of a cube (JSON over HTTP, a dict or a
CubeQuery in Python, a JSON file on the command line). docs/cubes.md documents it."""

from __future__ import annotations

from datetime import date
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt, model_validator

from ledgerhouse.semantic.models import DATE_LEVELS, Granularity

FilterOp = Literal[
    "equals",
    "not_equals",
    "in",
    "not_in",
    "gt",
    "gte",
    "lt",
    "lte",
    "between",
    "contains",
    "starts_with",
    "is_null",
    "is_not_null",
]
#: How many values each operator takes (None: one or more).
ARITY: dict[str, int | None] = {
    "equals": 1,
    "not_equals": 1,
    "in": None,
    "not_in": None,
    "gt": 1,
    "gte": 1,
    "lt": 1,
    "lte": 1,
    "between": 2,
    "contains": 1,
    "starts_with": 1,
    "is_null": 0,
    "is_not_null": 0,
}


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

    @model_validator(mode="after")
    def _range_order(self) -> TimeDimension:
        if self.date_range and self.date_range[0] > self.date_range[1]:
            raise ValueError("date_range must be [first, last] with first <= last")
        return self


class Filter(_Strict):
    member: str = Field(description="A dimension (filters rows) or a measure (filters groups).")
    op: FilterOp = "equals"
    values: list[Any] = Field(default_factory=list)

    @model_validator(mode="after")
    def _arity(self) -> Filter:
        want = ARITY[self.op]
        if want is None and not self.values:
            raise ValueError(f"{self.op} needs at least one value")
        if want is not None and len(self.values) != want:
            raise ValueError(f"{self.op} takes {want} value(s), got {len(self.values)}")
        if any(isinstance(v, dict | list) for v in self.values):
            raise ValueError("filter values must be numbers, strings, booleans or dates")
        return self


class Order(_Strict):
    member: str
    desc: bool = False


class CubeQuery(_Strict):
    cube: str | None = Field(
        default=None,
        description="The cube the document is for (tour.json); when given, it must be the "
        "cube the query is sent to.",
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
    as_of: str | StrictInt | None = None
    route: Literal["auto", "raw"] = Field(
        default="auto", description="'raw' skips the rollups (to compare routes)."
    )
    cache: bool = True

    @model_validator(mode="after")
    def _something(self) -> CubeQuery:
        if not self.measures and not self.dimensions and not self.hierarchies:
            raise ValueError("ask for at least one measure or dimension")
        return self

    # -- OLAP navigation ----------------------------------------------------------------------
    def drill_down(self, hierarchy: str, levels: list[str], value: Any = None) -> CubeQuery:
        """One level finer along ``hierarchy`` (its ``levels``, coarse to fine). With ``value``,
        keep only the member of the current level that is drilled into."""
        current = self._level(hierarchy, levels)
        i = levels.index(current) if current is not None else -1
        if i + 1 >= len(levels):
            raise ValueError(f"{hierarchy} is already at its finest level ({current})")
        q = self.model_copy(deep=True)
        q.hierarchies[hierarchy] = levels[i + 1]
        if value is not None and current is not None:
            if hierarchy == "date":
                raise ValueError("drill into a period with time_dimension.date_range instead")
            q.filters.append(Filter(member=current, op="equals", values=[value]))
        return q

    def roll_up(self, hierarchy: str, levels: list[str]) -> CubeQuery:
        """One level coarser along ``hierarchy``; from its top level, the hierarchy is removed
        (the totals over it)."""
        current = self._level(hierarchy, levels)
        if current is None:
            raise ValueError(f"the query does not group by the {hierarchy} hierarchy")
        q = self.model_copy(deep=True)
        i = levels.index(current)
        q.dimensions = [d for d in q.dimensions if d not in levels[i:]]
        if i == 0:
            q.hierarchies.pop(hierarchy, None)
            if hierarchy == "date" and q.time_dimension is not None:
                q.time_dimension = q.time_dimension.model_copy(update={"granularity": None})
        else:
            q.hierarchies[hierarchy] = levels[i - 1]
        return q

    def _level(self, hierarchy: str, levels: list[str]) -> str | None:
        if hierarchy in self.hierarchies:
            return self.hierarchies[hierarchy]
        if hierarchy == "date":
            g = self.time_dimension.granularity if self.time_dimension else None
            return g if g in DATE_LEVELS else None
        present = [lv for lv in levels if lv in self.dimensions]
        return present[-1] if present else None
