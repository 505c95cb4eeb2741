"""Compiling a cube query to SQL, on the raw star or on a rollup that answers it exactly.

Every measure is computed in two steps: *primitives* aggregated per group (sum, count, min,
max, count distinct, weighted sums), then the measure's value from its primitives (an average
is sum / count). A rollup stores the primitives at its own grain, so a coarser query
re-aggregates them (sums of sums, min of mins) and gets the same numbers as the raw route.
Count distinct does not re-aggregate: a rollup serves it only at exactly its own grain.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from ledgerhouse.errors import InvalidRequest, did_you_mean
from ledgerhouse.semantic.cube_query import CubeQuery, Filter
from ledgerhouse.semantic.models import (
    ADDITIVE,
    COARSER,
    DATE_LEVELS,
    SQL_TYPES,
    Cube,
    Measure,
    Rollup,
)
from ledgerhouse.semantic.numerics import EXACT, EXACT_DECIMALS, FLOAT_SUM, SQUARES

ROLLUP_MONTH = "rollup_month"


@dataclass(frozen=True)
class Resolved:
    """A query checked against its cube, with hierarchies expanded."""

    cube: Cube
    dimensions: list[str]
    measures: list[str]
    time_dimension: str | None
    granularity: str | None
    date_range: tuple[date, date] | None
    where: list[Filter]  # on dimensions
    having: list[Filter]  # on measures
    segments: list[str]
    order: list[tuple[str, bool]]
    limit: int | None
    pivot: str | None

    @property
    def output_dimensions(self) -> list[str]:
        return self.dimensions + ([self.time_dimension] if self.granularity else [])  # type: ignore[list-item]

    @property
    def base_measures(self) -> list[str]:
        """Plain measures needed by the output, the measure filters and the ordering."""
        names = [*self.measures, *(f.member for f in self.having)]
        out: list[str] = []
        for n in names:
            for b in self.cube.base_measures(n):
                if b not in out:
                    out.append(b)
        return out


@dataclass
class CubePlan:
    cube: str
    sql: str
    params: list[Any]
    route: str  # raw | rollup:<name>
    relation: str  # the table the SQL reads first: the fact or the rollup
    dimensions: list[str]
    measures: list[str]
    pivot: str | None
    navigation: dict[str, dict[str, str | None]] = field(default_factory=dict)
    considered: dict[str, str] = field(default_factory=dict)  # rollup -> why not (or "chosen")


def resolve(cube: Cube, q: CubeQuery) -> Resolved:
    def bad(message: str, hint: str) -> InvalidRequest:
        return InvalidRequest(f"cube {cube.name!r}: {message}", hint=hint)

    dims = list(q.dimensions)
    granularity = q.time_dimension.granularity if q.time_dimension else None
    for h, level in q.hierarchies.items():
        if h == "date":
            if level not in DATE_LEVELS:
                raise bad(f"date has no level {level!r}", f"Use one of {', '.join(DATE_LEVELS)}.")
            granularity = level
            continue
        if h not in cube.hierarchies:
            raise bad(
                f"no hierarchy {h!r}",
                f"Hierarchies: {', '.join(['date', *cube.hierarchies])}.",
            )
        levels = cube.hierarchies[h]
        if level not in levels:
            raise bad(f"hierarchy {h!r} has no level {level!r}", f"Levels: {', '.join(levels)}.")
        dims += levels[: levels.index(level) + 1]
    dims = list(dict.fromkeys(dims))
    times = set(cube.time_dimensions)
    for d in dims:
        if d not in cube.dimensions:
            raise bad(
                f"no dimension {d!r}.{did_you_mean(d, cube.dimensions)}",
                f"Dimensions: {', '.join(cube.dimensions)}.",
            )
        if d in times:
            raise bad(
                f"{d!r} is a time dimension",
                f'Group by it with "time_dimension": {{"dimension": "{d}", "granularity": "day"}}.',
            )
    for m in q.measures:
        if m not in cube.measures:
            raise bad(
                f"no measure {m!r}.{did_you_mean(m, cube.measures)}",
                f"Measures: {', '.join(cube.measures)}.",
            )
    td = None
    date_range = q.time_dimension.date_range if q.time_dimension else None
    if granularity is not None or date_range is not None:
        td = (q.time_dimension.dimension if q.time_dimension else None) or (
            cube.default_time_dimension
        )
        if td is None or td not in times:
            raise bad(f"no time dimension {td!r}", f"Time dimensions: {', '.join(sorted(times))}.")
    if any(cube.measures[m].type == "running_total" for m in q.measures) and not granularity:
        raise bad(
            "a running total needs a time dimension with a granularity",
            'Add "time_dimension": {"granularity": "day"} (or week, month, ...).',
        )
    where, having = [], []
    for f in q.filters:
        if f.member in cube.measures:
            having.append(f)
        elif f.member in times:
            raise bad(
                f"filter on time dimension {f.member!r}",
                'Use "time_dimension": {"date_range": ["2024-01-01", "2024-03-31"]}.',
            )
        elif f.member in cube.dimensions:
            where.append(f)
        else:
            raise bad(
                f"cannot filter on unknown member {f.member!r}", "Name a dimension or measure."
            )
    for s in q.segments:
        if s not in cube.segments:
            raise bad(f"no segment {s!r}", f"Segments: {', '.join(cube.segments) or 'none'}.")
    _one_base_currency(cube, [*q.measures, *(f.member for f in having)], dims, where, bad)
    time_out = [td] if td is not None and granularity else []
    outputs = [*dims, *time_out, *q.measures]
    order = [(o.member, o.desc) for o in q.order]
    for member, _ in order:
        if member not in outputs:
            raise bad(f"cannot order by {member!r}", f"Order by an output: {', '.join(outputs)}.")
    if not order:  # deterministic output: time first, then the dimensions
        order = [(d, False) for d in [*time_out, *dims]]
    if q.pivot is not None and (q.pivot not in dims or not q.measures):
        raise bad(
            f"cannot pivot on {q.pivot!r}",
            "Pivot on one of the query's dimensions, with at least one measure.",
        )
    return Resolved(
        cube=cube,
        dimensions=dims,
        measures=list(dict.fromkeys(q.measures)),
        time_dimension=td,
        granularity=granularity,
        date_range=date_range,
        where=where,
        having=having,
        segments=sorted(set(q.segments)),
        order=order,
        limit=q.limit,
        pivot=q.pivot,
    )


#: Dimensions that give each group of an answer one base currency: grouping by one of them (or
#: filtering it to one value) makes a sum of base-currency amounts well defined.
BASE_CURRENCY_PINS = ("base_currency", "portfolio")


def _one_base_currency(
    cube: Cube,
    measures: list[str],
    dims: list[str],
    where: list[Filter],
    bad: Callable[[str, str], InvalidRequest],
) -> None:
    """Refuse a base-currency measure whose groups could mix portfolios of different base
    currencies (adding EUR to USD): it needs a group or a one-value filter that pins them."""
    pins = [p for p in BASE_CURRENCY_PINS if p in cube.dimensions]
    if not pins or any(p in dims for p in pins):
        return
    pinned = any(
        f.member in pins and (f.op == "equals" or (f.op == "in" and len(f.values) == 1))
        for f in where
    )
    if pinned:
        return
    for name in measures:
        for b in cube.base_measures(name):
            m = cube.measures[b]
            if m.currency != "base":
                continue
            instead = (
                f"Use {m.reporting_measure!r} (in the reporting currency), or "
                if (m.reporting_measure)
                else ""
            )
            raise bad(
                f"measure {b!r} is in each portfolio's base currency: summed over portfolios "
                "of different base currencies it adds unlike amounts",
                f"{instead}group by (or filter to one) {' or '.join(pins)}.",
            )


# -- routing ----------------------------------------------------------------------------------
def why_not(r: Resolved, rollup: Rollup) -> str | None:
    """None when ``rollup`` answers the query exactly, else the reason it cannot."""
    if set(rollup.segments) != set(r.segments):
        return "segments differ"
    missing = [
        d for d in [*r.dimensions, *(f.member for f in r.where)] if d not in rollup.dimensions
    ]
    if missing:
        return f"lacks dimensions {sorted(set(missing))}"
    uses_time = r.granularity is not None or r.date_range is not None
    if uses_time:
        if rollup.time_dimension != r.time_dimension or rollup.granularity is None:
            return f"not by {r.time_dimension}"
        if r.granularity is not None and r.granularity not in COARSER[rollup.granularity]:
            return f"{rollup.granularity} grain cannot make {r.granularity}"
        if r.date_range is not None and not aligned(r.date_range, rollup.granularity):
            return f"date range not aligned to whole {rollup.granularity}s"
    exact = set(r.dimensions) == set(rollup.dimensions) and (
        r.granularity == rollup.granularity
        and (r.granularity is None or r.time_dimension == rollup.time_dimension)
    )
    for m in r.base_measures:
        if m not in rollup.measures:
            return f"lacks measure {m}"
        if r.cube.measures[m].type not in ADDITIVE and not exact:
            return f"{m} ({r.cube.measures[m].type}) does not re-aggregate"
    return None


def aligned(rng: tuple[date, date], grain: str) -> bool:
    if grain == "day":
        return True
    first, last = rng
    nxt = last + timedelta(days=1)
    return first.day == 1 and nxt.day == 1  # grain == month


def choose(
    r: Resolved,
    rows_of: Callable[[str], int],
    usable: Callable[[str], str | None] | None = None,
) -> tuple[str | None, dict[str, str]]:
    """The smallest rollup (rows at the pinned commit) that answers exactly, if any.
    ``usable(relation)`` says why the caller may not read a rollup (a grant, or a row policy
    whose dimension the rollup does not keep): it is then passed over for the raw star."""
    considered: dict[str, str] = {}
    fits: list[tuple[int, str]] = []
    for name, rollup in r.cube.rollups.items():
        reason = why_not(r, rollup)
        if reason is None and usable is not None:
            refused = usable(r.cube.rollup_relation(name))
            reason = None if refused is None else f"not readable by the caller: {refused}"
        if reason is None:
            fits.append((rows_of(r.cube.rollup_relation(name)), name))
            considered[name] = "fits"
        else:
            considered[name] = reason
    if not fits:
        return None, considered
    best = min(fits)[1]
    considered[best] = "chosen"
    return best, considered


# -- SQL --------------------------------------------------------------------------------------
def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _lit(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def primitives(name: str, m: Measure) -> dict[str, str]:
    """Primitive column suffix -> aggregate over fact rows. Sums of an exact measure are
    DECIMAL sums; a float measure's values are each cast to FLOAT_SUM first (numerics.py)."""
    x, w = m.sql, m.weight

    def total(e: str) -> str:
        return f"sum({e})" if m.numeric == "exact" else f"sum(CAST({e} AS {FLOAT_SUM}))"

    match m.type:
        case "sum":
            return {"sum": total(f"{x}")}
        case "count":
            return {"count": f"count({x})" if x else "count(*)"}
        case "count_distinct":
            return {"distinct": f"count(DISTINCT {x})"}
        case "avg":
            return {"sum": total(f"{x}"), "count": f"count({x})"}
        case "min" | "max":
            return {m.type: f"{m.type}({x})"}
        case "weighted_avg":
            return {
                "wsum": total(f"({x}) * ({w})"),
                "weight": total(f"CASE WHEN ({x}) IS NOT NULL THEN ({w}) END"),
            }
        case "stddev":  # from sums, so that a rollup can re-aggregate it
            if m.numeric == "exact":
                square = f"CAST(CAST({x} AS DOUBLE) * CAST({x} AS DOUBLE) AS {SQUARES})"
                return {"sum": total(f"{x}"), "sumsq": f"sum({square})", "count": f"count({x})"}
            return {"sum": total(f"{x}"), "sumsq": total(f"({x}) * ({x})"), "count": f"count({x})"}
        case "percentile":
            return {"pct": f"quantile_cont({x}, {float(m.quantile or 0.5)!r})"}
    raise AssertionError(f"{name} ({m.type}) has no primitives")


