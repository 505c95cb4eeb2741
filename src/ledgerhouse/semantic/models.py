"""Cube definitions: the semantic model, loaded from YAML and checked once at start-up.

A cube sits on one fact table (alias ``fact`` in its SQL) and reaches dimension tables through
named star joins (each join's name is its alias). Dimensions and measures are SQL expressions
over those aliases; hierarchies order dimensions from coarse to fine; segments are named
filters; rollups declare which pre-aggregations to keep.
"""

from __future__ import annotations

import hashlib
import json
from importlib import resources
from pathlib import Path
from typing import Literal

import sqlglot
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from sqlglot import exp

from ledgerhouse.errors import ConfigError

Granularity = Literal["day", "week", "month", "quarter", "year"]
#: Coarse to fine; the date hierarchy of every time dimension.
DATE_LEVELS: tuple[Granularity, ...] = ("year", "quarter", "month", "day")
#: g2 can be computed from g1 (truncating a truncated date) when g2 is in COARSER[g1].
COARSER: dict[str, frozenset[str]] = {
    "day": frozenset({"day", "week", "month", "quarter", "year"}),
    "week": frozenset({"week"}),
    "month": frozenset({"month", "quarter", "year"}),
    "quarter": frozenset({"quarter", "year"}),
    "year": frozenset({"year"}),
}
MeasureType = Literal[
    "sum",
    "count",
    "count_distinct",
    "avg",
    "min",
    "max",
    "weighted_avg",
    "ratio",
    "running_total",
    "share",
    "stddev",
    "percentile",
]
#: Measure types whose rollup columns re-aggregate exactly to any coarser grouping.
ADDITIVE: frozenset[str] = frozenset(
    {"sum", "count", "avg", "min", "max", "weighted_avg", "stddev"}
)
DimType = Literal["string", "number", "integer", "boolean", "time"]
SQL_TYPES: dict[str, str] = {
    "string": "VARCHAR",
    "number": "DOUBLE",
    "integer": "BIGINT",
    "boolean": "BOOLEAN",
    "time": "DATE",
}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Join(_Strict):
    table: str = Field(description="A core table, e.g. dim_portfolio.")
    # `sql`, not `on`: YAML 1.1 reads a bare `on` key as the boolean true.
    sql: str = Field(description="Join condition over `fact` and this join's alias.")


class Dimension(_Strict):
    sql: str
    type: DimType = "string"
    title: str = ""
    description: str = ""


class Measure(_Strict):
    type: MeasureType
    sql: str | None = None
    weight: str | None = Field(default=None, description="weighted_avg: the weight expression")
    numerator: str | None = Field(default=None, description="ratio: a measure name")
    denominator: str | None = Field(default=None, description="ratio: a measure name")
    measure: str | None = Field(default=None, description="running_total, share: a measure name")
    quantile: float | None = Field(
        default=None, gt=0, lt=1, description="percentile: which quantile (0.5 = median)"
    )
    decimals: int | None = Field(
        default=None, ge=0, le=12, description="Round the value (e.g. 6 for base amounts)."
    )
    currency: Literal["reporting", "base", "local"] | None = Field(
        default=None,
        description="What a money measure is in: the tenant's reporting currency, each "
        "portfolio's base currency (refused where the answer would add up different base "
        "currencies) or the instrument's (local) currency; none for counts, ratios, returns.",
    )
    reporting_measure: str | None = Field(
        default=None, description="base: the same amount in the reporting currency (a measure)."
    )
    numeric: Literal["exact", "float"] | None = Field(
        default=None,
        description="exact: the expression is over decimal or integer columns, summed exactly "
        "(money, quantities); float: over a float column (returns, weights), summed "
        "order-independently at 18 decimal places. Found from the tables' column types when "
        "not given (semantic/numerics.py).",
    )
    title: str = ""
    description: str = ""

    @model_validator(mode="after")
    def _fields_for_type(self) -> Measure:
        need = {
            "sum": ("sql",),
            "count_distinct": ("sql",),
            "avg": ("sql",),
            "min": ("sql",),
            "max": ("sql",),
            "weighted_avg": ("sql", "weight"),
            "ratio": ("numerator", "denominator"),
            "running_total": ("measure",),
            "share": ("measure",),
            "stddev": ("sql",),
            "percentile": ("sql", "quantile"),
        }.get(self.type, ())
        missing = [f for f in need if getattr(self, f) is None]
        if missing:
            raise ValueError(f"a {self.type} measure needs {', '.join(missing)}")
        return self


