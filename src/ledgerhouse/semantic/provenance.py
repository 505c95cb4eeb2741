"""Provenance of a cube answer's row: which fact rows, and so which batches, made it.

``provenance_query`` compiles the same cube query on the raw star (never a rollup: a rollup
row has no batch), with the row's dimension values added as filters (null-safe), and returns
the base fact's ``batch_id`` with the number of fact rows of each batch in that group. The
composition root runs it through the guarded query service as the caller, at the answer's
commit, so the caller's grants (and, later, row policies) apply.

``member_expressions`` gives lineage the SQL each cube member is computed from (plain data:
governance does not import the semantic layer).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from ledgerhouse.errors import InvalidRequest
from ledgerhouse.semantic.compiler import (
    SQL_TYPES,
    _condition,
    _lit,
    _month_span,
    _q,
    _time_expr,
    resolve,
)
from ledgerhouse.semantic.cube_query import CubeQuery
from ledgerhouse.semantic.models import Cube

#: Measures whose value in a row depends on rows outside its group.
WINDOWED = ("running_total", "share")


def member_expressions(cube: Cube) -> dict[str, Any]:
    """``{name, fact, joins, members, kinds}``: each dimension and measure with the SQL
    expressions it is computed from (a ratio, share or running total: its base measures')."""
    members: dict[str, list[str]] = {}
    kinds: dict[str, str] = {}
    for name, d in cube.dimensions.items():
        members[name] = [d.sql]
        kinds[name] = "dimension"
    for name, m in cube.measures.items():
        exprs: list[str] = []
        for base in cube.base_measures(name):
            b = cube.measures[base]
            exprs += [s for s in (b.sql, b.weight) if s]
        members[name] = exprs
        kinds[name] = f"measure:{m.type}"
    return {
        "name": cube.name,
        "fact": cube.fact,
        "joins": {alias: j.table for alias, j in cube.joins.items()},
        "members": members,
        "kinds": kinds,
    }


def _value(v: Any) -> Any:
    if isinstance(v, datetime):
        return v.isoformat()
    if isinstance(v, date):
        return v.isoformat()
    return v


def provenance_query(
    cube: Cube,
    query: CubeQuery,
    row: dict[str, Any],
    *,
    batched: frozenset[str] | None = None,
) -> dict[str, Any]:
    """The SQL (``?`` parameters) of the fact rows behind one answer row: ``batch_id`` and
    ``rows`` per batch, plus what the filter was. ``row`` maps the answer's columns to the
    row's values (its dimensions are read from it). ``dimensions_sql`` gives, for each joined
    dimension table in ``batched`` (tables with a ``batch_id``), the same filter selecting the
    batches of the distinct dimension rows in the group (a portfolio's version, say).

    A running total's row also depends on the earlier periods of its group (``<=`` on time);
    a share's on every group of the answer (no group filter): ``scope`` says which."""
    r = resolve(cube, query)
    windowed = {cube.measures[m].type for m in r.measures} & set(WINDOWED)
    dims = [d for d in r.dimensions if d != r.pivot]  # a pivoted row spans the pivot's values
    missing = [d for d in dims if d not in row]
    if missing:
        raise InvalidRequest(
            f"the answer row has no value for dimensions {missing}",
            hint="Explain a row of the cube answer as it was returned.",
        )
    params: list[Any] = []
    conditions: list[str] = []
    used = [cube.dimensions[d].sql for d in [*r.dimensions, *(f.member for f in r.where)]]
    used += [cube.segments[s] for s in r.segments]
    if r.date_range is not None:
        conditions.append(f"fact.{cube.partition} {_month_span(r.date_range)}")
        first, last = r.date_range
        td = cube.dimensions[r.time_dimension or ""].sql
        conditions.append(
            f"{td} BETWEEN DATE {_lit(first.isoformat())} AND DATE {_lit(last.isoformat())}"
        )
    conditions += [f"({cube.segments[s]})" for s in r.segments]
    for f in r.where:
        conditions.append(_condition(cube.dimensions[f.member].sql, f, params))
    scope = "group"
    if "share" in windowed:
        scope = "answer"  # the share's denominator is every group of the answer
    else:
        for d in dims:
            dim = cube.dimensions[d]
            expr = f"CAST({dim.sql} AS {SQL_TYPES[dim.type]})"
            conditions.append(f"{expr} IS NOT DISTINCT FROM ?")
            params.append(row[d])
        if r.granularity is not None and r.time_dimension is not None:
            td_sql = cube.dimensions[r.time_dimension].sql
            used.append(td_sql)
            if r.time_dimension not in row:
                raise InvalidRequest(
                    f"the answer row has no value for {r.time_dimension!r}",
                    hint="Explain a row of the cube answer as it was returned.",
                )
            op = "<=" if "running_total" in windowed else "IS NOT DISTINCT FROM"
            if op == "<=":
                scope = "group up to this period"
            conditions.append(f"{_time_expr(td_sql, r.granularity)} {op} CAST(? AS DATE)")
            params.append(row[r.time_dimension])
    source = f"{cube.fact} AS fact"
    for j in cube.joins_for(*used):
        source += f"\n    LEFT JOIN {cube.joins[j].table} AS {j} ON {cube.joins[j].sql}"
    where = ("\nWHERE " + "\n  AND ".join(conditions)) if conditions else ""
    sql = f"SELECT fact.batch_id AS batch_id, count(*) AS {_q('rows')}\nFROM {source}{where}"
    sql += "\nGROUP BY fact.batch_id\nORDER BY fact.batch_id"
    dimensions_sql = {
        cube.joins[j].table: (
            f"SELECT d.batch_id AS batch_id, count(*) AS {_q('rows')}\n"
            f"FROM (SELECT DISTINCT {j}.* FROM {source}{where}) AS d\n"
            "GROUP BY d.batch_id\nORDER BY d.batch_id"
        )
        for j in cube.joins_for(*used)
        if batched is not None and cube.joins[j].table in batched
    }
    return {
        "sql": sql,
        "params": params,
        "dimensions_sql": dimensions_sql,
        "fact": cube.fact,
        "scope": scope,
        "filters": {d: _value(row[d]) for d in dims}
        | (
            {r.time_dimension: _value(row[r.time_dimension])}
            if r.granularity and r.time_dimension and scope != "answer"
            else {}
        ),
        "measures": list(r.measures),
        "dimensions": r.output_dimensions,
    }