def primitive_type(suffix: str, m: Measure) -> str:
    """The SQL type a primitive is stored in (a rollup column) and computed as (both routes)."""
    if suffix in ("count", "distinct"):
        return "BIGINT"
    if suffix == "pct":
        return "DOUBLE"
    if suffix in ("min", "max"):
        return EXACT if m.numeric == "exact" else "DOUBLE"
    if suffix == "sumsq" and m.numeric == "exact":
        return SQUARES
    return EXACT if m.numeric == "exact" else FLOAT_SUM


_REAGGREGATE = {"sum": "sum", "count": "sum", "distinct": "sum", "min": "min", "max": "max"}
_REAGGREGATE |= {"wsum": "sum", "weight": "sum", "sumsq": "sum", "pct": "max"}


def _reaggregate(suffix: str, column: str) -> str:
    agg = f"{_REAGGREGATE[suffix]}({column})"
    # a count over no rows is 0, as on the raw route (a sum over no rows is NULL on both)
    return f"coalesce({agg}, 0)" if suffix in ("count", "distinct") else agg


def _cast(suffix: str, m: Measure, sql: str) -> str:
    return f"CAST({sql} AS {primitive_type(suffix, m)})"


def is_exact(cube: Cube, name: str) -> bool:
    """Whether a measure's value is a DECIMAL (exact) rather than a DOUBLE."""
    m = cube.measures[name]
    if m.type in ("sum", "min", "max"):
        return m.numeric == "exact"
    if m.type == "running_total":
        return is_exact(cube, m.measure or "")
    return False