class Rollup(_Strict):
    measures: list[str]
    dimensions: list[str] = []
    time_dimension: str | None = None
    granularity: Literal["day", "month"] | None = None
    segments: list[str] = []
    description: str = ""


class Cube(_Strict):
    name: str = Field(pattern=r"^[a-z][a-z0-9_]{0,40}$")
    title: str = ""
    description: str = ""
    fact: str = Field(description="The fact table the cube sits on.")
    partition: str = Field(description="The fact's month partition column (for refreshes).")
    default_time_dimension: str | None = None
    joins: dict[str, Join] = {}
    dimensions: dict[str, Dimension]
    measures: dict[str, Measure]
    hierarchies: dict[str, list[str]] = {}
    segments: dict[str, str] = {}
    rollups: dict[str, Rollup] = {}

    @model_validator(mode="after")
    def _references(self) -> Cube:
        aliases = {"fact", *self.joins}
        for where, text in self._expressions():
            for alias in _qualifiers(text, where):
                if alias not in aliases:
                    raise ValueError(
                        f"{where} uses {alias!r}, which is neither `fact` nor a join "
                        f"({', '.join(sorted(self.joins))})"
                    )
        for name, m in self.measures.items():
            for ref in (m.numerator, m.denominator, m.measure):
                if ref is not None and ref not in self.measures:
                    raise ValueError(f"measure {name!r} refers to unknown measure {ref!r}")
            if m.type in ("running_total", "share") and self.measures[m.measure or ""].type in (
                "running_total",
                "ratio",
                "share",
            ):
                raise ValueError(f"{m.type} {name!r} must be of a plain measure")
            if m.reporting_measure is not None and (
                self.measures.get(m.reporting_measure) is None
                or self.measures[m.reporting_measure].currency != "reporting"
            ):
                raise ValueError(
                    f"measure {name!r}: reporting_measure {m.reporting_measure!r} is not a "
                    "measure in the reporting currency"
                )
            if m.type == "ratio":
                for ref in (m.numerator, m.denominator):
                    if self.measures[ref or ""].type in ("ratio", "running_total", "share"):
                        raise ValueError(f"ratio {name!r} must divide plain measures")
        for name, levels in self.hierarchies.items():
            unknown = [d for d in levels if d not in self.dimensions]
            if unknown or not levels:
                raise ValueError(f"hierarchy {name!r} has unknown levels {unknown}")
            if name == "date":
                raise ValueError("the hierarchy name `date` is reserved for time dimensions")
        times = {n for n, d in self.dimensions.items() if d.type == "time"}
        if self.default_time_dimension is not None and self.default_time_dimension not in times:
            raise ValueError(f"default_time_dimension must be one of {sorted(times)}")
        for name, r in self.rollups.items():
            bad = [m for m in r.measures if m not in self.measures]
            bad += [d for d in r.dimensions if d not in self.dimensions or d in times]
            bad += [s for s in r.segments if s not in self.segments]
            if bad:
                raise ValueError(f"rollup {name!r} names unknown or time members {bad}")
            if (r.time_dimension is None) != (r.granularity is None):
                raise ValueError(f"rollup {name!r}: give time_dimension and granularity together")
            if r.time_dimension is not None and r.time_dimension not in times:
                raise ValueError(f"rollup {name!r}: {r.time_dimension!r} is not a time dimension")
        return self

    def _expressions(self) -> list[tuple[str, str]]:
        out = [(f"join {n}", j.sql) for n, j in self.joins.items()]
        out += [(f"dimension {n}", d.sql) for n, d in self.dimensions.items()]
        for n, m in self.measures.items():
            out += [(f"measure {n}", s) for s in (m.sql, m.weight) if s is not None]
        out += [(f"segment {n}", s) for n, s in self.segments.items()]
        return out

    # -- lookups ------------------------------------------------------------------------------
    @property
    def time_dimensions(self) -> list[str]:
        return [n for n, d in self.dimensions.items() if d.type == "time"]

    def joins_for(self, *sql: str) -> list[str]:
        """The joins (in declaration order) that these expressions need."""
        used: set[str] = set()
        for text in sql:
            used |= _qualifiers(text, "expression")
        return [j for j in self.joins if j in used]

    def base_measures(self, name: str) -> list[str]:
        """The plain measures a measure is computed from (itself when it is plain)."""
        m = self.measures[name]
        if m.type == "ratio":
            return [m.numerator or "", m.denominator or ""]
        if m.type in ("running_total", "share"):
            return [m.measure or ""]
        return [name]

    def rollup_relation(self, name: str) -> str:
        """The table name of a rollup: it changes when the definition changes, so a redefined
        rollup is rebuilt from the facts instead of serving aggregates of the old one."""
        r = self.rollups[name]
        parts = {
            "fact": self.fact,
            "joins": {j: self.joins[j].model_dump() for j in self.joins},
            "dims": {d: self.dimensions[d].model_dump(include=_STORED) for d in r.dimensions},
            "measures": {m: self.measures[m].model_dump(include=_STORED) for m in r.measures},
            "time": [r.time_dimension, r.granularity]
            + ([self.dimensions[r.time_dimension].sql] if r.time_dimension else []),
            "segments": {s: self.segments[s] for s in r.segments},
        }
        digest = hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:8]
        return f"rollup_{self.name}_{name}_{digest}"


