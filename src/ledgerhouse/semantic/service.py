"""The semantic layer: cube metadata, query planning (route choice) and result shaping.

It compiles; it does not run SQL. The composition root runs the plan's SQL through the guarded
query service, pinned to one commit, so a cube query gets the same sandbox, cache, admission
control and query log as any SQL query.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import polars as pl
import pyarrow as pa

from ledgerhouse.errors import ConfigError, InvalidRequest, NotFound, did_you_mean, validated
from ledgerhouse.model.marts import MartDef
from ledgerhouse.model.schema import DATE, F64, I64, STR, TS, TableDef
from ledgerhouse.model.values import json_rows, python_rows
from ledgerhouse.semantic.compiler import (
    ROLLUP_MONTH,
    CubePlan,
    choose,
    compile_query,
    primitive_type,
    primitives,
    resolve,
    rollup_select,
)
from ledgerhouse.semantic.cube_query import CubeQuery
from ledgerhouse.semantic.models import DATE_LEVELS, Cube
from ledgerhouse.semantic.numerics import classified

_ARROW = {"string": STR, "number": F64, "integer": I64, "boolean": pa.bool_(), "time": DATE}


def _arrow_type(sql_type: str) -> pa.DataType:
    if sql_type.startswith("DECIMAL("):
        precision, scale = (int(n) for n in sql_type[len("DECIMAL(") : -1].split(","))
        return pa.decimal128(precision, scale)
    return {"BIGINT": I64, "DOUBLE": F64}[sql_type]


def parse_query(
    query: CubeQuery | dict[str, Any] | str | bytes, cube: str | None = None
) -> CubeQuery:
    """A CubeQuery from a dict or JSON text; errors name the field and the problem. With
    ``cube`` (the cube it is sent to), a document that names another cube is refused."""
    parsed = query if isinstance(query, CubeQuery) else _parse(query)
    if cube is not None and parsed.cube is not None and parsed.cube != cube:
        raise InvalidRequest(
            f"the query document is for cube {parsed.cube!r} but was sent to cube {cube!r}",
            hint=f'Send it to cube {parsed.cube!r}, or drop its "cube" key.',
            cube=cube,
            document_cube=parsed.cube,
        )
    return parsed


def _parse(query: dict[str, Any] | str | bytes) -> CubeQuery:
    try:
        data = json.loads(query) if isinstance(query, str | bytes) else query
    except json.JSONDecodeError as exc:
        raise InvalidRequest(
            f"the cube query is not valid JSON: {exc}", hint="See docs/cubes.md for examples."
        ) from None
    if not isinstance(data, dict):
        raise InvalidRequest("a cube query is a JSON object", hint="See docs/cubes.md.")
    parsed: CubeQuery = validated(
        CubeQuery, data, "cube query", "See docs/cubes.md for the query language."
    )
    return parsed


class SemanticLayer:
    def __init__(
        self,
        cubes: dict[str, Cube],
        relations: Mapping[str, TableDef],
        reporting_currency: str = "USD",
    ) -> None:
        for cube in cubes.values():
            for table in [cube.fact, *(j.table for j in cube.joins.values())]:
                if table not in relations:
                    raise ConfigError(
                        f"cube {cube.name!r} uses unknown table {table!r}",
                        hint="Name a core table (see `ledgerhouse tables`).",
                    )
        # each measure exact or float, from the column types it reads (semantic/numerics.py)
        self.cubes = {name: classified(cube, relations) for name, cube in cubes.items()}
        #: the tables whose rows carry the batch that loaded them (cell lineage)
        self.batched = frozenset(r for r, t in relations.items() if "batch_id" in t.column_names)
        #: the currency of measures declared ``currency: reporting`` (setting
        #: reporting_currency; the loaders store their amounts in it)
        self.reporting_currency = reporting_currency

    def with_cubes(
        self, cubes: dict[str, Cube], relations: Mapping[str, TableDef]
    ) -> SemanticLayer:
        """This layer's cubes and ``cubes`` (a tenant's own, checked the same way) over
        ``relations`` (the shared ones and the tenant's): a tenant's layer."""
        return SemanticLayer({**self.cubes, **cubes}, relations, self.reporting_currency)

    def cube(self, name: str) -> Cube:
        if name not in self.cubes:
            raise NotFound(
                f"no cube {name!r}.{did_you_mean(name, self.cubes)}",
                hint=f"Cubes: {', '.join(sorted(self.cubes))} (GET /v1/cubes).",
            )
        return self.cubes[name]

    # -- rollups as marts ---------------------------------------------------------------------
    def rollup_marts(self) -> list[MartDef]:
        """Every declared rollup as a mart: a month-partitioned table refreshed, for the
        changed months, in the same commit as the facts it aggregates."""
        out = []
        for cube in self.cubes.values():
            for name, spec in cube.rollups.items():
                cols: list[tuple[str, pa.DataType]] = [
                    (d, _ARROW[cube.dimensions[d].type]) for d in spec.dimensions
                ]
                if spec.time_dimension:
                    cols.append((spec.time_dimension, DATE))
                cols.append((ROLLUP_MONTH, STR))
                for m in spec.measures:
                    for s in primitives(m, cube.measures[m]):
                        cols.append((f"{m}__{s}", _arrow_type(primitive_type(s, cube.measures[m]))))
                cols.append(("refreshed_at", TS))
                grain = " × ".join([*spec.dimensions, spec.granularity or "all time"])
                table = TableDef(
                    cube.rollup_relation(name),
                    "mart",
                    tuple(cols),
                    f"Rollup {name!r} of cube {cube.name!r}: {spec.description}".strip(),
                    grain=grain,
                    partition_by=(ROLLUP_MONTH,),
                )
                joined = [cube.joins[j].table for j in cube.joins]
                out.append(
                    MartDef(
                        table,
                        {cube.fact: cube.partition},
                        rollup_select(cube, name),
                        dimensions=tuple(dict.fromkeys(joined)),
                    )
                )
        return out

    # -- queries ------------------------------------------------------------------------------
    def plan(
        self,
        name: str,
        query: CubeQuery,
        rows_of: Callable[[str], int],
        usable: Callable[[str], str | None] | None = None,
    ) -> CubePlan:
        """Compile ``query`` for the smallest rollup that answers it exactly, or the raw star.
        ``rows_of`` gives a relation's rows at the pinned commit; ``usable`` why the caller
        may not read a rollup (then it is not chosen)."""
        cube = self.cube(name)
        r = resolve(cube, query)
        rollup, considered = (None, {}) if query.route == "raw" else choose(r, rows_of, usable)
        sql, params = compile_query(r, rollup)
        return CubePlan(
            cube=name,
            sql=sql,
            params=params,
            route=f"rollup:{rollup}" if rollup else "raw",
            relation=cube.rollup_relation(rollup) if rollup else cube.fact,
            dimensions=r.output_dimensions,
            measures=r.measures,
            pivot=r.pivot,
            navigation=self.navigation(cube, query),
            considered=considered,
        )

    def provenance(self, name: str, query: CubeQuery, row: dict[str, Any]) -> dict[str, Any]:
        """The raw-route SQL of the fact rows (batch ids and counts) behind one answer row
        (cell lineage; semantic/provenance.py)."""
        from ledgerhouse.semantic.provenance import provenance_query

        return provenance_query(self.cube(name), query, row, batched=self.batched)

    def lineage_specs(self) -> list[dict[str, Any]]:
        """Each cube's members with the SQL they are computed from (for the lineage graph)."""
        from ledgerhouse.semantic.provenance import member_expressions

        return [member_expressions(c) for _, c in sorted(self.cubes.items())]

    def navigation(self, cube: Cube, query: CubeQuery) -> dict[str, dict[str, str | None]]:
        """For each hierarchy: the level shown, and the levels a roll-up / drill-down go to."""
        out: dict[str, dict[str, str | None]] = {}
        hierarchies = {**cube.hierarchies}
        if cube.time_dimensions:
            hierarchies["date"] = list(DATE_LEVELS)
        for h, levels in hierarchies.items():
            level = query._level(h, levels)
            i = levels.index(level) if level in levels else -1
            out[h] = {
                "level": level,
                "up": levels[i - 1] if i > 0 else None,
                "down": levels[i + 1] if i + 1 < len(levels) else None,
            }
        return out

    def levels(self, cube: Cube, hierarchy: str) -> list[str]:
        if hierarchy == "date":
            return list(DATE_LEVELS)
        if hierarchy not in cube.hierarchies:
            raise InvalidRequest(
                f"cube {cube.name!r} has no hierarchy {hierarchy!r}",
                hint=f"Hierarchies: {', '.join(['date', *cube.hierarchies])}.",
            )
        return cube.hierarchies[hierarchy]

    def drill(
        self, name: str, query: CubeQuery, hierarchy: str, *, up: bool, value: Any = None
    ) -> CubeQuery:
        """The query one level coarser (``up``) or finer along a hierarchy."""
        cube = self.cube(name)
        levels = self.levels(cube, hierarchy)
        try:
            if up:
                return query.roll_up(hierarchy, levels)
            return query.drill_down(hierarchy, levels, value)
        except ValueError as exc:
            raise InvalidRequest(str(exc), hint="Check the query's hierarchy levels.") from None

    @staticmethod
    def shape(plan: CubePlan, table: pa.Table) -> pa.Table:
        """Pivot the result when the query asks for it: one column per value of the pivot
        dimension and measure (``<value>.<measure>``, or ``<value>`` with one measure)."""
        if plan.pivot is None or table.num_rows == 0:
            return table
        df = pl.from_arrow(table)
        assert isinstance(df, pl.DataFrame)
        index = [d for d in plan.dimensions if d != plan.pivot]
        values = [str(v) for v in df[plan.pivot].unique(maintain_order=True).to_list()]
        df = df.with_columns(pl.col(plan.pivot).cast(pl.String).fill_null("null"))
        wide = df.pivot(
            on=plan.pivot,
            index=index or None,
            values=plan.measures,
            aggregate_function=None,
            sort_columns=False,
        )
        names: dict[str, str] = {}
        for col in wide.columns:
            if col in index:
                continue
            if len(plan.measures) == 1:
                names[col] = col
            else:  # polars names them <measure>_<value>
                for m in plan.measures:
                    if col.startswith(m + "_") and col[len(m) + 1 :] in [*values, "null"]:
                        names[col] = f"{col[len(m) + 1 :]}.{m}"
        return wide.rename(names).to_arrow(compat_level=pl.CompatLevel.oldest())

    def _currency(self, cube: Cube, name: str) -> str | None:
        """A measure's currency: the ISO code of the reporting currency, ``base`` (each
        portfolio's), ``local`` (each instrument's) or None (not an amount). A running total
        is in its measure's currency; a ratio or share is in none."""
        m = cube.measures[name]
        if m.type == "running_total":
            m = cube.measures[m.measure or ""]
        if m.currency == "reporting":
            return self.reporting_currency
        return m.currency

    def describe(self, rows_of: Callable[[str], int | None] | None = None) -> list[dict[str, Any]]:
        """Metadata of every cube: members, hierarchies, segments and rollups."""
        out = []
        for cube in sorted(self.cubes.values(), key=lambda c: c.name):
            rollups = []
            for name, spec in cube.rollups.items():
                rel = cube.rollup_relation(name)
                rollups.append(
                    {
                        "name": name,
                        "table": rel,
                        "dimensions": spec.dimensions,
                        "time_dimension": spec.time_dimension,
                        "granularity": spec.granularity,
                        "measures": spec.measures,
                        "segments": spec.segments,
                        "rows": rows_of(rel) if rows_of else None,
                        "description": spec.description,
                    }
                )
            out.append(
                {
                    "name": cube.name,
                    "title": cube.title,
                    "description": cube.description.strip(),
                    "fact": cube.fact,
                    "default_time_dimension": cube.default_time_dimension,
                    "dimensions": [
                        {"name": n, "type": d.type, "title": d.title, "description": d.description}
                        for n, d in cube.dimensions.items()
                    ],
                    "measures": [
                        {
                            "name": n,
                            "type": m.type,
                            "title": m.title,
                            "description": m.description,
                            "currency": self._currency(cube, n),
                            "rollup_safe": m.type not in ("count_distinct",),
                        }
                        for n, m in cube.measures.items()
                    ],
                    "hierarchies": {
                        **({"date": list(DATE_LEVELS)} if cube.time_dimensions else {}),
                        **cube.hierarchies,
                    },
                    "segments": [{"name": n, "sql": s} for n, s in cube.segments.items()],
                    "rollups": rollups,
                }
            )
        return out


@dataclass
class CubeResult:
    """A cube query's answer (or, for a dry run, its plan with no rows)."""

    plan: CubePlan
    table: pa.Table | None
    commit: int
    query_id: str | None = None
    route: str = "raw"
    elapsed_ms: float = 0.0
    truncated: bool = False
    #: the row and column policies the answer was computed under (None: none applied)
    policy: dict[str, Any] | None = None

    @property
    def cache_hit(self) -> bool:
        return self.route == "cache"

    @property
    def columns(self) -> list[dict[str, str]]:
        if self.table is None:
            return []
        return [{"name": f.name, "type": str(f.type)} for f in self.table.schema]

    def rows(self) -> list[list[Any]]:
        """Rows as Python values (a value Python cannot hold comes as its JSON text)."""
        return [] if self.table is None else python_rows(self.table)

    def to_polars(self) -> pl.DataFrame:
        out = pl.from_arrow(self.table if self.table is not None else pa.table({}))
        assert isinstance(out, pl.DataFrame)
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "query_id": self.query_id,
            "cube": self.plan.cube,
            "route": self.route,
            "cache_hit": self.cache_hit,
            "commit": self.commit,
            "columns": self.columns,
            "rows": [] if self.table is None else json_rows(self.table),
            "elapsed_ms": round(self.elapsed_ms, 3),
            "truncated": self.truncated,
            "sql": self.plan.sql,
            "params": self.plan.params,
            "navigation": self.plan.navigation,
            "rollups_considered": self.plan.considered,
            "dry_run": self.table is None,
            **({"policy": self.policy} if self.policy else {}),
        }