def _final(cube: Cube, name: str, r: Resolved) -> str:
    """The SQL of a measure's value from its primitives: an exact one as DECIMAL(38, its
    ``decimals``) (rounded half away from zero, DuckDB's cast), a float one rounded to its
    ``decimals`` if it has any."""
    m = cube.measures[name]
    expr = _value(cube, name, r)
    decimals = m.decimals
    if m.type == "running_total" and decimals is None:
        decimals = cube.measures[m.measure or ""].decimals
    if is_exact(cube, name):
        return f"CAST({expr} AS DECIMAL(38, {EXACT_DECIMALS if decimals is None else decimals}))"
    return expr if decimals is None else f"round({expr}, {decimals})"


def _double(sql: str) -> str:
    return f"CAST({sql} AS DOUBLE)"


def _value(cube: Cube, name: str, r: Resolved) -> str:
    m = cube.measures[name]

    def col(suffix: str, of: str = name) -> str:
        return _q(f"{of}__{suffix}")

    match m.type:
        case "sum" | "count" | "min" | "max":
            return col(m.type)
        case "count_distinct":
            return col("distinct")
        case "avg":  # one division of exact sums: the same bits every time
            return f"{_double(col('sum'))} / nullif({col('count')}, 0)"
        case "weighted_avg":
            return f"{_double(col('wsum'))} / nullif({_double(col('weight'))}, 0)"
        case "stddev":  # sample standard deviation; null below two values
            n, s, ss = col("count"), _double(col("sum")), _double(col("sumsq"))
            return (
                f"CASE WHEN {n} > 1 THEN sqrt(greatest({ss} - {s} * {s} / {n}, 0) / ({n} - 1)) END"
            )
        case "percentile":  # never re-aggregated: a rollup serves it at its own grain only
            return col("pct")
        case "ratio":
            num, den = _final(cube, m.numerator or "", r), _final(cube, m.denominator or "", r)
            return f"{_double(num)} / nullif({_double(den)}, 0)"
        case "share":  # of the total over every group of the answer (before any limit)
            base = _final(cube, m.measure or "", r)
            # the total added up exactly (a window sum of doubles depends on row order)
            whole = base if is_exact(cube, m.measure or "") else f"CAST({base} AS {FLOAT_SUM})"
            return f"{_double(base)} / nullif({_double(f'sum({whole}) OVER ()')}, 0)"
        case "running_total":
            base = _final(cube, m.measure or "", r)
            part = ", ".join(_q(d) for d in r.dimensions)
            over = (
                f"PARTITION BY {part} " if part else ""
            ) + f"ORDER BY {_q(r.time_dimension or '')}"
            return f"sum({base}) OVER ({over} ROWS UNBOUNDED PRECEDING)"
    raise AssertionError(m.type)