#: The fields that change what a rollup stores (titles and rounding do not).
_STORED = {"type", "sql", "weight", "quantile"}


def _qualifiers(sql: str, where: str) -> set[str]:
    try:
        tree = sqlglot.parse_one(sql, read="duckdb")
    except sqlglot.errors.ParseError as exc:
        raise ValueError(f"{where}: cannot parse {sql!r}: {exc}") from None
    return {c.table for c in tree.find_all(exp.Column) if c.table}


#: libyaml's safe loader when PyYAML has it (8x faster; every Warehouse() reads the cubes).
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def load_cube(path: Path | str, text: str | None = None) -> Cube:
    """Read and check one cube file; errors name the file and the field."""
    source = str(path)
    try:
        raw = yaml.load(text if text is not None else Path(path).read_text(), Loader=_YAML_LOADER)
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(
            f"cannot read cube file {source}: {exc}", hint="Fix the YAML syntax."
        ) from None
    if not isinstance(raw, dict):
        raise ConfigError(f"cube file {source} is not a mapping", hint="See docs/cubes.md.")
    try:
        return Cube.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = ".".join(str(p) for p in first["loc"])
        raise ConfigError(
            f"cube file {source}: {loc + ': ' if loc else ''}{first['msg']}",
            hint="See docs/cubes.md for the cube file format.",
            errors=len(exc.errors()),
        ) from None


def builtin_cubes() -> list[Cube]:
    """The cubes shipped with Ledgerhouse (trades, positions, performance)."""
    folder = resources.files("ledgerhouse.semantic") / "cubes"
    files = sorted((f for f in folder.iterdir() if f.name.endswith(".yaml")), key=lambda f: f.name)
    return [load_cube(f"ledgerhouse/semantic/cubes/{f.name}", f.read_text()) for f in files]


def load_cubes(extra_dirs: list[Path] | tuple[Path, ...] = ()) -> dict[str, Cube]:
    """Built-in cubes plus the ``*.yaml`` cubes of extra folders (a same-named one replaces a
    built-in: that is how a user customizes one)."""
    cubes = {c.name: c for c in builtin_cubes()}
    for folder in extra_dirs:
        if not folder.is_dir():
            raise ConfigError(
                f"cube folder {folder} does not exist", hint="Fix LEDGERHOUSE_CUBE_PATHS."
            )
        for path in sorted(folder.glob("*.yaml")):
            cube = load_cube(path)
            cubes[cube.name] = cube
    return cubes