def _condition(expr: str, f: Filter, params: list[Any]) -> str:
    vals = [v.isoformat() if isinstance(v, date) else v for v in f.values]
    simple = {"equals": "=", "not_equals": "<>", "gt": ">", "gte": ">=", "lt": "<", "lte": "<="}
    if f.op in simple:
        params.append(vals[0])
        return f"{expr} {simple[f.op]} ?"
    if f.op in ("in", "not_in"):
        params.extend(vals)
        neg = "NOT " if f.op == "not_in" else ""
        return f"{expr} {neg}IN ({', '.join('?' * len(vals))})"
    if f.op == "between":
        params.extend(vals)
        return f"{expr} BETWEEN ? AND ?"
    if f.op == "contains":
        params.append(str(vals[0]))
        return f"contains(lower(CAST({expr} AS VARCHAR)), lower(?))"
    if f.op == "starts_with":
        params.append(str(vals[0]))
        return f"starts_with(CAST({expr} AS VARCHAR), ?)"
    return f"{expr} IS {'NOT ' if f.op == 'is_not_null' else ''}NULL"


def _time_expr(sql: str, grain: str) -> str:
    return f"CAST(date_trunc({_lit(grain)}, {sql}) AS DATE)"


def _month_span(rng: tuple[date, date]) -> str:
    return f"BETWEEN {_lit(rng[0].strftime('%Y-%m'))} AND {_lit(rng[1].strftime('%Y-%m'))}"


def compile_query(r: Resolved, rollup: str | None) -> tuple[str, list[Any]]:
    """The SQL (with ``?`` parameters, in order) for a resolved query on the raw star or on
    the named rollup."""
    cube = r.cube
    params: list[Any] = []
    select: list[str] = []
    conditions: list[str] = []
    if rollup is None:
        # filters compare the plain expression (so the scan can use Parquet statistics);
        # the output casts it to the declared type, as the rollup stores it
        filter_sql = {d: dim.sql for d, dim in cube.dimensions.items()}
        dim_sql = {
            d: f"CAST({dim.sql} AS {SQL_TYPES[dim.type]})" for d, dim in cube.dimensions.items()
        }
        time_sql = cube.dimensions[r.time_dimension].sql if r.time_dimension else ""
        prim = {
            f"{m}__{s}": _cast(s, cube.measures[m], agg)
            for m in r.base_measures
            for s, agg in primitives(m, cube.measures[m]).items()
        }
        used = [cube.dimensions[d].sql for d in [*r.dimensions, *(f.member for f in r.where)]]
        used += [cube.segments[s] for s in r.segments]
        used += [cube.measures[m].sql or "" for m in r.base_measures]
        used += [cube.measures[m].weight or "" for m in r.base_measures]
        source = f"{cube.fact} AS fact"
        for j in cube.joins_for(*(u for u in used if u)):
            join = cube.joins[j]
            source += f"\n    LEFT JOIN {join.table} AS {j} ON {join.sql}"
        if r.date_range is not None:
            conditions.append(f"fact.{cube.partition} {_month_span(r.date_range)}")
        conditions += [f"({cube.segments[s]})" for s in r.segments]
    else:
        spec = cube.rollups[rollup]
        dim_sql = filter_sql = {d: f"fact.{_q(d)}" for d in spec.dimensions}
        time_sql = f"fact.{_q(spec.time_dimension or '')}"
        prim = {
            f"{m}__{s}": _cast(s, cube.measures[m], _reaggregate(s, f"fact.{_q(f'{m}__{s}')}"))
            for m in r.base_measures
            for s in primitives(m, cube.measures[m])
        }
        source = f"{cube.rollup_relation(rollup)} AS fact"
        if r.date_range is not None:
            conditions.append(f"fact.{ROLLUP_MONTH} {_month_span(r.date_range)}")
    if r.date_range is not None:
        first, last = r.date_range
        conditions.append(
            f"{time_sql} BETWEEN DATE {_lit(first.isoformat())} AND DATE {_lit(last.isoformat())}"
        )
    for f in r.where:
        conditions.append(_condition(filter_sql[f.member], f, params))
    for d in r.dimensions:
        select.append(f"{dim_sql[d]} AS {_q(d)}")
    if r.granularity is not None:
        select.append(f"{_time_expr(time_sql, r.granularity)} AS {_q(r.time_dimension or '')}")
    select += [f"{agg} AS {_q(alias)}" for alias, agg in prim.items()]
    inner = "SELECT " + ",\n         ".join(select) + f"\n  FROM {source}"
    if conditions:
        inner += "\n  WHERE " + "\n    AND ".join(conditions)
    if r.output_dimensions:
        inner += "\n  GROUP BY ALL"
    # Measures are computed over every group (a running total sees them all), then measure
    # filters keep groups: a filter on a measure not asked for uses a column not returned.
    hidden = [f.member for f in r.having if f.member not in r.measures]
    computed = [f"{_final(cube, m, r)} AS {_q(m)}" for m in [*r.measures, *dict.fromkeys(hidden)]]
    res = ", ".join([*(_q(d) for d in r.output_dimensions), *computed])
    sql = f"WITH agg AS (\n  {inner}\n),\nres AS (\n  SELECT {res}\n  FROM agg\n)\n"
    sql += f"SELECT {', '.join(_q(c) for c in [*r.output_dimensions, *r.measures])}\nFROM res"
    having = [_condition(_q(f.member), f, params) for f in r.having]
    if having:
        sql += "\nWHERE " + " AND ".join(having)
    order = [f"{_q(m)} {'DESC' if desc else 'ASC'} NULLS LAST" for m, desc in r.order]
    if order:
        sql += "\nORDER BY " + ", ".join(order)
    if r.limit is not None:
        sql += f"\nLIMIT {int(r.limit)}"
    return sql, params


def rollup_select(cube: Cube, name: str) -> str:
    """The SQL that builds a rollup for ``{months}`` of the fact (a mart's refresh query)."""
    spec = cube.rollups[name]
    select = [
        f"CAST({cube.dimensions[d].sql} AS {SQL_TYPES[cube.dimensions[d].type]}) AS {_q(d)}"
        for d in spec.dimensions
    ]
    if spec.time_dimension and spec.granularity:
        select.append(
            f"{_time_expr(cube.dimensions[spec.time_dimension].sql, spec.granularity)} "
            f"AS {_q(spec.time_dimension)}"
        )
    select.append(f"fact.{cube.partition} AS {ROLLUP_MONTH}")
    used = [cube.dimensions[d].sql for d in spec.dimensions]
    used += [cube.segments[s] for s in spec.segments]
    for m in spec.measures:
        measure = cube.measures[m]
        used += [s for s in (measure.sql, measure.weight) if s]
        select += [
            f"{_cast(s, measure, agg)} AS {_q(f'{m}__{s}')}"
            for s, agg in primitives(m, measure).items()
        ]
    select.append("now() AS refreshed_at")
    source = f"{cube.fact} AS fact"
    for j in cube.joins_for(*used):
        source += f"\n    LEFT JOIN {cube.joins[j].table} AS {j} ON {cube.joins[j].sql}"
    where = [f"fact.{cube.partition} IN ({{months}})"]
    where += [f"({cube.segments[s]})" for s in spec.segments]
    body = "SELECT " + ",\n       ".join(select) + f"\nFROM {source}\nWHERE " + " AND ".join(where)
    return (
        body.replace("{", "{{").replace("}", "}}").replace("{{months}}", "{months}")
        + "\nGROUP BY ALL"
    )
